// Known fields of the served kinds, so the fake decodes like the apiserver:
// a field the Go types do not have is dropped from the stored object, and
// reported according to `fieldValidation` (Strict: 400, Warn: a Warning
// header, Ignore: silence). Services, ObjectMeta and Leases are described to
// the leaf; the other kinds only at the top level, with their bodies taken as
// they come.

import { badRequest } from './fakeKubeErrors.js';
import type { ResourceType } from './fakeKubeResources.js';

/** 'any' accepts whatever is there; an object lists its fields; a one-element array describes list items. */
type Shape = 'any' | { [field: string]: Shape } | [Shape];

const OBJECT_META: Shape = {
  name: 'any',
  generateName: 'any',
  namespace: 'any',
  selfLink: 'any',
  uid: 'any',
  resourceVersion: 'any',
  generation: 'any',
  creationTimestamp: 'any',
  deletionTimestamp: 'any',
  deletionGracePeriodSeconds: 'any',
  labels: 'any',
  annotations: 'any',
  ownerReferences: 'any',
  finalizers: 'any',
  managedFields: 'any',
};

const TYPE_META = { apiVersion: 'any', kind: 'any', metadata: OBJECT_META } as const;

const SERVICE: Shape = {
  ...TYPE_META,
  spec: {
    ports: [{ name: 'any', protocol: 'any', appProtocol: 'any', port: 'any', targetPort: 'any', nodePort: 'any' }],
    selector: 'any',
    clusterIP: 'any',
    clusterIPs: 'any',
    type: 'any',
    externalIPs: 'any',
    sessionAffinity: 'any',
    loadBalancerIP: 'any',
    loadBalancerSourceRanges: 'any',
    externalName: 'any',
    externalTrafficPolicy: 'any',
    healthCheckNodePort: 'any',
    publishNotReadyAddresses: 'any',
    sessionAffinityConfig: 'any',
    ipFamilies: 'any',
    ipFamilyPolicy: 'any',
    allocateLoadBalancerNodePorts: 'any',
    loadBalancerClass: 'any',
    internalTrafficPolicy: 'any',
    trafficDistribution: 'any',
  },
  status: {
    loadBalancer: { ingress: [{ ip: 'any', hostname: 'any', ipMode: 'any', ports: 'any' }] },
    conditions: 'any',
  },
};

const SHAPES: Record<string, Shape> = {
  Service: SERVICE,
  Node: { ...TYPE_META, spec: 'any', status: 'any' },
  Namespace: { ...TYPE_META, spec: 'any', status: 'any' },
  Endpoints: { ...TYPE_META, subsets: 'any' },
  'Event.': {
    ...TYPE_META,
    involvedObject: 'any',
    reason: 'any',
    message: 'any',
    source: 'any',
    firstTimestamp: 'any',
    lastTimestamp: 'any',
    count: 'any',
    type: 'any',
    eventTime: 'any',
    series: 'any',
    action: 'any',
    related: 'any',
    reportingComponent: 'any',
    reportingInstance: 'any',
  },
  'Event.events.k8s.io': {
    ...TYPE_META,
    eventTime: 'any',
    series: 'any',
    reportingController: 'any',
    reportingInstance: 'any',
    action: 'any',
    reason: 'any',
    regarding: 'any',
    related: 'any',
    note: 'any',
    type: 'any',
    deprecatedSource: 'any',
    deprecatedFirstTimestamp: 'any',
    deprecatedLastTimestamp: 'any',
    deprecatedCount: 'any',
  },
  EndpointSlice: { ...TYPE_META, addressType: 'any', endpoints: 'any', ports: 'any' },
  Lease: {
    ...TYPE_META,
    spec: {
      holderIdentity: 'any',
      leaseDurationSeconds: 'any',
      acquireTime: 'any',
      renewTime: 'any',
      leaseTransitions: 'any',
      strategy: 'any',
      preferredHolder: 'any',
    },
  },
};

function shapeOf(rt: ResourceType): Shape {
  return SHAPES[rt.kind] ?? SHAPES[`${rt.kind}.${rt.group}`] ?? 'any';
}

/** Removes fields `shape` does not know, in place; returns their paths (`spec.foo`, `spec.ports[0].bar`). */
function prune(value: unknown, shape: Shape, path: string, out: string[]): void {
  if (shape === 'any' || value === null || typeof value !== 'object') return;
  if (Array.isArray(shape)) {
    if (Array.isArray(value)) value.forEach((item, i) => prune(item, shape[0], `${path}[${i}]`, out));
    return;
  }
  if (Array.isArray(value)) return;
  const obj = value as Record<string, unknown>;
  for (const key of Object.keys(obj)) {
    const child = shape[key];
    const childPath = path === '' ? key : `${path}.${key}`;
    if (child === undefined) {
      out.push(childPath);
      delete obj[key];
    } else {
      prune(obj[key], child, childPath, out);
    }
  }
}

export type FieldValidation = 'Strict' | 'Warn' | 'Ignore';

export function parseFieldValidation(value: string | null): FieldValidation {
  if (value === null || value === '') return 'Warn';
  if (value === 'Strict' || value === 'Warn' || value === 'Ignore') return value;
  throw badRequest(`fieldValidation: Unsupported value: "${value}": supported values: "Ignore", "Strict", "Warn"`);
}

/**
 * Drops unknown fields from `obj` (in place) like decoding into the Go type
 * would. Strict turns any into a 400; otherwise returns the warnings to send.
 */
export function decodeKnownFields(rt: ResourceType, obj: unknown, validation: FieldValidation): string[] {
  const unknown: string[] = [];
  prune(obj, shapeOf(rt), '', unknown);
  if (unknown.length === 0 || validation === 'Ignore') return [];
  const messages = unknown.map((p) => `unknown field "${p}"`);
  if (validation === 'Strict') {
    const version = rt.group === '' ? rt.version : `${rt.group}/${rt.version}`;
    throw badRequest(`${rt.kind} in version "${version}" cannot be handled as a ${rt.kind}: strict decoding error: ${messages.join(', ')}`);
  }
  return messages;
}

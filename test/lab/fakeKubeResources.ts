// The resource types the fake Kubernetes API server serves, and the discovery
// documents (/api, /apis, APIResourceList) built from them. Verbs, short names
// and scopes follow a real v1.32 apiserver, because kubectl resolves
// `svc`, `ev`, `lease` through these lists and refuses verbs that are not
// advertised.

export interface ResourceType {
  /** API group; '' for the legacy core group. */
  group: string;
  version: string;
  /** Plural, as in the URL. */
  resource: string;
  singular: string;
  kind: string;
  namespaced: boolean;
  shortNames: string[];
  categories: string[];
  verbs: string[];
  /** Has a /status subresource: status is written only there. */
  statusSubresource: boolean;
  /** DELETE answers with the deleted object rather than a Status (as real Services and Namespaces do). */
  deleteReturnsObject: boolean;
  /** Which name syntax the apiserver enforces. */
  nameRule: 'dns1035Label' | 'dns1123Label' | 'dns1123Subdomain';
  /** fieldSelector labels beyond metadata.name / metadata.namespace, mapped to the object path they read. */
  fieldLabels: Record<string, string>;
  /** Keeps metadata.generation, bumped when spec changes. */
  tracksGeneration: boolean;
}

const CRUD = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];
const CRUD_NO_COLLECTION_DELETE = ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'];

const EVENT_FIELDS: Record<string, string> = {
  'involvedObject.kind': 'involvedObject.kind',
  'involvedObject.namespace': 'involvedObject.namespace',
  'involvedObject.name': 'involvedObject.name',
  'involvedObject.uid': 'involvedObject.uid',
  'involvedObject.apiVersion': 'involvedObject.apiVersion',
  'involvedObject.resourceVersion': 'involvedObject.resourceVersion',
  'involvedObject.fieldPath': 'involvedObject.fieldPath',
  reason: 'reason',
  reportingComponent: 'reportingComponent',
  source: 'source.component',
  type: 'type',
};

export const RESOURCE_TYPES: readonly ResourceType[] = [
  {
    group: '',
    version: 'v1',
    resource: 'namespaces',
    singular: 'namespace',
    kind: 'Namespace',
    namespaced: false,
    shortNames: ['ns'],
    categories: [],
    verbs: CRUD_NO_COLLECTION_DELETE,
    statusSubresource: true,
    deleteReturnsObject: true,
    nameRule: 'dns1123Label',
    fieldLabels: { 'status.phase': 'status.phase' },
    tracksGeneration: false,
  },
  {
    group: '',
    version: 'v1',
    resource: 'nodes',
    singular: 'node',
    kind: 'Node',
    namespaced: false,
    shortNames: ['no'],
    categories: [],
    verbs: CRUD,
    statusSubresource: true,
    deleteReturnsObject: false,
    nameRule: 'dns1123Subdomain',
    fieldLabels: { 'spec.unschedulable': 'spec.unschedulable' },
    tracksGeneration: false,
  },
  {
    group: '',
    version: 'v1',
    resource: 'services',
    singular: 'service',
    kind: 'Service',
    namespaced: true,
    shortNames: ['svc'],
    categories: ['all'],
    verbs: CRUD_NO_COLLECTION_DELETE,
    statusSubresource: true,
    deleteReturnsObject: true,
    nameRule: 'dns1035Label',
    fieldLabels: { 'spec.clusterIP': 'spec.clusterIP', 'spec.type': 'spec.type' },
    tracksGeneration: false,
  },
  {
    group: '',
    version: 'v1',
    resource: 'endpoints',
    singular: 'endpoints',
    kind: 'Endpoints',
    namespaced: true,
    shortNames: ['ep'],
    categories: [],
    verbs: CRUD,
    statusSubresource: false,
    deleteReturnsObject: false,
    nameRule: 'dns1123Subdomain',
    fieldLabels: {},
    tracksGeneration: false,
  },
  {
    group: '',
    version: 'v1',
    resource: 'events',
    singular: 'event',
    kind: 'Event',
    namespaced: true,
    shortNames: ['ev'],
    categories: [],
    verbs: CRUD,
    statusSubresource: false,
    deleteReturnsObject: false,
    nameRule: 'dns1123Subdomain',
    fieldLabels: EVENT_FIELDS,
    tracksGeneration: false,
  },
  {
    group: 'discovery.k8s.io',
    version: 'v1',
    resource: 'endpointslices',
    singular: 'endpointslice',
    kind: 'EndpointSlice',
    namespaced: true,
    shortNames: [],
    categories: [],
    verbs: CRUD,
    statusSubresource: false,
    deleteReturnsObject: false,
    nameRule: 'dns1123Subdomain',
    fieldLabels: {},
    tracksGeneration: true,
  },
  {
    group: 'coordination.k8s.io',
    version: 'v1',
    resource: 'leases',
    singular: 'lease',
    kind: 'Lease',
    namespaced: true,
    shortNames: [],
    categories: [],
    verbs: CRUD,
    statusSubresource: false,
    deleteReturnsObject: false,
    nameRule: 'dns1123Subdomain',
    fieldLabels: {},
    tracksGeneration: false,
  },
  {
    group: 'events.k8s.io',
    version: 'v1',
    resource: 'events',
    singular: 'event',
    kind: 'Event',
    namespaced: true,
    shortNames: ['ev'],
    categories: [],
    verbs: CRUD,
    statusSubresource: false,
    deleteReturnsObject: false,
    nameRule: 'dns1123Subdomain',
    fieldLabels: {
      'regarding.kind': 'regarding.kind',
      'regarding.namespace': 'regarding.namespace',
      'regarding.name': 'regarding.name',
      'regarding.uid': 'regarding.uid',
      reason: 'reason',
      reportingController: 'reportingController',
      type: 'type',
    },
    tracksGeneration: false,
  },
];

/** `v1` or `coordination.k8s.io/v1`. */
export function apiVersionOf(rt: Pick<ResourceType, 'group' | 'version'>): string {
  return rt.group === '' ? rt.version : `${rt.group}/${rt.version}`;
}

/** A stable identity for a resource type: `services`, `leases.coordination.k8s.io`. */
export function resourceId(rt: Pick<ResourceType, 'group' | 'resource'>): string {
  return rt.group === '' ? rt.resource : `${rt.resource}.${rt.group}`;
}

export function findResource(group: string, version: string, resource: string): ResourceType | undefined {
  return RESOURCE_TYPES.find((rt) => rt.group === group && rt.version === version && rt.resource === resource);
}

/**
 * Resolves what a test names: `services`, `svc`, `Service`, `leases.coordination.k8s.io`,
 * `events.events.k8s.io`. Plain names prefer the core group, as kubectl does.
 */
export function resolveResource(name: string): ResourceType {
  const byId = RESOURCE_TYPES.find((rt) => resourceId(rt) === name);
  if (byId) return byId;
  const lower = name.toLowerCase();
  const found = RESOURCE_TYPES.find(
    (rt) => rt.resource === lower || rt.singular === lower || rt.kind.toLowerCase() === lower || rt.shortNames.includes(lower),
  );
  if (!found) throw new Error(`FakeKubeApi serves no resource named ${JSON.stringify(name)}`);
  return found;
}

/** The resource type holding objects of this apiVersion and kind. */
export function resourceForKind(apiVersion: string, kind: string): ResourceType {
  const found = RESOURCE_TYPES.find((rt) => apiVersionOf(rt) === apiVersion && rt.kind === kind);
  if (!found) throw new Error(`FakeKubeApi serves no ${kind} in ${apiVersion}`);
  return found;
}

function groupsInOrder(): string[] {
  const groups: string[] = [];
  for (const rt of RESOURCE_TYPES) if (rt.group !== '' && !groups.includes(rt.group)) groups.push(rt.group);
  return groups;
}

function versionsOf(group: string): string[] {
  const versions: string[] = [];
  for (const rt of RESOURCE_TYPES) if (rt.group === group && !versions.includes(rt.version)) versions.push(rt.version);
  return versions;
}

export function apiVersionsDoc(serverAddress: string): unknown {
  return {
    kind: 'APIVersions',
    versions: ['v1'],
    serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress }],
  };
}

function groupDoc(group: string): unknown {
  const versions = versionsOf(group).map((version) => ({ groupVersion: `${group}/${version}`, version }));
  return { name: group, versions, preferredVersion: versions[0] };
}

export function apiGroupListDoc(): unknown {
  return { kind: 'APIGroupList', apiVersion: 'v1', groups: groupsInOrder().map(groupDoc) };
}

export function apiGroupDoc(group: string): unknown | undefined {
  if (!groupsInOrder().includes(group)) return undefined;
  return { kind: 'APIGroup', apiVersion: 'v1', ...(groupDoc(group) as object) };
}

export function apiResourceListDoc(group: string, version: string): unknown | undefined {
  const types = RESOURCE_TYPES.filter((rt) => rt.group === group && rt.version === version);
  if (types.length === 0) return undefined;
  const resources: unknown[] = [];
  for (const rt of types) {
    const entry: Record<string, unknown> = {
      name: rt.resource,
      singularName: rt.singular,
      namespaced: rt.namespaced,
      kind: rt.kind,
      verbs: rt.verbs,
    };
    if (rt.shortNames.length > 0) entry.shortNames = rt.shortNames;
    if (rt.categories.length > 0) entry.categories = rt.categories;
    resources.push(entry);
    if (rt.statusSubresource) {
      resources.push({ name: `${rt.resource}/status`, singularName: '', namespaced: rt.namespaced, kind: rt.kind, verbs: ['get', 'patch', 'update'] });
    }
  }
  return { kind: 'APIResourceList', apiVersion: 'v1', groupVersion: apiVersionOf({ group, version }), resources };
}

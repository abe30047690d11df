// Server-side printing: kubectl asks for `as=Table` and prints whatever
// columns the server sends, so the fake renders the same columns a real
// apiserver does (for Services: TYPE, CLUSTER-IP, EXTERNAL-IP with
// `<pending>`, PORT(S), AGE). Without this kubectl would show only NAME/AGE.

import type { ResourceType } from './fakeKubeResources.js';

interface Column {
  name: string;
  type: string;
  format?: string;
  description: string;
  priority?: number;
}

// Printing walks arbitrary manifests; every read below tolerates a missing field.
type Obj = Record<string, any>;

interface Printer {
  columns: Column[];
  cells(obj: Obj, now: number): unknown[];
}

const NAME: Column = { name: 'Name', type: 'string', format: 'name', description: 'Name must be unique within a namespace.' };
const AGE: Column = { name: 'Age', type: 'string', description: 'Time since the object was created.' };

/** Like k8s.io/apimachinery/pkg/util/duration.HumanDuration. */
export function humanDuration(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  if (seconds < -1) return '<invalid>';
  if (seconds < 0) return '0s';
  if (seconds < 60 * 2) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 10) {
    const s = seconds % 60;
    return s === 0 ? `${minutes}m` : `${minutes}m${s}s`;
  }
  if (minutes < 60 * 3) return `${minutes}m`;
  const hours = Math.floor(minutes / 60);
  if (hours < 8) {
    const m = minutes % 60;
    return m === 0 ? `${hours}h` : `${hours}h${m}m`;
  }
  if (hours < 48) return `${hours}h`;
  if (hours < 24 * 8) {
    const h = hours % 24;
    const days = Math.floor(hours / 24);
    return h === 0 ? `${days}d` : `${days}d${h}h`;
  }
  if (hours < 24 * 365 * 2) return `${Math.floor(hours / 24)}d`;
  if (hours < 24 * 365 * 8) {
    const years = Math.floor(hours / 24 / 365);
    const days = Math.floor(hours / 24) % 365;
    return days === 0 ? `${years}y` : `${years}y${days}d`;
  }
  return `${Math.floor(hours / 24 / 365)}y`;
}

function age(obj: Obj, now: number): string {
  const created = Date.parse(obj.metadata?.creationTimestamp ?? '');
  return Number.isNaN(created) ? '<unknown>' : humanDuration(now - created);
}

function formatLabels(map: Record<string, string> | undefined): string {
  if (!map || Object.keys(map).length === 0) return '<none>';
  return Object.keys(map)
    .sort()
    .map((k) => `${k}=${map[k]}`)
    .join(',');
}

function serviceExternalIp(svc: Obj): string {
  const spec = svc.spec ?? {};
  const externalIPs: string[] = spec.externalIPs ?? [];
  switch (spec.type) {
    case 'LoadBalancer': {
      const ingress: Obj[] = svc.status?.loadBalancer?.ingress ?? [];
      const addrs = ingress.map((i) => i.ip ?? i.hostname ?? '').filter((s) => s !== '');
      const all = [...addrs, ...externalIPs];
      return all.length > 0 ? all.join(',') : '<pending>';
    }
    case 'ExternalName':
      return spec.externalName ?? '<none>';
    default:
      return externalIPs.length > 0 ? externalIPs.join(',') : '<none>';
  }
}

function servicePorts(svc: Obj): string {
  const ports: Obj[] = svc.spec?.ports ?? [];
  if (ports.length === 0) return '<none>';
  return ports.map((p) => (p.nodePort ? `${p.port}:${p.nodePort}/${p.protocol}` : `${p.port}/${p.protocol}`)).join(',');
}

function nodeStatus(node: Obj): string {
  const conditions: Obj[] = node.status?.conditions ?? [];
  const ready = conditions.find((c) => c.type === 'Ready');
  const parts = [ready === undefined ? 'Unknown' : ready.status === 'True' ? 'Ready' : ready.status === 'False' ? 'NotReady' : 'Unknown'];
  if (node.spec?.unschedulable) parts.push('SchedulingDisabled');
  return parts.join(',');
}

function nodeRoles(node: Obj): string {
  const labels: Record<string, string> = node.metadata?.labels ?? {};
  const roles = Object.keys(labels)
    .filter((k) => k.startsWith('node-role.kubernetes.io/'))
    .map((k) => k.slice('node-role.kubernetes.io/'.length))
    .filter((r) => r !== '');
  if (labels['kubernetes.io/role']) roles.push(labels['kubernetes.io/role']);
  return roles.length > 0 ? [...new Set(roles)].sort().join(',') : '<none>';
}

function nodeAddress(node: Obj, type: string): string {
  const addrs: Obj[] = node.status?.addresses ?? [];
  return addrs.find((a) => a.type === type)?.address ?? '<none>';
}

function involvedObject(ev: Obj): string {
  const o = ev.involvedObject ?? ev.regarding ?? {};
  return `${String(o.kind ?? '').toLowerCase()}/${o.name ?? ''}`;
}

const PRINTERS: Record<string, Printer> = {
  Service: {
    columns: [
      NAME,
      { name: 'Type', type: 'string', description: 'The type of service.' },
      { name: 'Cluster-IP', type: 'string', description: 'The IP address of the service within the cluster.' },
      { name: 'External-IP', type: 'string', description: 'External IP addresses of the service.' },
      { name: 'Port(s)', type: 'string', description: 'The ports exposed by the service.' },
      AGE,
      { name: 'Selector', type: 'string', priority: 1, description: 'Route service traffic to pods with label keys and values matching this selector.' },
    ],
    cells: (svc, now) => [
      svc.metadata.name,
      svc.spec?.type ?? 'ClusterIP',
      svc.spec?.type === 'ExternalName' ? '<none>' : (svc.spec?.clusterIP ?? '<none>'),
      serviceExternalIp(svc),
      servicePorts(svc),
      age(svc, now),
      formatLabels(svc.spec?.selector),
    ],
  },
  Node: {
    columns: [
      NAME,
      { name: 'Status', type: 'string', description: 'The status of the node.' },
      { name: 'Roles', type: 'string', description: 'The roles of the node.' },
      AGE,
      { name: 'Version', type: 'string', description: 'Kubelet version.' },
      { name: 'Internal-IP', type: 'string', priority: 1, description: 'Internal IP of the node.' },
      { name: 'External-IP', type: 'string', priority: 1, description: 'External IP of the node.' },
      { name: 'OS-Image', type: 'string', priority: 1, description: 'OS image reported by the node.' },
      { name: 'Kernel-Version', type: 'string', priority: 1, description: 'Kernel version reported by the node.' },
      { name: 'Container-Runtime', type: 'string', priority: 1, description: 'Container runtime reported by the node.' },
    ],
    cells: (node, now) => [
      node.metadata.name,
      nodeStatus(node),
      nodeRoles(node),
      age(node, now),
      node.status?.nodeInfo?.kubeletVersion ?? '',
      nodeAddress(node, 'InternalIP'),
      nodeAddress(node, 'ExternalIP'),
      node.status?.nodeInfo?.osImage ?? '<unknown>',
      node.status?.nodeInfo?.kernelVersion ?? '<unknown>',
      node.status?.nodeInfo?.containerRuntimeVersion ?? '<unknown>',
    ],
  },
  Namespace: {
    columns: [NAME, { name: 'Status', type: 'string', description: 'The status of the namespace.' }, AGE],
    cells: (ns, now) => [ns.metadata.name, ns.status?.phase ?? '', age(ns, now)],
  },
  Lease: {
    columns: [NAME, { name: 'Holder', type: 'string', description: 'The holder of the lease.' }, AGE],
    cells: (lease, now) => [lease.metadata.name, lease.spec?.holderIdentity ?? '', age(lease, now)],
  },
  EndpointSlice: {
    columns: [
      NAME,
      { name: 'AddressType', type: 'string', description: 'The type of addresses held by this slice.' },
      { name: 'Ports', type: 'string', description: 'Ports of the slice.' },
      { name: 'Endpoints', type: 'string', description: 'Addresses of the endpoints.' },
      AGE,
    ],
    cells: (slice, now) => {
      const ports: Obj[] = slice.ports ?? [];
      const endpoints: Obj[] = slice.endpoints ?? [];
      const addrs = endpoints.flatMap((e) => (e.addresses as string[] | undefined) ?? []);
      return [
        slice.metadata.name,
        slice.addressType ?? '',
        ports.length > 0 ? ports.map((p) => String(p.port ?? '')).join(',') : '<unset>',
        addrs.length > 0 ? (addrs.length > 3 ? `${addrs.slice(0, 3).join(',')} + ${addrs.length - 3} more...` : addrs.join(',')) : '<none>',
        age(slice, now),
      ];
    },
  },
  Endpoints: {
    columns: [NAME, { name: 'Endpoints', type: 'string', description: 'Endpoints of the service.' }, AGE],
    cells: (ep, now) => {
      const subsets: Obj[] = ep.subsets ?? [];
      const list = subsets.flatMap((s) => {
        const ports: Obj[] = s.ports ?? [];
        const addrs: Obj[] = s.addresses ?? [];
        return addrs.flatMap((a) => (ports.length > 0 ? ports.map((p) => `${a.ip}:${p.port}`) : [String(a.ip)]));
      });
      return [ep.metadata.name, list.length > 0 ? list.join(',') : '<none>', age(ep, now)];
    },
  },
  Event: {
    columns: [
      { name: 'Last Seen', type: 'string', description: 'Time since the event was last seen.' },
      { name: 'Type', type: 'string', description: 'Type of the event.' },
      { name: 'Reason', type: 'string', description: 'Why the event happened.' },
      { name: 'Object', type: 'string', description: 'The object the event is about.' },
      { name: 'Message', type: 'string', description: 'Human-readable description.' },
      { ...NAME, priority: 1 },
    ],
    cells: (ev, now) => {
      const last = Date.parse(ev.lastTimestamp ?? ev.eventTime ?? ev.metadata?.creationTimestamp ?? '');
      return [
        Number.isNaN(last) ? '<unknown>' : humanDuration(now - last),
        ev.type ?? '',
        ev.reason ?? '',
        involvedObject(ev),
        ev.message ?? ev.note ?? '',
        ev.metadata.name,
      ];
    },
  },
};

const DEFAULT_PRINTER: Printer = { columns: [NAME, AGE], cells: (o, now) => [o.metadata.name, age(o, now)] };

export type IncludeObject = 'None' | 'Metadata' | 'Object';

export interface TableOptions {
  includeObject: IncludeObject;
  /** meta.k8s.io version the client asked for (v1 or v1beta1). */
  tableVersion: string;
  /** Leave out columnDefinitions (later events of a watch). */
  noHeaders?: boolean;
  resourceVersion?: string;
  continueToken?: string;
  now?: number;
}

export function toTable(rt: ResourceType, objects: readonly Obj[], opts: TableOptions): Record<string, unknown> {
  const printer = PRINTERS[rt.kind] ?? DEFAULT_PRINTER;
  const now = opts.now ?? Date.now();
  const metadata: Record<string, string> = {};
  if (opts.resourceVersion !== undefined) metadata.resourceVersion = opts.resourceVersion;
  if (opts.continueToken) metadata.continue = opts.continueToken;
  const rows = objects.map((obj) => {
    const row: Record<string, unknown> = { cells: printer.cells(obj, now) };
    if (opts.includeObject === 'Object') row.object = obj;
    else if (opts.includeObject === 'Metadata') {
      row.object = { kind: 'PartialObjectMetadata', apiVersion: `meta.k8s.io/${opts.tableVersion}`, metadata: obj.metadata };
    }
    return row;
  });
  return {
    kind: 'Table',
    apiVersion: `meta.k8s.io/${opts.tableVersion}`,
    metadata,
    columnDefinitions: opts.noHeaders ? null : printer.columns,
    rows,
  };
}

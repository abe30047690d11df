// Validation of loxilb's endpoint-host requests (reference §2.6): POST
// config/endpoint, DELETE config/endpoint/epipaddress/{ip}, POST
// config/endpointhoststate. The same parsers check what ConfigStore reads back.
// Limits are loxilb's (inactiveReTries ≤ 100, probeDuration ≤ 24 h); where
// loxilb accepts something it then cannot use (a tcp probe without a port, a
// request string for a tcp connect), we refuse it here, naming the field.
import { FieldReader, invalid } from '../util/FieldReader.ts';
import { PROBE_TYPES, type ProbeType } from './LbRule.ts';

export const HOST_STATES = ['green', 'yellow', 'red'] as const;
export type HostState = (typeof HOST_STATES)[number];

/** loxilb's DflLbaInactiveTries / MaxDflLbaInactiveTries, DflHostProbeTimeout / MaxHostProbeTime. */
export const DEFAULT_INACTIVE_RETRIES = 2;
export const MAX_INACTIVE_RETRIES = 100;
export const DEFAULT_PROBE_DURATION_S = 60;
export const MAX_PROBE_DURATION_S = 24 * 3600;
const MAX_NAME = 128;
const MAX_PROBE_TEXT = 256;

/** Probe types that connect to a port and so need probePort. */
const PORT_PROBES: readonly ProbeType[] = ['tcp', 'udp', 'sctp', 'http', 'https'];
/** Probe types that use probeReq / probeResp (udp: payload and expected reply; http(s): path and body text). */
const TEXT_PROBES: readonly ProbeType[] = ['udp', 'http', 'https'];

/** One endpoint host as POSTed, with loxilb's defaults filled in. */
export interface EndpointHostSpec {
  hostName: string;
  /** The table key when given; otherwise `<hostName>_<probeType>_<probePort>` (epHostKey). */
  name: string;
  inactiveReTries: number;
  probeType: ProbeType;
  probeReq: string;
  probeResp: string;
  /** Seconds between probes. */
  probeDuration: number;
  probePort: number;
}

export interface EndpointHostStatePost {
  hostName: string;
  /** 0 with epProto '': every entry of the host. */
  epPort: number;
  epProto: ProbeType | '';
  state: HostState;
}

export interface EndpointHostDeleteQuery {
  hostName: string;
  name: string;
  probeType: ProbeType | '';
  probePort: number;
}

/** loxilb's makeEPKey: what an entry is found by when it has no name. */
export function epHostKey(hostName: string, probeType: string, probePort: number): string {
  return `${hostName}_${probeType}_${probePort}`;
}

/** The key an entry is stored under. */
export function specKey(s: EndpointHostSpec): string {
  return s.name || epHostKey(s.hostName, s.probeType, s.probePort);
}

function checkName(field: string, name: string): void {
  // eslint-disable-next-line no-control-regex
  if (name.length > MAX_NAME || /[\u0000-\u001f\u007f]/.test(name)) throw invalid(field, `must be at most ${MAX_NAME} printable characters`, name);
}

function probeText<K extends string>(r: FieldReader<K>, k: K, type: ProbeType): string {
  const v = r.string(k) ?? '';
  if (v.length > MAX_PROBE_TEXT) throw invalid(r.field(k), `must be at most ${MAX_PROBE_TEXT} characters`, v);
  if (v !== '' && !TEXT_PROBES.includes(type)) throw invalid(r.field(k), `is only used by ${TEXT_PROBES.join(', ')} probes (probeType is ${type})`, v);
  return v;
}

const HOST_FIELDS = ['hostName', 'name', 'inactiveReTries', 'probeType', 'probeReq', 'probeResp', 'probeDuration', 'probePort'] as const;

/** POST config/endpoint. 0 for inactiveReTries / probeDuration means loxilb's default (2 tries, 60 s). */
export function parseEndpointHost(body: unknown): EndpointHostSpec {
  const r = new FieldReader('', body, HOST_FIELDS);
  const hostName = r.ip('hostName', { required: true })!;
  const name = r.string('name') ?? '';
  checkName('name', name);
  const probeType = r.oneOf('probeType', PROBE_TYPES, { required: true })!;
  const probePort = r.int('probePort', 0, 65535) ?? 0;
  if (probePort === 0 && PORT_PROBES.includes(probeType)) throw invalid('probePort', `required for a ${probeType} probe: an integer from 1 to 65535`, probePort);
  const inactiveReTries = r.int('inactiveReTries', 0, MAX_INACTIVE_RETRIES) || DEFAULT_INACTIVE_RETRIES;
  const probeDuration = r.int('probeDuration', 0, MAX_PROBE_DURATION_S) || DEFAULT_PROBE_DURATION_S;
  return {
    hostName,
    name,
    inactiveReTries,
    probeType,
    probeReq: probeText(r, 'probeReq', probeType),
    probeResp: probeText(r, 'probeResp', probeType),
    probeDuration,
    probePort,
  };
}

/** POST config/endpointhoststate: epPort and epProto name one entry together; both left out: every entry of the host. */
export function parseEndpointHostState(body: unknown): EndpointHostStatePost {
  const r = new FieldReader('', body, ['hostName', 'epPort', 'epProto', 'state'] as const);
  const hostName = r.ip('hostName', { required: true })!;
  const epPort = r.int('epPort', 0, 65535) ?? 0;
  const proto = r.string('epProto') ?? '';
  if (proto !== '' && !(PROBE_TYPES as readonly string[]).includes(proto)) throw invalid('epProto', `must be empty (every entry of the host) or one of ${PROBE_TYPES.join(', ')}`, proto);
  const epProto = proto as ProbeType | '';
  if (epProto === '' && epPort !== 0) throw invalid('epProto', 'required with epPort: the probe type of the entry (one of ' + PROBE_TYPES.join(', ') + ')');
  // Ping and none entries have port 0 (loxilb cannot name them; we can).
  if (epProto !== '' && epPort === 0 && PORT_PROBES.includes(epProto)) throw invalid('epPort', `required with epProto ${epProto}: an integer from 1 to 65535`, epPort);
  const state = r.oneOf('state', HOST_STATES, { required: true })!;
  return { hostName, epPort, epProto, state };
}

/** DELETE config/endpoint/epipaddress/{ip}?name=&probe_type=&probe_port=: by name, or by type and port. */
export function parseEndpointHostDelete(hostName: string, query: URLSearchParams): EndpointHostDeleteQuery {
  const name = query.get('name') ?? '';
  checkName('name', name);
  const type = query.get('probe_type') ?? '';
  if (type !== '' && !(PROBE_TYPES as readonly string[]).includes(type)) throw invalid('probe_type', `must be one of ${PROBE_TYPES.join(', ')}`, type);
  if (name === '' && type === '') throw invalid('probe_type', `required without name: one of ${PROBE_TYPES.join(', ')}`);
  const portText = query.get('probe_port') ?? '';
  const probePort = portText === '' ? 0 : /^(0|[1-9][0-9]{0,4})$/.test(portText) && Number(portText) <= 65535 ? Number(portText) : NaN;
  if (Number.isNaN(probePort)) throw invalid('probe_port', 'must be an integer from 0 to 65535', portText);
  return { hostName, name, probeType: type as ProbeType | '', probePort };
}

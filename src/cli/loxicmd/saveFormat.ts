// loxicmd's saved-config files (what `loxicmd save` writes under
// /etc/loxilb/, and `loxicmd apply` reads back, as loxilb does at its start):
// lbconfig.txt `{"lbAttr":[rule...]}`, EPconfig.txt `{"Attr":[endpoint...]}`,
// BFDconfig.txt `{"Attr":[session...]}`, each one line of JSON as Go writes
// it; and the kubectl-like files of `apply -f` (`kind:` + `spec:`, YAML or
// JSON, several documents allowed). Every record is turned into the body
// its POST takes and checked with the agent's validators, so a bad file is
// refused whole, naming the record and the field.
import { parseAllDocuments } from 'yaml';
import { isPlainObject, pickFields } from '../../util/caseInsensitive.ts';
import { ValidationError } from '../../util/errors.ts';
import { parseLbRule } from '../../lb/validateLbRule.ts';
import { parseBfdSessionPost, completeBfdSession } from '../../bfd/validateBfdConfig.ts';
import type { BfdSessionModel, EndpointModel, LbRuleModel } from '../../apiclient/models.ts';
import { parseEndpointRecord } from './endpoint.ts';

export const LB_FILE = 'lbconfig.txt';
export const EP_FILE = 'EPconfig.txt';
export const BFD_FILE = 'BFDconfig.txt';

/** A file we refuse; the message names the file, the record and the field. */
export class ConfigFileError extends Error {}

export interface ConfigRecords {
  lb: LbRuleModel[];
  ep: EndpointModel[];
  bfd: BfdSessionModel[];
}

// The order loxicmd's Go struct marshals them in; probe fields are ours (loxicmd drops them).
const SA_KEYS = [
  'externalIP', 'port', 'portMax', 'protocol', 'sel', 'mode', 'bgp', 'monitor', 'inactiveTimeOut', 'block', 'managed', 'name',
  'snat', 'oper', 'security', 'host', 'proxyprotocolv2', 'egress', 'probetype', 'probeport', 'probereq', 'proberesp', 'probeTimeout', 'probeRetries',
] as const;
const SA_READ_KEYS = [...SA_KEYS, 'path'] as const;
const EP_KEYS = ['endpointIP', 'targetPort', 'weight'] as const;

function asList(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}

// ---- saving ----

/**
 * lbconfig.txt from GET config/loadbalancer/all, as loxicmd saves it: rules
 * kube-loxilb manages (it re-creates them) and internal snat rules are left
 * out, counters are cleared, Go's key names and order are kept.
 */
export function lbConfigText(lbAttr: readonly unknown[]): string {
  const rules = lbAttr.filter(isPlainObject).flatMap((raw) => {
    const r = pickFields(raw, ['serviceArguments', 'endpoints', 'secondaryIPs', 'allowedSources'] as const);
    const sa = isPlainObject(r.serviceArguments) ? pickFields(r.serviceArguments, SA_KEYS) : {};
    if (sa.managed === true || sa.snat === true || String(sa.name ?? '').includes('ipvs')) return [];
    const service: Record<string, unknown> = {
      externalIP: sa.externalIP ?? '', port: sa.port ?? 0, ...(sa.portMax ? { portMax: sa.portMax } : {}), protocol: sa.protocol ?? '',
      sel: sa.sel ?? 0, mode: sa.mode ?? 0, BGP: sa.bgp === true, Monitor: sa.monitor === true, inactiveTimeOut: sa.inactiveTimeOut ?? 0,
      block: sa.block ?? 0,
    };
    for (const k of ['name', 'security', 'host'] as const) if (sa[k]) service[k] = sa[k];
    service.proxyprotocolv2 = sa.proxyprotocolv2 === true;
    service.egress = sa.egress === true;
    if (sa.probetype) service.probetype = sa.probetype;
    if (sa.probeport) service.probeport = sa.probeport;
    const secondaryIPs = asList(r.secondaryIPs).filter(isPlainObject).map((s) => ({ secondaryIP: pickFields(s, ['secondaryIP'] as const).secondaryIP }));
    const allowedSources = asList(r.allowedSources).filter(isPlainObject).map((s) => ({ prefix: pickFields(s, ['prefix'] as const).prefix }));
    return [{
      serviceArguments: service,
      secondaryIPs: secondaryIPs.length ? secondaryIPs : null,
      allowedSources: allowedSources.length ? allowedSources : null,
      endpoints: asList(r.endpoints).filter(isPlainObject).map((e) => {
        const x = pickFields(e, [...EP_KEYS, 'state'] as const);
        return { endpointIP: x.endpointIP ?? '', targetPort: x.targetPort ?? 0, weight: x.weight ?? 0, state: x.state ?? '', counter: '' };
      }),
    }];
  });
  return JSON.stringify({ lbAttr: rules });
}

/** EPconfig.txt from GET config/endpoint/all: the POST fields of each endpoint, without its live delays. */
export function epConfigText(attr: readonly unknown[]): string {
  const keys = ['hostName', 'name', 'inactiveReTries', 'probeType', 'probeReq', 'probeResp', 'probeDuration', 'probePort'] as const;
  return JSON.stringify({
    Attr: attr.filter(isPlainObject).map((e) => {
      const x = pickFields(e, keys);
      return { hostName: x.hostName ?? '', name: x.name ?? '', inactiveReTries: x.inactiveReTries ?? 0, probeType: x.probeType ?? '', probeReq: x.probeReq ?? '', probeResp: x.probeResp ?? '', probeDuration: x.probeDuration ?? 0, probePort: x.probePort ?? 0 };
    }),
  });
}

/** BFDconfig.txt from GET config/bfd/all, with loxicmd's keys (`sourceIp`, as POST takes it). */
export function bfdConfigText(attr: readonly unknown[]): string {
  const keys = ['instance', 'remoteIp', 'sourceIP', 'port', 'interval', 'retryCount', 'state'] as const;
  return JSON.stringify({
    Attr: attr.filter(isPlainObject).map((s) => {
      const x = pickFields(s, keys);
      return { instance: x.instance ?? '', remoteIp: x.remoteIp ?? '', sourceIp: x.sourceIP ?? '', port: x.port ?? 0, interval: x.interval ?? 0, retryCount: x.retryCount ?? 0, state: x.state ?? '' };
    }),
  });
}

// ---- reading back ----

function fail(where: string, err: unknown): never {
  if (err instanceof ValidationError) throw new ConfigFileError(`${where}: ${err.message}`);
  throw err;
}

/** The POST body of a saved or spec'd rule (any key case; YAML's `path` is the host). */
export function lbRecord(where: string, raw: unknown): LbRuleModel {
  if (!isPlainObject(raw)) throw new ConfigFileError(`${where}: must be an object with serviceArguments and endpoints`);
  const r = pickFields(raw, ['serviceArguments', 'endpoints', 'secondaryIPs', 'allowedSources'] as const);
  if (!isPlainObject(r.serviceArguments)) throw new ConfigFileError(`${where}: invalid serviceArguments: must be an object`);
  const sa = pickFields(r.serviceArguments, SA_READ_KEYS);
  const service: Record<string, unknown> = {};
  for (const k of SA_KEYS) if (sa[k] !== undefined && sa[k] !== null && sa[k] !== '') service[k] = sa[k];
  if (sa.path !== undefined && sa.host === undefined && sa.path !== '') service.host = sa.path;
  if (service.snat === true) throw new ConfigFileError(`${where}: invalid serviceArguments.snat: snat rules are the agent's own and cannot be applied`);
  delete service.snat;
  if (service.portMax === 0) delete service.portMax;
  const body: Record<string, unknown> = {
    serviceArguments: service,
    endpoints: r.endpoints === null || r.endpoints === undefined ? [] : Array.isArray(r.endpoints)
      ? r.endpoints.map((e) => (isPlainObject(e) ? pickFields(e, EP_KEYS) : e))
      : r.endpoints,
  };
  if (r.secondaryIPs !== null && r.secondaryIPs !== undefined) body.secondaryIPs = r.secondaryIPs;
  if (r.allowedSources !== null && r.allowedSources !== undefined) body.allowedSources = r.allowedSources;
  try {
    parseLbRule(body);
  } catch (err) {
    fail(`${where} (${String(service.externalIP ?? '?')} ${String(service.protocol ?? '?')} ${String(service.port ?? '?')})`, err);
  }
  return body as unknown as LbRuleModel;
}

export function bfdRecord(where: string, raw: unknown): BfdSessionModel {
  if (!isPlainObject(raw)) throw new ConfigFileError(`${where}: must be an object with remoteIp, interval and retryCount`);
  const x = pickFields(raw, ['instance', 'remoteIp', 'sourceIp', 'interval', 'retryCount'] as const);
  const body: Record<string, unknown> = { ...x };
  for (const k of Object.keys(body)) if (body[k] === '' || body[k] === undefined) delete body[k];
  try {
    completeBfdSession(parseBfdSessionPost(body));
  } catch (err) {
    fail(`${where} (${String(x.remoteIp ?? '?')})`, err);
  }
  return body as unknown as BfdSessionModel;
}

export function epRecord(where: string, raw: unknown): EndpointModel {
  try {
    return parseEndpointRecord(raw);
  } catch (err) {
    fail(`${where}${isPlainObject(raw) ? ` (${String(pickFields(raw, ['hostName'] as const).hostName ?? '?')})` : ''}`, err);
  }
}

const KINDS: Record<string, keyof ConfigRecords> = {
  Loadbalancer: 'lb', LoadBalancer: 'lb', lb: 'lb', LB: 'lb',
  Endpoint: 'ep', ep: 'ep', endpoints: 'ep',
  BFD: 'bfd', bfd: 'bfd',
};

/**
 * Reads one file: a saved lbconfig/EPconfig/BFDconfig (told apart by their
 * records), or `kind:` documents. `expect` is set when a flag named the
 * file's kind (apply --lb/--endpoint/--bfd).
 */
export function readConfigFile(name: string, text: string, into: ConfigRecords, expect?: keyof ConfigRecords): void {
  let docs: unknown[];
  try {
    const parsed = parseAllDocuments(text);
    const list = Array.isArray(parsed) ? parsed : [parsed];
    const bad = list.find((d) => d.errors.length > 0);
    if (bad) throw new ConfigFileError(`${name}: not JSON or YAML: ${bad.errors[0]!.message.split('\n')[0]}`);
    docs = list.map((d) => d.toJS({ maxAliasCount: 0 })).filter((d) => d !== null && d !== undefined);
  } catch (err) {
    if (err instanceof ConfigFileError) throw err;
    throw new ConfigFileError(`${name}: not JSON or YAML: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`);
  }
  if (docs.length === 0) throw new ConfigFileError(`${name}: the file is empty`);
  docs.forEach((doc, d) => {
    const docName = docs.length > 1 ? `${name} document ${d + 1}` : name;
    if (!isPlainObject(doc)) throw new ConfigFileError(`${docName}: must be an object ({"lbAttr": [...]}, {"Attr": [...]} or kind/spec)`);
    const top = pickFields(doc, ['lbAttr', 'Attr', 'kind', 'spec'] as const);
    let kind: keyof ConfigRecords;
    let records: unknown[];
    let label: (i: number) => string;
    if (top.kind !== undefined) {
      const k = typeof top.kind === 'string' && Object.hasOwn(KINDS, top.kind) ? KINDS[top.kind]! : undefined;
      if (k === undefined) throw new ConfigFileError(`${docName}: invalid kind: must be one of ${Object.keys(KINDS).join(', ')} (got ${JSON.stringify(top.kind)})`);
      kind = k;
      records = [top.spec];
      label = () => `${docName} spec`;
    } else if (top.lbAttr !== undefined) {
      if (!Array.isArray(top.lbAttr)) throw new ConfigFileError(`${docName}: invalid lbAttr: must be a list of rules`);
      kind = 'lb';
      records = top.lbAttr;
      label = (i) => `${docName} lbAttr[${i}]`;
    } else if (top.Attr !== undefined) {
      if (!Array.isArray(top.Attr)) throw new ConfigFileError(`${docName}: invalid Attr: must be a list`);
      records = top.Attr;
      const first = records.find(isPlainObject);
      kind = expect === 'ep' || expect === 'bfd' ? expect : first && pickFields(first, ['hostName'] as const).hostName !== undefined ? 'ep' : 'bfd';
      label = (i) => `${docName} Attr[${i}]`;
    } else {
      throw new ConfigFileError(`${docName}: has none of lbAttr (${LB_FILE}), Attr (${EP_FILE}, ${BFD_FILE}) or kind/spec`);
    }
    if (expect !== undefined && kind !== expect) throw new ConfigFileError(`${docName}: holds ${kind} records, not ${expect}`);
    records.forEach((rec, i) => {
      if (kind === 'lb') into.lb.push(lbRecord(label(i), rec));
      else if (kind === 'ep') into.ep.push(epRecord(label(i), rec));
      else into.bfd.push(bfdRecord(label(i), rec));
    });
  });
}

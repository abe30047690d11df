// The REST edge of POST /config/bfd (reference §2.5): loxilb's body
// {instance, remoteIp, sourceIp, interval (µs), retryCount}, plus optional
// authentication (RFC 5880 §6.7) with the key read from a file.
import { FieldReader, UINT32_MAX, invalid } from '../util/FieldReader.ts';
import { ValidationError } from '../util/errors.ts';
import { DEFAULT_INSTANCE } from '../lb/LbRule.ts';
import { ipFamily } from '../util/ipAddress.ts';

/**
 * loxilb refuses anything below 100 ms ("bfd interval too low"); BIRD holds
 * 10 ms here, so we go down to that.
 */
export const BFD_MIN_INTERVAL_US = 10_000;

export const BFD_AUTH_TYPES = ['keyed-md5', 'meticulous-keyed-md5', 'keyed-sha1', 'meticulous-keyed-sha1'] as const;
export type BfdAuthTypeName = (typeof BFD_AUTH_TYPES)[number];

export interface BfdSessionSpec {
  instance: string;
  remoteIp: string;
  /** Undefined: the kernel picks the source address. */
  sourceIp?: string;
  /** Desired min TX and required min RX, µs. */
  intervalUs: number;
  /** Detect Mult. */
  multiplier: number;
  auth?: { type: BfdAuthTypeName; keyId: number; keyFile: string };
}

const FIELDS = ['instance', 'remoteIp', 'sourceIp', 'interval', 'retryCount', 'authType', 'keyId', 'keyFile'] as const;

/**
 * A POST /config/bfd body. As in loxilb, a re-POST for a session of the same
 * instance changes its timers, and what it leaves out (interval or
 * retryCount 0 or absent, sourceIp "" or absent, no auth fields: what
 * `loxicmd set bfd` sends) keeps its current value.
 */
export type BfdSessionPost = Omit<BfdSessionSpec, 'intervalUs' | 'multiplier'> & { intervalUs?: number; multiplier?: number };

/** Validates a POST /config/bfd body; throws ValidationError naming the field. */
export function parseBfdSessionPost(body: unknown): BfdSessionPost {
  const r = new FieldReader('', body, FIELDS);
  const instance = r.string('instance') || DEFAULT_INSTANCE;
  const remoteIp = r.ip('remoteIp', { required: true })!;
  const src = r.ip('sourceIp');
  const sourceIp = src === '0.0.0.0' || src === '::' ? undefined : src;
  if (sourceIp && ipFamily(sourceIp) !== ipFamily(remoteIp)) {
    throw invalid(r.field('sourceIp'), `must be of the same address family as remoteIp ${remoteIp}`, src);
  }
  const interval = r.raw('interval');
  if (typeof interval === 'number' && Number.isSafeInteger(interval) && interval > 0 && interval < BFD_MIN_INTERVAL_US) {
    // loxilb's own text first, so scripts matching it still work.
    throw invalid(r.field('interval'), `bfd interval too low: must be at least ${BFD_MIN_INTERVAL_US} (µs), or 0 to keep a session's current one`, interval);
  }
  const intervalUs = interval === 0 ? undefined : r.int('interval', BFD_MIN_INTERVAL_US, UINT32_MAX);
  const multiplier = r.raw('retryCount') === 0 ? undefined : r.int('retryCount', 1, 255);
  const type = r.oneOf('authType', BFD_AUTH_TYPES);
  const spec: BfdSessionPost = { instance, remoteIp, sourceIp, intervalUs, multiplier };
  if (type) {
    const keyId = r.int('keyId', 0, 255) ?? 1;
    const keyFile = r.string('keyFile', { required: true })!;
    spec.auth = { type, keyId, keyFile };
  } else if (r.has('keyFile') || r.has('keyId')) {
    throw invalid(r.field('authType'), `required with keyId/keyFile: one of ${BFD_AUTH_TYPES.join(', ')}`);
  }
  return spec;
}

/** A new session needs its timers: refuses a post without them, naming the field. */
export function completeBfdSession(p: BfdSessionPost, hint = ''): BfdSessionSpec {
  for (const [field, v, allowed] of [
    ['interval', p.intervalUs, `${BFD_MIN_INTERVAL_US} to ${UINT32_MAX} (µs)`],
    ['retryCount', p.multiplier, '1 to 255'],
  ] as const) {
    if (v === undefined) throw new ValidationError(field, `must be given to create a session: ${allowed} (0 or absent keeps the current value only when the session exists${hint})`);
  }
  return { ...p, intervalUs: p.intervalUs!, multiplier: p.multiplier! };
}

/** Validates a saved BFD session (all of it required); throws ValidationError naming the field. */
export function parseBfdSession(body: unknown): BfdSessionSpec {
  return completeBfdSession(parseBfdSessionPost(body));
}

/** loxilb's state names in GET /config/bfd/all. */
export const BFD_STATE_NAMES = ['BFDAdminDown', 'BFDDown', 'BFDInit', 'BFDUp'] as const;

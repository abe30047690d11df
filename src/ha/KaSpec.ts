// The `--ka` flag (reference §1): RemoteIP:SourceIP[:IntervalUs[:Multiplier]].
// loxilb splits on ':' and so takes IPv4 only, and ignores the interval; here
// IPv6 addresses go in brackets ([fd00::2]:[fd00::1]:50000:3) and every part
// is honoured.
import { normalizeIp } from '../util/ipAddress.ts';
import { BFD_MIN_INTERVAL_US } from '../bfd/validateBfdConfig.ts';

export interface KaSpec {
  remoteIp: string;
  /** Undefined: the kernel picks the source address (loxilb's 0.0.0.0). */
  sourceIp?: string;
  intervalUs: number;
  multiplier: number;
}

export const KA_DEFAULT_INTERVAL_US = 100_000;
export const KA_DEFAULT_MULTIPLIER = 3;
const FORMAT = 'RemoteIP[:SourceIP[:IntervalUs[:Multiplier]]], IPv6 addresses in brackets';

/** Splits on ':' outside brackets; a bracketed part loses its brackets. */
function splitParts(value: string): string[] | undefined {
  const parts: string[] = [];
  let i = 0;
  while (i <= value.length) {
    if (value[i] === '[') {
      const end = value.indexOf(']', i);
      if (end < 0) return undefined;
      parts.push(value.slice(i + 1, end));
      i = end + 1;
      if (i < value.length && value[i] !== ':') return undefined;
    } else {
      const end = value.indexOf(':', i);
      const stop = end < 0 ? value.length : end;
      parts.push(value.slice(i, stop));
      i = stop;
    }
    i++;
  }
  return parts;
}

function uint(text: string | undefined, min: number, max: number): number | undefined {
  if (text === undefined || !/^\d+$/.test(text)) return undefined;
  const n = Number(text);
  return n >= min && n <= max ? n : undefined;
}

/** Parses a --ka value; throws an Error whose message says what is wrong and what is allowed. */
export function parseKaSpec(value: string): KaSpec {
  const parts = splitParts(value.trim());
  if (!parts || parts.length < 1 || parts.length > 4) throw new Error(`--ka=${value}: expected ${FORMAT}`);
  const [remote, source, interval, mult] = parts;
  const remoteIp = normalizeIp(remote ?? '');
  if (!remoteIp || remoteIp === '0.0.0.0' || remoteIp === '::') throw new Error(`--ka=${value}: RemoteIP must be an IPv4 address or a bracketed IPv6 address (${FORMAT})`);
  let sourceIp: string | undefined;
  if (source !== undefined && source !== '') {
    const s = normalizeIp(source);
    if (!s) throw new Error(`--ka=${value}: SourceIP must be an IP address of the same family as RemoteIP`);
    if (s !== '0.0.0.0' && s !== '::') sourceIp = s;
    if (s.includes(':') !== remoteIp.includes(':')) throw new Error(`--ka=${value}: SourceIP must be of the same address family as RemoteIP`);
  }
  const intervalUs = interval === undefined || interval === '' ? KA_DEFAULT_INTERVAL_US : uint(interval, BFD_MIN_INTERVAL_US, 4294967295);
  if (intervalUs === undefined) throw new Error(`--ka=${value}: IntervalUs must be an integer of at least ${BFD_MIN_INTERVAL_US} (microseconds)`);
  const multiplier = mult === undefined || mult === '' ? KA_DEFAULT_MULTIPLIER : uint(mult, 1, 255);
  if (multiplier === undefined) throw new Error(`--ka=${value}: Multiplier must be an integer from 1 to 255`);
  return { remoteIp, sourceIp, intervalUs, multiplier };
}

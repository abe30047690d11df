// Validation of URL path and query parameters, named as loxilb's API spec
// names them so an error points at the part of the URL to fix.
import { invalid } from '../util/FieldReader.ts';
import { normalizeIp } from '../util/ipAddress.ts';
import { PROTOCOLS, type Protocol } from '../lb/LbRule.ts';

export function ipParam(name: string, text: string): string {
  const ip = normalizeIp(text);
  if (ip === undefined) throw invalid(name, 'must be an IPv4 or IPv6 address', text);
  return ip;
}

export function intParam(name: string, text: string, min: number, max: number): number {
  const n = /^(0|[1-9][0-9]{0,15})$/.test(text) ? Number(text) : NaN;
  if (!(n >= min && n <= max)) throw invalid(name, `must be an integer from ${min} to ${max}`, text);
  return n;
}

export function protocolParam(name: string, text: string): Protocol {
  if (!(PROTOCOLS as readonly string[]).includes(text)) throw invalid(name, `must be one of ${PROTOCOLS.join(', ')}`, text);
  return text as Protocol;
}

const TRUE_WORDS = ['true', '1', 'yes', 'on'];
const FALSE_WORDS = ['false', '0', 'no', 'off', ''];

export function boolQuery(query: URLSearchParams, name: string): boolean {
  const text = query.get(name);
  if (text === null) return false;
  const t = text.toLowerCase();
  if (TRUE_WORDS.includes(t)) return true;
  if (FALSE_WORDS.includes(t)) return false;
  throw invalid(name, 'must be true or false', text);
}

export function intQuery(query: URLSearchParams, name: string, min: number, max: number): number | undefined {
  const text = query.get(name);
  return text === null || text === '' ? undefined : intParam(name, text, min, max);
}

// Label and field selectors as the apiserver parses them from `labelSelector=`
// and `fieldSelector=` query parameters. A malformed selector is a 400, an
// unknown field label too, exactly so a controller bug shows up in tests.

import { badRequest } from './fakeKubeErrors.js';

export type Selector = (obj: unknown) => boolean;

const KEY = String.raw`(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?/)?[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?`;
const VALUE = String.raw`(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?)?`;
const EXISTS = new RegExp(`^(${KEY})$`);
const NOT_EXISTS = new RegExp(`^!\\s*(${KEY})$`);
const COMPARE = new RegExp(`^(${KEY})\\s*(==|=|!=)\\s*(${VALUE})$`);
const ORDER = new RegExp(`^(${KEY})\\s*([<>])\\s*(-?[0-9]+)$`);
const SET = new RegExp(`^(${KEY})\\s+(in|notin)\\s*\\(([^)]*)\\)$`);
const SET_VALUE = new RegExp(`^${VALUE}$`);

/** Splits on commas that are not inside parentheses. */
function splitRequirements(selector: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let current = '';
  for (const ch of selector) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      parts.push(current);
      current = '';
    } else {
      current += ch;
    }
  }
  parts.push(current);
  return parts.map((p) => p.trim());
}

function labelsOf(obj: unknown): Record<string, string> {
  const meta = (obj as { metadata?: { labels?: Record<string, string> } } | null)?.metadata;
  return meta?.labels ?? {};
}

export function parseLabelSelector(selector: string | undefined | null): Selector {
  if (selector === undefined || selector === null || selector.trim() === '') return () => true;
  const tests: Array<(labels: Record<string, string>) => boolean> = [];
  for (const req of splitRequirements(selector)) {
    let m: RegExpExecArray | null;
    if ((m = NOT_EXISTS.exec(req))) {
      const key = m[1]!;
      tests.push((l) => !(key in l));
    } else if ((m = SET.exec(req))) {
      const key = m[1]!;
      const values = m[3]!.split(',').map((v) => v.trim());
      for (const v of values) if (!SET_VALUE.test(v)) throw badRequest(`unable to parse requirement: invalid label value: "${v}"`);
      tests.push(m[2] === 'in' ? (l) => key in l && values.includes(l[key]!) : (l) => !(key in l) || !values.includes(l[key]!));
    } else if ((m = COMPARE.exec(req))) {
      const [, key, op, value] = m as unknown as [string, string, string, string];
      tests.push(op === '!=' ? (l) => l[key] !== value : (l) => l[key] === value);
    } else if ((m = ORDER.exec(req))) {
      const [, key, op, value] = m as unknown as [string, string, string, string];
      const bound = Number(value);
      tests.push((l) => {
        const v = l[key];
        if (v === undefined || !/^-?[0-9]+$/.test(v)) return false;
        return op === '<' ? Number(v) < bound : Number(v) > bound;
      });
    } else if ((m = EXISTS.exec(req))) {
      const key = m[1]!;
      tests.push((l) => key in l);
    } else {
      throw badRequest(`unable to parse requirement: found '${req}', expected: label selector requirement`);
    }
  }
  return (obj) => {
    const labels = labelsOf(obj);
    return tests.every((t) => t(labels));
  };
}

/** Reads a dotted path; booleans and numbers compare as their text, absence as ''. */
function fieldValue(obj: unknown, path: string): string {
  let cur: unknown = obj;
  for (const part of path.split('.')) {
    if (cur === null || typeof cur !== 'object') return '';
    cur = (cur as Record<string, unknown>)[part];
  }
  if (cur === undefined || cur === null) return '';
  return typeof cur === 'object' ? JSON.stringify(cur) : String(cur);
}

function unescapeFieldValue(raw: string): string {
  return raw.replace(/\\(.)/g, '$1');
}

/** Splits on commas not escaped with a backslash. */
function splitFieldRequirements(selector: string): string[] {
  const parts: string[] = [];
  let current = '';
  for (let i = 0; i < selector.length; i++) {
    const ch = selector[i]!;
    if (ch === '\\' && i + 1 < selector.length) {
      current += ch + selector[i + 1]!;
      i++;
    } else if (ch === ',') {
      parts.push(current);
      current = '';
    } else {
      current += ch;
    }
  }
  parts.push(current);
  return parts;
}

/**
 * Parses a field selector. `fieldLabels` maps each supported label beyond
 * metadata.name and metadata.namespace to the object path it reads.
 */
export function parseFieldSelector(selector: string | undefined | null, fieldLabels: Record<string, string>): Selector {
  if (selector === undefined || selector === null || selector.trim() === '') return () => true;
  const labels: Record<string, string> = { 'metadata.name': 'metadata.name', 'metadata.namespace': 'metadata.namespace', ...fieldLabels };
  const tests: Selector[] = [];
  for (const req of splitFieldRequirements(selector)) {
    const m = /^\s*([A-Za-z0-9_.]+)\s*(==|=|!=)(.*)$/.exec(req);
    if (!m) throw badRequest(`invalid selector: '${selector}'; can't understand '${req}'`);
    const [, label, op, raw] = m as unknown as [string, string, string, string];
    const path = labels[label];
    if (path === undefined) throw badRequest(`field label not supported: ${label}`);
    const value = unescapeFieldValue(raw.trim());
    tests.push(op === '!=' ? (o) => fieldValue(o, path) !== value : (o) => fieldValue(o, path) === value);
  }
  return (obj) => tests.every((t) => t(obj));
}

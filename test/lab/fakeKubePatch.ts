// The three PATCH bodies the apiserver accepts from controllers and kubectl:
// JSON merge patch (RFC 7386), JSON patch (RFC 6902, what
// @kubernetes/client-node sends by default) and strategic merge patch. The
// strategic one knows only the merge keys our resources use (Service ports,
// Node conditions and addresses, owner references, finalizers); every other
// list is replaced, which is also what the apiserver does for atomic lists.

import { isDeepStrictEqual } from 'node:util';
import { KubeApiError, badRequest } from './fakeKubeErrors.js';

export type PatchType = 'json' | 'merge' | 'strategic';

export const PATCH_CONTENT_TYPES: Record<string, PatchType> = {
  'application/json-patch+json': 'json',
  'application/merge-patch+json': 'merge',
  'application/strategic-merge-patch+json': 'strategic',
};

type JsonObject = Record<string, unknown>;

function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function clone<T>(v: T): T {
  return v === undefined ? v : (JSON.parse(JSON.stringify(v)) as T);
}

export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isObject(patch)) return clone(patch);
  const out: JsonObject = isObject(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete out[key];
    else out[key] = mergePatch(out[key], value);
  }
  return out;
}

/** Dotted map path (list indices dropped) → merge key of the list found there; '' = list of primitives merged as a set. */
const MERGE_KEYS: Record<string, string> = {
  'spec.ports': 'port',
  'spec.taints': 'key',
  'status.conditions': 'type',
  'status.addresses': 'type',
  'metadata.ownerReferences': 'uid',
  'metadata.finalizers': '',
};

function strategicList(path: string, target: unknown, patch: unknown[]): unknown[] {
  const key = MERGE_KEYS[path];
  if (key === undefined || !Array.isArray(target)) {
    return patch.filter((e) => !(isObject(e) && e.$patch === 'delete')).map((e) => stripDirectives(e));
  }
  if (key === '') {
    const out = [...target];
    for (const v of patch) if (!out.includes(v)) out.push(clone(v));
    return out;
  }
  const out = target.map((e) => clone(e));
  for (const element of patch) {
    if (!isObject(element)) throw badRequest(`strategic merge patch: ${path} holds objects merged on "${key}"`);
    if (element.$patch === 'replace') return patch.filter((e) => !(isObject(e) && '$patch' in e)).map((e) => stripDirectives(e));
    const index = out.findIndex((e) => isObject(e) && e[key] === element[key]);
    if (element.$patch === 'delete') {
      if (index >= 0) out.splice(index, 1);
    } else if (index >= 0) {
      out[index] = strategicMerge(out[index], element, path);
    } else {
      out.push(stripDirectives(element));
    }
  }
  return out;
}

function stripDirectives(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(stripDirectives);
  if (!isObject(v)) return v;
  const out: JsonObject = {};
  for (const [k, val] of Object.entries(v)) if (!k.startsWith('$')) out[k] = stripDirectives(val);
  return out;
}

export function strategicMerge(target: unknown, patch: unknown, path = ''): unknown {
  if (!isObject(patch)) return clone(patch);
  if (patch.$patch === 'replace') return stripDirectives(patch);
  const out: JsonObject = isObject(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    const childPath = path === '' ? key : `${path}.${key}`;
    if (key.startsWith('$deleteFromPrimitiveList/')) {
      const listKey = key.slice('$deleteFromPrimitiveList/'.length);
      const current = out[listKey];
      if (Array.isArray(current) && Array.isArray(value)) out[listKey] = current.filter((e) => !value.includes(e));
      continue;
    }
    // $setElementOrder and $retainKeys only tune ordering and pruning; results stay correct without them.
    if (key.startsWith('$')) continue;
    if (value === null) delete out[key];
    else if (isObject(value) && value.$patch === 'delete') delete out[key];
    else if (Array.isArray(value)) out[key] = strategicList(childPath, out[key], value);
    else out[key] = strategicMerge(out[key], value, childPath);
  }
  return out;
}

interface JsonPatchOp {
  op: string;
  path: string;
  value?: unknown;
  from?: string;
}

function parsePointer(pointer: string): string[] {
  if (pointer === '') return [];
  if (!pointer.startsWith('/')) throw badRequest(`json patch: invalid path "${pointer}"`);
  return pointer
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function unprocessable(message: string): KubeApiError {
  return new KubeApiError(422, 'Invalid', message);
}

/** Returns the container holding the last token, creating nothing. */
function locate(doc: unknown, tokens: string[], pointer: string): { parent: unknown; key: string } {
  let cur = doc;
  for (const token of tokens.slice(0, -1)) {
    if (Array.isArray(cur)) cur = cur[Number(token)];
    else if (isObject(cur)) cur = cur[token];
    else cur = undefined;
    if (cur === undefined) throw unprocessable(`jsonpatch: doc is missing path: "${pointer}"`);
  }
  return { parent: cur, key: tokens[tokens.length - 1]! };
}

function getAt(doc: unknown, pointer: string): unknown {
  let cur = doc;
  for (const token of parsePointer(pointer)) {
    if (Array.isArray(cur)) cur = cur[Number(token)];
    else if (isObject(cur)) cur = cur[token];
    else cur = undefined;
    if (cur === undefined) throw unprocessable(`jsonpatch: doc is missing path: "${pointer}"`);
  }
  return cur;
}

function removeAt(doc: unknown, pointer: string): unknown {
  const tokens = parsePointer(pointer);
  if (tokens.length === 0) throw unprocessable('jsonpatch: cannot remove the whole document');
  const { parent, key } = locate(doc, tokens, pointer);
  if (Array.isArray(parent)) {
    const i = Number(key);
    if (!Number.isInteger(i) || i < 0 || i >= parent.length) throw unprocessable(`jsonpatch: remove index out of bounds: "${pointer}"`);
    return parent.splice(i, 1)[0];
  }
  if (!isObject(parent) || !(key in parent)) throw unprocessable(`jsonpatch: remove operation does not apply: doc is missing path: "${pointer}"`);
  const old = parent[key];
  delete parent[key];
  return old;
}

function addAt(doc: unknown, pointer: string, value: unknown, replace: boolean): unknown {
  const tokens = parsePointer(pointer);
  if (tokens.length === 0) return clone(value);
  const { parent, key } = locate(doc, tokens, pointer);
  if (Array.isArray(parent)) {
    if (replace) {
      const i = Number(key);
      if (!Number.isInteger(i) || i < 0 || i >= parent.length) throw unprocessable(`jsonpatch: replace index out of bounds: "${pointer}"`);
      parent[i] = clone(value);
    } else {
      const i = key === '-' ? parent.length : Number(key);
      if (!Number.isInteger(i) || i < 0 || i > parent.length) throw unprocessable(`jsonpatch: add index out of bounds: "${pointer}"`);
      parent.splice(i, 0, clone(value));
    }
  } else if (isObject(parent)) {
    if (replace && !(key in parent)) throw unprocessable(`jsonpatch: replace operation does not apply: doc is missing key: "${pointer}"`);
    parent[key] = clone(value);
  } else {
    throw unprocessable(`jsonpatch: doc is missing path: "${pointer}"`);
  }
  return doc;
}

export function jsonPatch(target: unknown, ops: unknown): unknown {
  if (!Array.isArray(ops)) throw badRequest('json patch body must be an array of operations');
  let doc = clone(target);
  for (const raw of ops) {
    if (!isObject(raw) || typeof raw.op !== 'string' || typeof raw.path !== 'string') {
      throw badRequest(`json patch: malformed operation ${JSON.stringify(raw)}`);
    }
    const op = raw as unknown as JsonPatchOp;
    switch (op.op) {
      case 'add':
        doc = addAt(doc, op.path, op.value, false);
        break;
      case 'replace':
        doc = addAt(doc, op.path, op.value, true);
        break;
      case 'remove':
        removeAt(doc, op.path);
        break;
      case 'move': {
        if (op.from === undefined) throw badRequest('json patch: move needs "from"');
        const value = removeAt(doc, op.from);
        doc = addAt(doc, op.path, value, false);
        break;
      }
      case 'copy': {
        if (op.from === undefined) throw badRequest('json patch: copy needs "from"');
        doc = addAt(doc, op.path, getAt(doc, op.from), false);
        break;
      }
      case 'test':
        if (!isDeepStrictEqual(getAt(doc, op.path), op.value)) {
          throw unprocessable(`jsonpatch: testing value ${op.path} failed: test failed`);
        }
        break;
      default:
        throw badRequest(`json patch: unknown operation "${op.op}"`);
    }
  }
  return doc;
}

export function applyPatch(type: PatchType, target: unknown, patch: unknown): unknown {
  switch (type) {
    case 'json':
      return jsonPatch(target, patch);
    case 'merge':
      return mergePatch(target, patch);
    case 'strategic':
      return strategicMerge(target, patch);
  }
}

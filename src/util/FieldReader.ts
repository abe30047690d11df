// Typed, case-insensitive access to one JSON object of a request body. Every
// failure is a ValidationError whose field is the full path of the value
// (`serviceArguments.port`, `endpoints[2].targetPort`), so a client can tell
// exactly what to fix.
import { ValidationError } from './errors.ts';
import { isPlainObject, pickFields } from './caseInsensitive.ts';
import { normalizeIp } from './ipAddress.ts';

export const UINT32_MAX = 4294967295;

/** Keeps echoed values short and JSON-safe: a request may carry anything. */
function shown(value: unknown): unknown {
  switch (typeof value) {
    case 'string':
      return value.length > 80 ? `${value.slice(0, 77)}...` : value;
    case 'number':
    case 'boolean':
      return value;
    default:
      return undefined;
  }
}

function kindOf(value: unknown): string {
  if (Array.isArray(value)) return 'an array';
  if (value === null) return 'null';
  if (typeof value === 'object') return 'an object';
  return `a ${typeof value}`;
}

/** A ValidationError that echoes primitives and names the kind of anything else. */
export function invalid(field: string, allowed: string, got?: unknown): ValidationError {
  const echo = shown(got);
  if (got !== undefined && echo === undefined) return new ValidationError(field, `${allowed}, got ${kindOf(got)}`);
  return new ValidationError(field, allowed, echo);
}

export function joinPath(prefix: string, field: string): string {
  return prefix === '' ? field : `${prefix}.${field}`;
}

export interface Opt {
  required?: boolean;
}

export class FieldReader<K extends string> {
  private readonly values: Partial<Record<K, unknown>>;

  /** `path` is where the object sits in the body ('' for the body itself). */
  constructor(
    readonly path: string,
    value: unknown,
    fields: readonly K[],
  ) {
    if (!isPlainObject(value)) throw invalid(path === '' ? 'body' : path, 'must be a JSON object', value);
    this.values = pickFields(value, fields);
  }

  field(k: K): string {
    return joinPath(this.path, k);
  }

  has(k: K): boolean {
    return this.values[k] !== undefined;
  }

  raw(k: K): unknown {
    return this.values[k];
  }

  private missing(k: K, desc: string, opt: Opt | undefined): undefined {
    if (opt?.required) throw invalid(this.field(k), `required: ${desc}`);
    return undefined;
  }

  string(k: K, opt?: Opt): string | undefined {
    const v = this.values[k];
    if (v === undefined) return this.missing(k, 'a string', opt);
    if (typeof v !== 'string') throw invalid(this.field(k), 'must be a string', v);
    if (v === '' && opt?.required) throw invalid(this.field(k), 'required: must not be empty');
    return v;
  }

  bool(k: K): boolean | undefined {
    const v = this.values[k];
    if (v === undefined) return undefined;
    if (typeof v !== 'boolean') throw invalid(this.field(k), 'must be true or false', v);
    return v;
  }

  int(k: K, min: number, max: number, opt?: Opt): number | undefined {
    const desc = `an integer from ${min} to ${max}`;
    const v = this.values[k];
    if (v === undefined) return this.missing(k, desc, opt);
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) throw invalid(this.field(k), `must be ${desc}`, v);
    return v;
  }

  oneOf<T extends string>(k: K, allowed: readonly T[], opt?: Opt): T | undefined {
    const desc = `one of ${allowed.join(', ')}`;
    const v = this.values[k];
    if (v === undefined) return this.missing(k, desc, opt);
    if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v)) throw invalid(this.field(k), `must be ${desc}`, v);
    return v as T;
  }

  /** Returns the canonical text of the address. */
  ip(k: K, opt?: Opt): string | undefined {
    const desc = 'an IPv4 or IPv6 address';
    const v = this.values[k];
    if (v === undefined || v === '') return this.missing(k, desc, opt);
    const ip = typeof v === 'string' ? normalizeIp(v) : undefined;
    if (ip === undefined) throw invalid(this.field(k), `must be ${desc}`, v);
    return ip;
  }

  array(k: K, opt?: Opt): unknown[] | undefined {
    const v = this.values[k];
    if (v === undefined) return this.missing(k, 'an array', opt);
    if (!Array.isArray(v)) throw invalid(this.field(k), 'must be an array', v);
    return v;
  }
}

// Errors of the fake Kubernetes API server, shaped like the apiserver's
// metav1.Status so clients (kubectl, @kubernetes/client-node) react to them as
// they would to a real cluster: same codes, reasons, details and wording.

export type StatusReason =
  | 'NotFound'
  | 'AlreadyExists'
  | 'Conflict'
  | 'Expired'
  | 'Invalid'
  | 'BadRequest'
  | 'Forbidden'
  | 'MethodNotAllowed'
  | 'NotAcceptable'
  | 'UnsupportedMediaType'
  | 'InternalError'
  | 'ServiceUnavailable';

export interface StatusCause {
  reason: string;
  message: string;
  field?: string;
}

export interface StatusDetails {
  name?: string;
  group?: string;
  kind?: string;
  uid?: string;
  causes?: StatusCause[];
}

export interface KubeStatus {
  kind: 'Status';
  apiVersion: 'v1';
  metadata: Record<string, never>;
  status: 'Failure' | 'Success';
  message?: string;
  reason?: string;
  details?: StatusDetails;
  code: number;
}

/** What an error names: the resource (plural) and its API group ('' = core). */
export interface ResourceRef {
  group: string;
  resource: string;
}

/** `services` for core, `leases.coordination.k8s.io` otherwise: how the apiserver names a resource in messages. */
export function qualifiedResource(ref: ResourceRef): string {
  return ref.group === '' ? ref.resource : `${ref.resource}.${ref.group}`;
}

export class KubeApiError extends Error {
  override name = 'KubeApiError';
  constructor(
    readonly code: number,
    readonly reason: StatusReason,
    message: string,
    readonly details?: StatusDetails,
  ) {
    super(message);
  }

  toStatus(): KubeStatus {
    const status: KubeStatus = {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: this.message,
      reason: this.reason,
      code: this.code,
    };
    if (this.details) status.details = this.details;
    return status;
  }
}

function refDetails(ref: ResourceRef, name: string): StatusDetails {
  const details: StatusDetails = { name, kind: ref.resource };
  if (ref.group !== '') details.group = ref.group;
  return details;
}

export function notFound(ref: ResourceRef, name: string): KubeApiError {
  return new KubeApiError(404, 'NotFound', `${qualifiedResource(ref)} "${name}" not found`, refDetails(ref, name));
}

export function alreadyExists(ref: ResourceRef, name: string): KubeApiError {
  return new KubeApiError(409, 'AlreadyExists', `${qualifiedResource(ref)} "${name}" already exists`, refDetails(ref, name));
}

export function conflict(ref: ResourceRef, name: string, why: string): KubeApiError {
  return new KubeApiError(
    409,
    'Conflict',
    `Operation cannot be fulfilled on ${qualifiedResource(ref)} "${name}": ${why}`,
    refDetails(ref, name),
  );
}

export const STALE_OBJECT = 'the object has been modified; please apply your changes to the latest version and try again';

export function expired(requestedRv: number, oldestRv: number): KubeApiError {
  return new KubeApiError(410, 'Expired', `too old resource version: ${requestedRv} (${oldestRv})`);
}

export function badRequest(message: string): KubeApiError {
  return new KubeApiError(400, 'BadRequest', message);
}

export function forbidden(message: string): KubeApiError {
  return new KubeApiError(403, 'Forbidden', message);
}

export function methodNotAllowed(method: string): KubeApiError {
  return new KubeApiError(405, 'MethodNotAllowed', `the server does not allow this method on the requested resource (${method})`);
}

export function internalError(message: string): KubeApiError {
  return new KubeApiError(500, 'InternalError', `Internal error occurred: ${message}`);
}

/** A field-level validation failure, worded like k8s.io/apimachinery field.Error. */
export interface FieldError {
  type: 'FieldValueInvalid' | 'FieldValueRequired' | 'FieldValueDuplicate' | 'FieldValueNotSupported' | 'FieldValueForbidden';
  field: string;
  /** Text after "<field>: ", e.g. `Invalid value: "x": may not change once set`. */
  detail: string;
}

function showValue(value: unknown): string {
  return typeof value === 'string' ? JSON.stringify(value) : JSON.stringify(value) ?? String(value);
}

export const fieldErrors = {
  invalid(field: string, value: unknown, detail: string): FieldError {
    return { type: 'FieldValueInvalid', field, detail: `Invalid value: ${showValue(value)}: ${detail}` };
  },
  required(field: string, detail?: string): FieldError {
    return { type: 'FieldValueRequired', field, detail: detail ? `Required value: ${detail}` : 'Required value' };
  },
  duplicate(field: string, value: unknown): FieldError {
    return { type: 'FieldValueDuplicate', field, detail: `Duplicate value: ${showValue(value)}` };
  },
  notSupported(field: string, value: unknown, supported: readonly string[]): FieldError {
    const list = supported.map((s) => JSON.stringify(s)).join(', ');
    return { type: 'FieldValueNotSupported', field, detail: `Unsupported value: ${showValue(value)}: supported values: ${list}` };
  },
  forbidden(field: string, detail: string): FieldError {
    return { type: 'FieldValueForbidden', field, detail: `Forbidden: ${detail}` };
  },
};

/** 422 Invalid, listing every field error the way the apiserver aggregates them. */
export function invalid(kind: string, name: string, errors: readonly FieldError[], group = ''): KubeApiError {
  const parts = errors.map((e) => `${e.field}: ${e.detail}`);
  const joined = parts.length === 1 ? parts[0] : `[${parts.join(', ')}]`;
  const qualifiedKind = group === '' ? kind : `${kind}.${group}`;
  const details: StatusDetails = {
    name,
    kind,
    causes: errors.map((e) => ({ reason: e.type, message: e.detail, field: e.field })),
  };
  if (group !== '') details.group = group;
  return new KubeApiError(422, 'Invalid', `${qualifiedKind} "${name}" is invalid: ${joined}`, details);
}

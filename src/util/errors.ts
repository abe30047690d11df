// Errors that cross the REST edge. Each carries the HTTP status loxilb would
// answer with, so handlers throw and the server maps them in one place.

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/** 400: a request field is missing or has a value outside what is allowed. */
export class ValidationError extends ApiError {
  constructor(
    readonly field: string,
    readonly allowed: string,
    got?: unknown,
  ) {
    super(400, `invalid ${field}: ${allowed}${got === undefined ? '' : ` (got ${JSON.stringify(got)})`}`);
    this.name = 'ValidationError';
  }
}

export class ConflictError extends ApiError {
  constructor(message: string) {
    super(409, message);
    this.name = 'ConflictError';
  }
}

export class NotFoundError extends ApiError {
  constructor(message: string) {
    super(404, message);
    this.name = 'NotFoundError';
  }
}

/** 403, e.g. "running in bgp only mode" or "loxilb BGP mode is disabled". */
export class ForbiddenError extends ApiError {
  constructor(message: string) {
    super(403, message);
    this.name = 'ForbiddenError';
  }
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** The errno code of a system error (EADDRINUSE, ...), if it has one. */
export function errnoCode(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}

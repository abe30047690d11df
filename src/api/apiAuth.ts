// Bearer-token authentication of the REST API (--api-token-file). One token,
// the same for every client (kube-loxilb, loxicmd, the HA peer), checked on
// every request but the health check. The comparison takes the same time
// whatever the presented value: both sides are hashed to SHA-256 first, so
// crypto.timingSafeEqual always compares 32 bytes, and neither the length
// nor a matching prefix of the token shows in the answer time.
import { createHash, timingSafeEqual } from 'node:crypto';
import { ApiError } from '../util/errors.ts';
import { API_BASE_PATH } from './basePath.ts';

/** loxilb's generic message for 401 (its Error model's `message`). */
export const AUTH_FAILED_MESSAGE = 'Invalid authentication credentials';

/** 401 with loxilb's Error model: the generic `message`, and in `result` what was wrong. */
export class AuthError extends ApiError {
  constructor(readonly result: string) {
    super(401, AUTH_FAILED_MESSAGE);
    this.name = 'AuthError';
  }
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'latin1').digest();
}

export class BearerToken {
  private readonly expected: Buffer;

  constructor(token: string) {
    if (token === '') throw new Error('the API token must not be empty');
    this.expected = digest(token);
  }

  /**
   * Checks an Authorization header: `Bearer <token>` (the scheme in any
   * case), or the bare token, which is what loxilb's own loxicmd --token
   * sends. Throws AuthError when it does not carry the token.
   */
  check(header: string | string[] | undefined): void {
    if (header === undefined || header === '') throw new AuthError('authorization required: send the header "Authorization: Bearer <token>"');
    // Node joins repeated headers for most names but keeps Authorization as one; an array is never ours.
    if (Array.isArray(header)) throw new AuthError('invalid token');
    const m = /^bearer[ \t]+(.*)$/i.exec(header);
    const presented = (m ? m[1]! : header).trim();
    if (!timingSafeEqual(digest(presented), this.expected)) throw new AuthError('invalid token');
  }

  /** True when the header carries the token (check() without the throw). */
  accepts(header: string | string[] | undefined): boolean {
    try {
      this.check(header);
      return true;
    } catch {
      return false;
    }
  }
}

/**
 * The one request answered without the token: GET (or HEAD) of
 * /netlox/v1/status, the health check. Load balancers, kubelet probes and
 * kube-loxilb's liveness check call it without credentials; without the
 * token it answers only status, mode and uptime (see RestServer).
 */
export function isOpenRequest(method: string, pathname: string): boolean {
  if (method !== 'GET' && method !== 'HEAD') return false;
  return pathname === `${API_BASE_PATH}/status` || pathname === `${API_BASE_PATH}/status/`;
}

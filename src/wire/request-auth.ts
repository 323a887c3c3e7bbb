/**
 * Signed requests: after login, every request to the directory carries, in the
 * `x-peervault-auth` header, a `request/v1` message signed by the session's device key:
 *   { s: session id, m: method, p: path with query, t: time (ms), n: nonce (16 bytes), b: SHA-256 of the body }
 * The directory checks the signature with the session's key, that method, path and body are
 * the ones it received, that the time is within the allowed skew, and that the nonce was never
 * used in this session (recorded in the database, so a replay to another directory process is
 * caught too).
 */
import { createHash } from 'node:crypto';
import { FsError, integrityError } from '../interface/errors.js';
import { constantTimeEqual } from '../crypto/bytes.js';
import { decodeCanonical, field, isMap } from '../crypto/canonical.js';
import type { SigningKeyPair } from '../crypto/keys.js';
import { randomBytesOf } from '../crypto/random.js';
import { signMessage, verifyMessage } from '../crypto/sign.js';
import { fromBase64url, toBase64url } from './base64.js';

/** The header that carries the signed request. */
export const authHeader = 'x-peervault-auth';
/** How far a request's time may be from the directory's clock. */
export const maxClockSkewMs = 5 * 60 * 1000;

/** What a request claims about itself. */
export interface RequestClaims {
  session: string;
  method: string;
  path: string;
  time: number;
  nonce: string;
  bodyHash: Uint8Array;
}

function sha256(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(bytes).digest());
}

/** Signs a request; returns the header value. */
export function signRequest(
  deviceKey: SigningKeyPair,
  request: { session: string; method: string; path: string; body: Uint8Array; time: number },
): string {
  const envelope = signMessage(deviceKey, 'request', {
    s: request.session,
    m: request.method.toUpperCase(),
    p: request.path,
    t: request.time,
    n: toBase64url(randomBytesOf(16)),
    b: sha256(request.body),
  });
  return toBase64url(envelope);
}

function decodeClaims(envelope: Uint8Array): RequestClaims {
  const op = 'request.auth';
  const outer = decodeCanonical(envelope, op);
  if (!isMap(outer)) throw integrityError(op);
  const body = decodeCanonical(field.bytes(outer, 'body', op), op);
  if (!isMap(body)) throw integrityError(op);
  const nonce = field.text(body, 'n', op);
  if (nonce.length !== 22) throw integrityError(op);
  return {
    session: field.text(body, 's', op),
    method: field.text(body, 'm', op),
    path: field.text(body, 'p', op),
    time: field.uint(body, 't', op),
    nonce,
    bodyHash: field.bytes(body, 'b', op, 32),
  };
}

/**
 * Reads which session a signed request claims to belong to, WITHOUT verifying anything: only
 * to find the session whose key then verifies the request with {@link verifyRequest}.
 * @throws FsError `permission` when the header is missing or malformed.
 */
export function readClaimedSession(header: string | undefined): {
  session: string;
  envelope: Uint8Array;
} {
  const op = 'request.auth';
  if (header === undefined || header.length > 4096) {
    throw new FsError('permission', 'this request needs a signed session; log in first', { op });
  }
  try {
    const envelope = fromBase64url(header, 'auth header', { maxBytes: 2048 });
    return { session: decodeClaims(envelope).session, envelope };
  } catch {
    throw new FsError('permission', 'the request signature is malformed', { op });
  }
}

/**
 * Verifies a signed request against the session it claims and that session's device key, and
 * against what was actually received. The claims returned are read from the verified envelope,
 * so nothing unverified is ever acted on. Does not check the nonce (the caller records it
 * atomically in the database).
 * @throws FsError `permission` for a bad signature, another session, a mismatch, or a time
 *   outside the allowed skew.
 */
export function verifyRequest(
  envelope: Uint8Array,
  session: { id: string; deviceKey: Uint8Array },
  actual: { method: string; path: string; body: Uint8Array; now: number },
): RequestClaims {
  const op = 'request.auth';
  let claims: RequestClaims;
  try {
    verifyMessage(envelope, 'request', [session.deviceKey]);
    claims = decodeClaims(envelope);
  } catch {
    throw new FsError('permission', 'the request signature does not verify', { op });
  }
  if (
    claims.session !== session.id ||
    claims.method !== actual.method.toUpperCase() ||
    claims.path !== actual.path ||
    !constantTimeEqual(claims.bodyHash, sha256(actual.body))
  ) {
    throw new FsError('permission', 'the signed request does not match what was sent', { op });
  }
  if (Math.abs(claims.time - actual.now) > maxClockSkewMs) {
    throw new FsError('permission', 'the request is too old or from the future; check the clock', {
      op,
    });
  }
  return claims;
}

/**
 * Binding a device key to an OPAQUE login. At the end of login both sides hold the OPAQUE
 * session key; the client proves it by MACing the login id and its new device key with a key
 * derived from it. The directory accepts the device key only with a valid proof, so the device
 * key that signs every later request is tied to a password login that really happened.
 */
import { createHmac } from 'node:crypto';
import { concatBytes, constantTimeEqual, utf8 } from '../crypto/bytes.js';
import { hkdfSha256 } from '../crypto/kdf.js';
import { labelBytes, labels } from '../crypto/labels.js';
import { fromBase64url } from './base64.js';

/** The proof a client sends: HMAC-SHA256 over the login id and device key. */
export function sessionProof(
  sessionKey: string,
  loginId: string,
  deviceKey: Uint8Array,
): Uint8Array {
  const key = hkdfSha256(
    fromBase64url(sessionKey, 'session key', { maxBytes: 128 }),
    new Uint8Array(0),
    labelBytes(labels.sessionBinding),
    32,
  );
  const mac = createHmac('sha256', key)
    .update(concatBytes(utf8(loginId), deviceKey))
    .digest();
  key.fill(0);
  return new Uint8Array(mac);
}

/** Checks a proof in constant time. */
export function proofMatches(
  sessionKey: string,
  loginId: string,
  deviceKey: Uint8Array,
  proof: Uint8Array,
): boolean {
  return constantTimeEqual(sessionProof(sessionKey, loginId, deviceKey), proof);
}

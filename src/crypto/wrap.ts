/**
 * Key wrapping to a recipient's public key with HPKE (RFC 9180), base mode, suite
 * DHKEM(X25519, HKDF-SHA256) / HKDF-SHA256 / AES-256-GCM, through `@hpke/core`.
 *
 * The HPKE `info` is our wrap label plus the purpose (a file key, a name key, …), so a key
 * wrapped for one purpose cannot be unwrapped as another. The caller's `context` (for example
 * the file id and the recipient's user name) is the HPKE associated data, so a wrapped key
 * cannot be moved to another file or recipient record by the directory.
 *
 * Wrapped key, format 1 (canonical CBOR; see docs/formats.md):
 *   { v: 1, suite: 1, kid: bytes(16), enc: bytes(32), ct: bytes }
 * `kid` is a hash of the recipient's public key, so a recipient with several keys (after a
 * rotation) knows which one to try. Not a secret: it names a public key.
 */
import { createHash } from 'node:crypto';
import { Aes256Gcm, CipherSuite, DhkemX25519HkdfSha256, HkdfSha256 } from '@hpke/core';
import { integrityError } from '../interface/errors.js';
import { concatBytes, constantTimeEqual, utf8 } from './bytes.js';
import { decodeMap, encodeCanonical, field } from './canonical.js';
import { type EncryptionKeyPair, keyBytes } from './keys.js';
import { labelBytes, labels, type WrapPurpose } from './labels.js';
import { SecretBytes } from './secret.js';
import { wrapSuites } from './wrap-suites.js';

/** The format version written by {@link wrapKey}. */
export const wrapFormatVersion = 1;
/** Length of a key id. */
export const keyIdBytes = 16;
/** Largest secret that may be wrapped (keys and sealed key bundles, not content). */
export const maxWrappedSecret = 4096;

/** The HPKE suite of wrap suite 1; exported for the RFC 9180 known-answer tests. */
export const hpkeSuite = new CipherSuite({
  kem: new DhkemX25519HkdfSha256(),
  kdf: new HkdfSha256(),
  aead: new Aes256Gcm(),
});

/** The id of an encryption public key, as written in wrapped blobs. */
export function keyIdOf(publicKey: Uint8Array): Uint8Array {
  const digest = createHash('sha256')
    .update(concatBytes(labelBytes(labels.keyId), publicKey))
    .digest();
  return new Uint8Array(digest.subarray(0, keyIdBytes));
}

function info(purpose: WrapPurpose): Uint8Array {
  return concatBytes(labelBytes(labels.wrap), utf8(purpose));
}

/**
 * Wraps `secret` to the holder of `recipientPublicKey` (raw X25519).
 *
 * @param context bytes that the caller binds the wrapped key to; the same must be given to
 *   {@link unwrapKey}.
 */
export async function wrapKey(
  recipientPublicKey: Uint8Array,
  secret: SecretBytes,
  purpose: WrapPurpose,
  context: Uint8Array,
): Promise<Uint8Array> {
  if (secret.length > maxWrappedSecret) throw new RangeError('wrapKey: secret too large');
  const recipient = await hpkeSuite.kem.deserializePublicKey(recipientPublicKey).catch(() => {
    throw integrityError('wrap.seal');
  });
  const { ct, enc } = await hpkeSuite.seal(
    { recipientPublicKey: recipient, info: info(purpose) },
    secret.expose(),
    context,
  );
  return encodeCanonical({
    v: wrapFormatVersion,
    suite: wrapSuites.x25519Aes256Gcm,
    kid: keyIdOf(recipientPublicKey),
    enc: new Uint8Array(enc),
    ct: new Uint8Array(ct),
  });
}

/** The key id a wrapped blob names (to pick the right key after a rotation). */
export function wrappedKeyId(wrapped: Uint8Array): Uint8Array {
  const op = 'wrap.open';
  return field.bytes(
    decodeMap(wrapped, ['v', 'suite', 'kid', 'enc', 'ct'], op, 8192),
    'kid',
    op,
    keyIdBytes,
  );
}

/**
 * The recipient's private key as HPKE wants it, imported once per key pair (importing through
 * WebCrypto costs more than the unwrap). Held only as long as the key pair itself.
 */
const recipientKeys = new WeakMap<EncryptionKeyPair, Promise<CryptoKey>>();
function recipientKeyOf(recipient: EncryptionKeyPair): Promise<CryptoKey> {
  let key = recipientKeys.get(recipient);
  if (key === undefined) {
    key = hpkeSuite.kem.deserializePrivateKey(recipient.privateKey().expose());
    // A failed import is not kept: the next unwrap tries again.
    key.catch(() => recipientKeys.delete(recipient));
    recipientKeys.set(recipient, key);
  }
  return key;
}

/**
 * Unwraps a key wrapped to `recipient`.
 * @throws FsError `integrity` when the blob is malformed, for another key, purpose or context,
 *   or was altered.
 */
export async function unwrapKey(
  recipient: EncryptionKeyPair,
  wrapped: Uint8Array,
  purpose: WrapPurpose,
  context: Uint8Array,
): Promise<SecretBytes> {
  const op = 'wrap.open';
  const map = decodeMap(wrapped, ['v', 'suite', 'kid', 'enc', 'ct'], op, 8192);
  if (field.uint(map, 'v', op) !== wrapFormatVersion) throw integrityError(op);
  if (field.uint(map, 'suite', op) !== wrapSuites.x25519Aes256Gcm) throw integrityError(op);
  if (!constantTimeEqual(field.bytes(map, 'kid', op, keyIdBytes), keyIdOf(recipient.publicKey))) {
    throw integrityError(op);
  }
  const enc = field.bytes(map, 'enc', op, keyBytes);
  const ct = field.bytes(map, 'ct', op);
  try {
    const privateKey = await recipientKeyOf(recipient);
    const plaintext = await hpkeSuite.open(
      { recipientKey: privateKey, enc, info: info(purpose) },
      ct,
      context,
    );
    return new SecretBytes(new Uint8Array(plaintext));
  } catch {
    throw integrityError(op);
  }
}

/**
 * Sealing a user's private keys under their OPAQUE export key.
 *
 * Why not only Argon2id (password-seal.ts): the sealed keys live at the directory. Sealed under a
 * key derived from the password alone, a thief of the directory's database could guess passwords
 * offline against them, which is exactly what OPAQUE login is there to prevent. OPAQUE's export
 * key is derived from the password through the directory's OPRF key (kept in the directory's
 * data directory, not in the database) and through the client-side Argon2id of OPAQUE, so a
 * stolen database alone gives nothing to guess against. The export key is the same at every
 * login and changes with the password (re-registration), so a password change re-seals.
 *
 * Consequence, stated in docs/threat-model.md: losing the directory's OPRF key (opaque-setup
 * file) makes every user's sealed keys unrecoverable; it must be backed up with the identity key.
 *
 * Sealed blob, format 1 (canonical CBOR; docs/formats.md):
 *   { v: 1, kdf: "opaque-export", nonce: bytes(12), ct: bytes }
 * Key: HKDF-SHA256(export key, salt = empty, info = label("peervault/v1/export-key-seal"), 32).
 * Associated data: label("peervault/v1/export-key-seal") || canonical CBOR {v, kdf, nonce, ctx}.
 */
import { integrityError } from '../interface/errors.js';
import { aeadNonceBytes, aeadOpen, aeadSeal } from './aead.js';
import { concatBytes } from './bytes.js';
import { decodeMap, encodeCanonical, field } from './canonical.js';
import { hkdfSha256 } from './kdf.js';
import { labelBytes, labels } from './labels.js';
import { randomBytesOf } from './random.js';
import { SecretBytes } from './secret.js';

/** The format version written by {@link sealWithExportKey}. */
export const exportKeySealVersion = 1;
const kdfName = 'opaque-export';
const blobKeys = ['v', 'kdf', 'nonce', 'ct'];

function deriveKey(exportKey: SecretBytes): Uint8Array {
  if (exportKey.length < 32) throw new RangeError('export key too short');
  return hkdfSha256(exportKey.expose(), new Uint8Array(0), labelBytes(labels.exportKeySeal), 32);
}

function associatedData(nonce: Uint8Array, context: Uint8Array): Uint8Array {
  return concatBytes(
    labelBytes(labels.exportKeySeal),
    encodeCanonical({ v: exportKeySealVersion, kdf: kdfName, nonce, ctx: context }),
  );
}

/** Seals `secret` under an OPAQUE export key, bound to `context` (the user name). */
export function sealWithExportKey(
  exportKey: SecretBytes,
  secret: SecretBytes,
  context: Uint8Array,
): Uint8Array {
  const key = deriveKey(exportKey);
  const nonce = randomBytesOf(aeadNonceBytes);
  const ct = aeadSeal(key, nonce, secret.expose(), associatedData(nonce, context));
  key.fill(0);
  return encodeCanonical({ v: exportKeySealVersion, kdf: kdfName, nonce, ct });
}

/**
 * Opens a blob sealed by {@link sealWithExportKey}.
 * @throws FsError `integrity` for a wrong key or context, or an altered or malformed blob.
 */
export function openWithExportKey(
  exportKey: SecretBytes,
  sealed: Uint8Array,
  context: Uint8Array,
): SecretBytes {
  const op = 'export-key-seal.open';
  const map = decodeMap(sealed, blobKeys, op, 64 * 1024);
  if (field.uint(map, 'v', op) !== exportKeySealVersion) throw integrityError(op);
  if (field.text(map, 'kdf', op) !== kdfName) throw integrityError(op);
  const nonce = field.bytes(map, 'nonce', op, aeadNonceBytes);
  const key = deriveKey(exportKey);
  try {
    return new SecretBytes(
      aeadOpen(key, nonce, field.bytes(map, 'ct', op), associatedData(nonce, context), op),
    );
  } finally {
    key.fill(0);
  }
}

/**
 * Encrypted names and lookup tags: how the directory stores and finds names it cannot read.
 *
 * From a 256-bit name key two subkeys are derived with HKDF (distinct labels): one encrypts
 * names (AES-256-GCM, random nonce), one computes lookup tags (HMAC-SHA256 of the NFC-normalised
 * name). Equal names under one key give equal tags, so the directory can find an entry and
 * refuse a duplicate name; under another key the tags are unrelated, so nothing links names
 * across directories.
 *
 * An encrypted name is bound to its entry's id (associated data), so the directory cannot swap
 * the names of two entries. Names are padded to a multiple of 32 bytes before encryption, so the
 * ciphertext length reveals only a bucket of the name's length.
 *
 * Encrypted name, format 1 (see docs/formats.md):
 *   [0] 0x01 · [1..13) nonce · [13..) ciphertext of the padded UTF-8 name, then the 16-byte tag
 */
import { createHmac } from 'node:crypto';
import { integrityError, isFsError } from '../interface/errors.js';
import { type FileId, fileIdToBytes } from '../interface/ids.js';
import { type EntryName, maxEntryNameBytes, parseEntryName } from '../interface/names.js';
import { aeadNonceBytes, aeadOpen, aeadSeal, aeadTagBytes } from './aead.js';
import { concatBytes, utf8 } from './bytes.js';
import { hkdfSha256 } from './kdf.js';
import { labelBytes, labels } from './labels.js';
import { randomBytesOf } from './random.js';
import type { SecretBytes } from './secret.js';

/** The format version written by {@link encryptName}. */
export const nameFormatVersion = 1;
/** Length of a lookup tag. */
export const lookupTagBytes = 32;

const nameBlock = 32;
const maxPaddedName = Math.ceil((maxEntryNameBytes + 1) / nameBlock) * nameBlock;
const maxSealedName = 1 + aeadNonceBytes + maxPaddedName + aeadTagBytes;
const emptySalt = new Uint8Array(0);
const decoder = new TextDecoder('utf-8', { fatal: true });

function subkey(nameKey: SecretBytes, label: string): Uint8Array {
  if (nameKey.length !== 32) throw new RangeError('name key must be 32 bytes');
  return hkdfSha256(nameKey.expose(), emptySalt, labelBytes(label), 32);
}

function associatedData(entryId: FileId): Uint8Array {
  return concatBytes(
    labelBytes(labels.nameAd),
    Uint8Array.of(nameFormatVersion),
    fileIdToBytes(entryId),
  );
}

/**
 * The lookup tag of `name` under a directory's name key: HMAC-SHA256 with a derived subkey.
 * Compare tags with constantTimeEqual.
 */
export function lookupTag(nameKey: SecretBytes, name: EntryName): Uint8Array {
  const key = subkey(nameKey, labels.nameTagKey);
  const tag = createHmac('sha256', key)
    .update(utf8(name.normalize('NFC')))
    .digest();
  key.fill(0);
  return new Uint8Array(tag);
}

/** Encrypts the name of entry `entryId`. */
export function encryptName(nameKey: SecretBytes, entryId: FileId, name: EntryName): Uint8Array {
  const bytes = utf8(name);
  const padded = new Uint8Array(Math.ceil((bytes.length + 1) / nameBlock) * nameBlock);
  padded.set(bytes, 0);
  padded[bytes.length] = 0x80;
  const key = subkey(nameKey, labels.nameEncryptKey);
  const nonce = randomBytesOf(aeadNonceBytes);
  const header = concatBytes(Uint8Array.of(nameFormatVersion), nonce);
  const sealed = aeadSeal(key, nonce, padded, associatedData(entryId), header);
  key.fill(0);
  return sealed;
}

/**
 * Decrypts the name of entry `entryId`.
 * @throws FsError `integrity` when the ciphertext was altered, belongs to another entry or key,
 *   or does not hold a valid name.
 */
export function decryptName(nameKey: SecretBytes, entryId: FileId, sealed: Uint8Array): EntryName {
  const op = 'name.decrypt';
  if (sealed.length < 1 + aeadNonceBytes + aeadTagBytes || sealed.length > maxSealedName) {
    throw integrityError(op);
  }
  if (sealed[0] !== nameFormatVersion) throw integrityError(op);
  const key = subkey(nameKey, labels.nameEncryptKey);
  let padded: Uint8Array;
  try {
    padded = aeadOpen(
      key,
      sealed.subarray(1, 1 + aeadNonceBytes),
      sealed.subarray(1 + aeadNonceBytes),
      associatedData(entryId),
      op,
    );
  } finally {
    key.fill(0);
  }
  const end = padded.lastIndexOf(0x80);
  if (end < 0 || padded.subarray(end + 1).some((b) => b !== 0)) throw integrityError(op);
  if (Math.ceil((end + 1) / nameBlock) * nameBlock !== padded.length) throw integrityError(op);
  try {
    const name = decoder.decode(padded.subarray(0, end));
    const parsed = parseEntryName(name);
    if (parsed !== name) throw integrityError(op); // only the canonical (NFC) form is valid
    return parsed;
  } catch (err) {
    if (isFsError(err, 'integrity')) throw err;
    throw integrityError(op);
  }
}

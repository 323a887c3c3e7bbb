/**
 * Chunk sealing: the encryption of file content, one chunk (about 1 MiB) at a time.
 *
 * Each chunk is sealed with AES-256-GCM under its own key, derived with HKDF-SHA256 from the
 * file key and the chunk's position (file id, version, index). The position, and whether the
 * chunk is the file's last, are also bound into the associated data. So a chunk moved to another
 * file, version or index fails to open; so does a file cut short (its new last chunk does not
 * carry the `final` flag) or extended (a chunk after the one marked final). Per-chunk keys also
 * mean a random nonce never meets the same key twice in practice.
 *
 * Sealed chunk, format 1 (see docs/formats.md):
 *   [0]      format version, 0x01
 *   [1..13)  nonce, 12 random bytes
 *   [13..)   AES-256-GCM ciphertext of the chunk's plaintext, then the 16-byte tag
 */
import { integrityError } from '../interface/errors.js';
import { type FileId, fileIdToBytes } from '../interface/ids.js';
import { aeadNonceBytes, aeadOpen, aeadSealParts, aeadTagBytes } from './aead.js';
import { concatBytes, u64be } from './bytes.js';
import { hkdfSha256 } from './kdf.js';
import { labelBytes, labels } from './labels.js';
import { randomBytesOf } from './random.js';
import type { SecretBytes } from './secret.js';

/** The format version written by {@link sealChunk}. */
export const chunkFormatVersion = 1;
/** Bytes a sealed chunk adds to its plaintext. */
export const chunkOverhead = 1 + aeadNonceBytes + aeadTagBytes;
/** Largest chunk plaintext accepted, so that opening one needs bounded memory. */
export const maxChunkPlaintext = 8 * 1024 * 1024;

/**
 * A sealed chunk as the pieces `[header, ciphertext, tag]`, in order. Kept apart so that sealing
 * copies nothing; hash them with blockIdOf, write them with writev or one stream write each, or
 * join them with {@link joinSealedChunk} when contiguous bytes are really needed.
 */
export interface SealedChunk {
  readonly parts: readonly Uint8Array[];
  readonly byteLength: number;
}

/** The sealed chunk as one contiguous byte array (copies). */
export function joinSealedChunk(chunk: SealedChunk): Uint8Array {
  return Buffer.concat(chunk.parts, chunk.byteLength);
}

/** Where a chunk belongs; all of it is authenticated. */
export interface ChunkPosition {
  /** The file the chunk belongs to. */
  fileId: FileId;
  /** The file version the chunk was written for. */
  version: number;
  /** The chunk's index in the file, from 0. */
  index: number;
  /** True for the file's last chunk. */
  final: boolean;
}

const emptySalt = new Uint8Array(0);
const keyLabel = labelBytes(labels.chunkKey);
const adLabel = labelBytes(labels.chunkAd);

function positionBytes(position: ChunkPosition): Uint8Array {
  return concatBytes(
    fileIdToBytes(position.fileId),
    u64be(position.version),
    u64be(position.index),
  );
}

function chunkKey(fileKey: SecretBytes, where: Uint8Array): Uint8Array {
  return hkdfSha256(fileKey.expose(), emptySalt, concatBytes(keyLabel, where), 32);
}

function associatedData(where: Uint8Array, final: boolean): Uint8Array {
  return concatBytes(
    adLabel,
    Uint8Array.of(chunkFormatVersion),
    where,
    Uint8Array.of(final ? 1 : 0),
  );
}

/** Seals one chunk of a file. */
export function sealChunk(
  fileKey: SecretBytes,
  position: ChunkPosition,
  plaintext: Uint8Array,
): SealedChunk {
  if (plaintext.length > maxChunkPlaintext) {
    throw new RangeError('sealChunk: chunk larger than maxChunkPlaintext');
  }
  const where = positionBytes(position);
  const key = chunkKey(fileKey, where);
  const nonce = randomBytesOf(aeadNonceBytes);
  const header = concatBytes(Uint8Array.of(chunkFormatVersion), nonce);
  const [ciphertext, tag] = aeadSealParts(
    key,
    nonce,
    plaintext,
    associatedData(where, position.final),
  );
  key.fill(0);
  return {
    parts: [header, ciphertext, tag],
    byteLength: header.length + ciphertext.length + tag.length,
  };
}

/**
 * Opens one sealed chunk, checking that it belongs at `position`.
 * @throws FsError `integrity` when the chunk was altered, moved, or is not the expected one.
 */
export function openChunk(
  fileKey: SecretBytes,
  position: ChunkPosition,
  sealed: Uint8Array,
): Uint8Array {
  const op = 'chunk.open';
  if (sealed.length < chunkOverhead || sealed.length > maxChunkPlaintext + chunkOverhead) {
    throw integrityError(op);
  }
  if (sealed[0] !== chunkFormatVersion) throw integrityError(op);
  const where = positionBytes(position);
  const key = chunkKey(fileKey, where);
  try {
    return aeadOpen(
      key,
      sealed.subarray(1, 1 + aeadNonceBytes),
      sealed.subarray(1 + aeadNonceBytes),
      associatedData(where, position.final),
      op,
    );
  } finally {
    key.fill(0);
  }
}

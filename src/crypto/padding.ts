/**
 * Size padding, so that stored sizes reveal only a bucket, not the exact length of a file.
 *
 * Buckets: powers of two (at least 16 bytes) up to 1 MiB, then whole MiB. The padding is the
 * ISO/IEC 7816-4 scheme: a 0x80 marker, then zeros up to the bucket. It is applied to plaintext
 * before encryption, so it is authenticated with it and an attacker cannot change it.
 *
 * Streaming property: with 1 MiB chunks, the marker and all padding always fall into the last
 * chunk (below 1 MiB there is one chunk; above, the padded size is a whole number of chunks and
 * the padding is at most 1 MiB). {@link padTail} and {@link unpadFinalChunk} use this, so a
 * writer need not know the length in advance and a reader need not buffer the file.
 */
import { integrityError } from '../interface/errors.js';

/** The size unit above which buckets grow linearly; also the standard chunk size. */
export const paddingUnit = 1024 * 1024;
const smallestBucket = 16;
const marker = 0x80;

/** The padded size for `length` bytes of content (always greater than `length`). */
export function paddedLength(length: number): number {
  if (!Number.isSafeInteger(length) || length < 0) {
    throw new RangeError('paddedLength: expected a non-negative safe integer');
  }
  const needed = length + 1; // room for the marker
  if (needed <= paddingUnit) {
    let bucket = smallestBucket;
    while (bucket < needed) bucket *= 2;
    return bucket;
  }
  return Math.ceil(needed / paddingUnit) * paddingUnit;
}

/** The bytes to append after `length` bytes of content: the marker, then zeros. */
export function padTail(length: number): Uint8Array {
  const tail = new Uint8Array(paddedLength(length) - length);
  tail[0] = marker;
  return tail;
}

/** Content followed by its padding, in one new array. */
export function pad(content: Uint8Array): Uint8Array {
  const out = new Uint8Array(paddedLength(content.length));
  out.set(content, 0);
  out[content.length] = marker;
  return out;
}

let zeros = Buffer.alloc(0);
function allZero(bytes: Uint8Array): boolean {
  if (zeros.length < bytes.length) zeros = Buffer.alloc(Math.max(bytes.length, paddingUnit));
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).equals(
    zeros.subarray(0, bytes.length),
  );
}

/**
 * Strips the padding from the final chunk of a file.
 *
 * @param finalChunk the last chunk's plaintext, padding included.
 * @param precedingBytes how many plaintext bytes came before this chunk.
 * @returns the content part of the chunk (a view, not a copy).
 * @throws FsError `integrity` when the padding is malformed or not the canonical bucket.
 */
export function unpadFinalChunk(finalChunk: Uint8Array, precedingBytes: number): Uint8Array {
  const buffer = Buffer.from(finalChunk.buffer, finalChunk.byteOffset, finalChunk.byteLength);
  const at = buffer.lastIndexOf(marker);
  if (at < 0 || !allZero(finalChunk.subarray(at + 1))) throw integrityError('padding.remove');
  if (paddedLength(precedingBytes + at) !== precedingBytes + finalChunk.length) {
    throw integrityError('padding.remove');
  }
  return finalChunk.subarray(0, at);
}

/** Strips the padding from a whole padded plaintext. @throws FsError `integrity` */
export function unpad(padded: Uint8Array): Uint8Array {
  return unpadFinalChunk(padded, 0);
}

/**
 * Byte helpers shared by the crypto modules: concatenation, fixed-width integers, UTF-8,
 * hex, and the constant-time comparison that every secret or tag comparison must use.
 */
import { timingSafeEqual } from 'node:crypto';

const encoder = new TextEncoder();

/** UTF-8 bytes of a string. */
export function utf8(text: string): Uint8Array {
  return encoder.encode(text);
}

/** Concatenates byte arrays into one new array. */
export function concatBytes(...parts: readonly Uint8Array[]): Uint8Array {
  let length = 0;
  for (const part of parts) length += part.length;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/**
 * An unsigned integer as 8 big-endian bytes.
 * @throws RangeError when `value` is not a non-negative safe integer (a programming error).
 */
export function u64be(value: number): Uint8Array {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new RangeError('u64be: expected a non-negative safe integer');
  }
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, BigInt(value));
  return out;
}

/**
 * Compares two byte strings in time that depends only on their lengths, never on where they
 * differ. Lengths are public (tags and keys have fixed sizes), so unequal lengths return false
 * at once. Use this for every comparison of a secret, a MAC, a tag or a hash.
 */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  return timingSafeEqual(a, b);
}

/** Lower-case hex of bytes (for test vectors and diagnostics of public values only). */
export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

/** Bytes from hex; throws RangeError on odd length or non-hex characters. */
export function fromHex(hex: string): Uint8Array {
  if (hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(hex)) {
    throw new RangeError('fromHex: not a hex string');
  }
  return new Uint8Array(Buffer.from(hex, 'hex'));
}

/** A view of `bytes` as a Buffer without copying (node:crypto APIs want Buffers or views). */
export function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

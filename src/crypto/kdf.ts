/**
 * HKDF-SHA256 (RFC 5869) through node:crypto, for deriving single-purpose subkeys.
 * Every call site passes an `info` that begins with its own label from labels.ts.
 */
import { hkdfSync } from 'node:crypto';

/** Derives `length` bytes from `ikm` with HKDF-SHA256. */
export function hkdfSha256(
  ikm: Uint8Array,
  salt: Uint8Array,
  info: Uint8Array,
  length: number,
): Uint8Array {
  return new Uint8Array(hkdfSync('sha256', ikm, salt, info, length));
}

/**
 * Binary fields in JSON bodies travel as unpadded base64url. Decoding is strict: only the
 * canonical spelling of the bytes is accepted, and lengths are bounded before decoding.
 */
import { FsError } from '../interface/errors.js';

const alphabet = /^[A-Za-z0-9_-]*$/;

/** Bytes as unpadded base64url. */
export function toBase64url(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64url');
}

/**
 * Decodes unpadded base64url.
 * @throws FsError `invalid` when the text is not canonical base64url, or the bytes are not of
 *   the expected length or exceed `maxBytes`.
 */
export function fromBase64url(
  text: string,
  what: string,
  limits: { length?: number; maxBytes?: number } = {},
): Uint8Array {
  const op = 'base64url.decode';
  const max = limits.length ?? limits.maxBytes ?? 16 * 1024 * 1024;
  if (text.length > Math.ceil((max * 4) / 3) || !alphabet.test(text)) {
    throw new FsError('invalid', `${what} is not valid base64url`, { op });
  }
  const buffer = Buffer.from(text, 'base64url');
  if (buffer.toString('base64url') !== text) {
    throw new FsError('invalid', `${what} is not canonical base64url`, { op });
  }
  if (limits.length !== undefined && buffer.length !== limits.length) {
    throw new FsError('invalid', `${what} must be ${limits.length} bytes`, { op });
  }
  return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
}

/**
 * Opaque identifiers, as branded strings made only by their parsers.
 *
 * Text forms are unpadded base64url, so they fit in URLs and file names. Parsers accept only the
 * canonical form (re-encoding the decoded bytes must give the same text), so one id has exactly
 * one spelling and ids can be compared as strings.
 */
import { FsError } from './errors.js';

declare const blockIdBrand: unique symbol;
declare const fileIdBrand: unique symbol;

/** The address of a block: SHA-256 of its sealed bytes, 43 characters of base64url. */
export type BlockId = string & { readonly [blockIdBrand]: true };

/** The random, opaque id of a file or directory: 16 bytes, 22 characters of base64url. */
export type FileId = string & { readonly [fileIdBrand]: true };

/** Length of a block id in bytes (SHA-256). */
export const blockIdBytes = 32;
/** Length of a file id in bytes. */
export const fileIdBytes = 16;

const base64url = /^[A-Za-z0-9_-]*$/;

function decodeCanonical(text: string, bytes: number, what: string, op: string): Uint8Array {
  const expectedLength = Math.ceil((bytes * 4) / 3);
  if (text.length !== expectedLength || !base64url.test(text)) {
    throw new FsError('invalid', `not a ${what}`, { op });
  }
  const decoded = Buffer.from(text, 'base64url');
  if (decoded.length !== bytes || decoded.toString('base64url') !== text) {
    throw new FsError('invalid', `not a ${what}`, { op });
  }
  return new Uint8Array(decoded.buffer, decoded.byteOffset, decoded.byteLength);
}

/** Parses the text form of a block id. @throws FsError `invalid` */
export function parseBlockId(text: string): BlockId {
  decodeCanonical(text, blockIdBytes, 'block id', 'block-id.parse');
  return text as BlockId;
}

/** Parses the text form of a file id. @throws FsError `invalid` */
export function parseFileId(text: string): FileId {
  decodeCanonical(text, fileIdBytes, 'file id', 'file-id.parse');
  return text as FileId;
}

/** The raw bytes of a block id. */
export function blockIdToBytes(id: BlockId): Uint8Array {
  return decodeCanonical(id, blockIdBytes, 'block id', 'block-id.bytes');
}

/** The raw bytes of a file id. */
export function fileIdToBytes(id: FileId): Uint8Array {
  return decodeCanonical(id, fileIdBytes, 'file id', 'file-id.bytes');
}

/** Makes a block id from its 32 raw bytes. @throws FsError `invalid` on a wrong length */
export function blockIdFromBytes(bytes: Uint8Array): BlockId {
  if (bytes.length !== blockIdBytes) {
    throw new FsError('invalid', 'a block id is 32 bytes', { op: 'block-id.from-bytes' });
  }
  return Buffer.from(bytes).toString('base64url') as BlockId;
}

/** Makes a file id from its 16 raw bytes. @throws FsError `invalid` on a wrong length */
export function fileIdFromBytes(bytes: Uint8Array): FileId {
  if (bytes.length !== fileIdBytes) {
    throw new FsError('invalid', 'a file id is 16 bytes', { op: 'file-id.from-bytes' });
  }
  return Buffer.from(bytes).toString('base64url') as FileId;
}

/** A short prefix of an id, for logs and progress lines (never for lookups). */
export function shortId(id: BlockId | FileId): string {
  return id.slice(0, 10);
}

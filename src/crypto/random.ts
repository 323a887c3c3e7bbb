/**
 * Fresh random keys and ids, from node:crypto's CSPRNG.
 */
import { randomBytes } from 'node:crypto';
import { type FileId, fileIdBytes, fileIdFromBytes } from '../interface/ids.js';
import { SecretBytes } from './secret.js';

/** `length` random bytes. */
export function randomBytesOf(length: number): Uint8Array {
  return new Uint8Array(randomBytes(length));
}

/** A fresh 256-bit symmetric key (a file key or a name key). */
export function newSymmetricKey(): SecretBytes {
  return new SecretBytes(randomBytesOf(32));
}

/** A fresh random file or directory id. */
export function newFileId(): FileId {
  return fileIdFromBytes(randomBytesOf(fileIdBytes));
}

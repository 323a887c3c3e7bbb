/**
 * Block addressing: a block's id is the SHA-256 of its sealed bytes, so a peer cannot serve
 * different bytes under an id without the reader noticing.
 */
import { createHash } from 'node:crypto';
import { integrityError } from '../interface/errors.js';
import { type BlockId, blockIdFromBytes, blockIdToBytes } from '../interface/ids.js';
import { constantTimeEqual } from './bytes.js';

/** The id of a sealed block, given as one byte array or as its parts in order. */
export function blockIdOf(sealed: Uint8Array | readonly Uint8Array[]): BlockId {
  const hash = createHash('sha256');
  if (sealed instanceof Uint8Array) hash.update(sealed);
  else for (const part of sealed) hash.update(part);
  return blockIdFromBytes(hash.digest());
}

/**
 * Checks that `sealed` is the block named `id`.
 * @throws FsError `integrity` when the bytes do not hash to the id.
 */
export function verifyBlock(id: BlockId, sealed: Uint8Array): void {
  const actual = createHash('sha256').update(sealed).digest();
  if (!constantTimeEqual(actual, blockIdToBytes(id))) throw integrityError('block.verify');
}

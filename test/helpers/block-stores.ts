/**
 * Test-only access to the memory block store's bytes, to play a failing disk.
 */
import type { BlockStore } from '../../src/interface/block-store.js';
import type { BlockId } from '../../src/interface/ids.js';
import { memoryBlocksForTesting } from '../../src/peer/blockstore/memory-store.js';

/**
 * Replaces the stored bytes of block `id` in a memory store with `mutate(copy of the bytes)`,
 * behind the store's back (no re-hash, no usage change), as bit rot would.
 * @throws Error when `store` is not a memory store or holds no such block
 */
export function corruptForTesting(
  store: BlockStore,
  id: BlockId,
  mutate: (bytes: Uint8Array) => Uint8Array,
): void {
  if (!(memoryBlocksForTesting in store)) {
    throw new Error('corruptForTesting: not a memory block store');
  }
  const blocks = (store as { [memoryBlocksForTesting]: Map<BlockId, Uint8Array> })[
    memoryBlocksForTesting
  ];
  const stored = blocks.get(id);
  if (stored === undefined) throw new Error('corruptForTesting: no such block');
  blocks.set(id, mutate(Uint8Array.from(stored)));
}

/**
 * The block store in memory: the disk store's semantics without the disk, for tests and for
 * peers that should keep nothing. Bytes are copied in and out, so no caller can change a
 * stored block, and re-hashed on every read like the disk's.
 */
import { blockIdOf, verifyBlock } from '../../crypto/block-id.js';
import { concatBytes } from '../../crypto/bytes.js';
import {
  type AbortOptions,
  type BlockStore,
  type BlockStoreInit,
  type BlockStoreUsage,
  maxBlockBytes,
} from '../../interface/block-store.js';
import { FsError, integrityError } from '../../interface/errors.js';
import { type BlockId, parseBlockId } from '../../interface/ids.js';

/**
 * The key under which a memory store exposes its map of stored bytes, for tests only: it lets
 * test/helpers/block-stores.ts corrupt a block in place, as a failing disk would. Nothing
 * outside tests may use it.
 */
export const memoryBlocksForTesting: unique symbol = Symbol('peervault.memory-block-store.blocks');

class MemoryBlockStore implements BlockStore {
  readonly #blocks = new Map<BlockId, Uint8Array>();
  readonly #init: BlockStoreInit;
  #bytes = 0;
  #closed = false;

  constructor(init: BlockStoreInit) {
    this.#init = init;
  }

  /** See {@link memoryBlocksForTesting}. */
  get [memoryBlocksForTesting](): Map<BlockId, Uint8Array> {
    return this.#blocks;
  }

  put(
    id: BlockId,
    bytes: Uint8Array | readonly Uint8Array[],
    options: AbortOptions = {},
  ): Promise<void> {
    const op = 'block.put';
    return this.#run(op, options, () => {
      checkId(id, op);
      const parts = bytes instanceof Uint8Array ? [bytes] : bytes;
      let size = 0;
      for (const part of parts) size += part.length;
      if (size > maxBlockBytes) {
        throw new FsError('invalid', `a block is at most ${maxBlockBytes} bytes`, { op });
      }
      // Hash the copy that is kept, so the stored bytes are exactly the checked ones.
      const sealed = concatBytes(...parts);
      if (blockIdOf(sealed) !== id) throw integrityError(op);
      if (this.#blocks.has(id)) return; // idempotent: same id, same bytes
      if (this.#bytes + size > this.#init.capacity) {
        throw new FsError(
          'unavailable',
          `this peer's store is full (${this.#bytes} of ${this.#init.capacity} bytes used)`,
          { op },
        );
      }
      this.#blocks.set(id, sealed);
      this.#bytes += size;
    });
  }

  get(id: BlockId, options: AbortOptions = {}): Promise<Uint8Array> {
    const op = 'block.get';
    return this.#run(op, options, () => {
      checkId(id, op);
      const stored = this.#blocks.get(id);
      if (stored === undefined) throw new FsError('not-exist', 'no such block', { op });
      try {
        verifyBlock(id, stored);
      } catch {
        // Security: a block that fails verification is reported and dropped, never served.
        this.#blocks.delete(id);
        this.#bytes -= stored.length;
        try {
          this.#init.onIntegrityFailure?.({ id, problem: 'hash-mismatch', at: Date.now() });
        } catch {
          // The monitor's failure must not turn a refused block into a served one.
        }
        throw integrityError(op);
      }
      return Uint8Array.from(stored);
    });
  }

  has(id: BlockId, options: AbortOptions = {}): Promise<boolean> {
    const op = 'block.has';
    return this.#run(op, options, () => {
      checkId(id, op);
      return this.#blocks.has(id);
    });
  }

  delete(id: BlockId, options: AbortOptions = {}): Promise<void> {
    const op = 'block.delete';
    return this.#run(op, options, () => {
      checkId(id, op);
      const stored = this.#blocks.get(id);
      if (stored === undefined) return;
      this.#blocks.delete(id);
      this.#bytes -= stored.length;
    });
  }

  // The interface is asynchronous; memory has nothing to wait for.
  // eslint-disable-next-line @typescript-eslint/require-await
  async *list(options: AbortOptions = {}): AsyncGenerator<BlockId> {
    const op = 'block.list';
    this.#check(op, options);
    // A snapshot, so that puts and deletes during the walk do not disturb it.
    for (const id of [...this.#blocks.keys()]) {
      this.#check(op, options);
      yield id;
    }
  }

  usage(): Promise<BlockStoreUsage> {
    return this.#run('block.usage', {}, () => ({
      blocks: this.#blocks.size,
      bytes: this.#bytes,
      capacity: this.#init.capacity,
    }));
  }

  close(): Promise<void> {
    this.#closed = true;
    return Promise.resolve();
  }

  /** Runs one call as a promise, refused once the store is closed or the call aborted. */
  #run<T>(op: string, options: AbortOptions, body: () => T): Promise<T> {
    // A throw inside the executor rejects the promise, as in the disk store's async calls.
    return new Promise<T>((resolve) => {
      this.#check(op, options);
      resolve(body());
    });
  }

  #check(op: string, options: AbortOptions): void {
    if (this.#closed) throw new FsError('unavailable', 'the block store is closed', { op });
    options.signal?.throwIfAborted();
  }
}

/** Refuses a malformed id as the disk store does, so both answer the same. */
function checkId(id: BlockId, op: string): void {
  try {
    parseBlockId(id);
  } catch {
    throw new FsError('invalid', 'not a block id', { op });
  }
}

/**
 * Creates an empty block store in memory.
 * @throws FsError `invalid` for a capacity that is not a non-negative number
 */
export function createMemoryBlockStore(init: BlockStoreInit): BlockStore {
  if (!Number.isFinite(init.capacity) || init.capacity < 0) {
    throw new FsError('invalid', 'the capacity must be a non-negative number of bytes', {
      op: 'block-store.open',
    });
  }
  return new MemoryBlockStore({ ...init });
}

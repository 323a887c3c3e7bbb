/**
 * A peer's storage of sealed blocks: content-addressed, immutable, verified on every read.
 *
 * Implementations: files on disk (src/peer/blockstore/disk-store.ts) and memory
 * (memory-store.ts), tested by one shared suite. Blocks are small (a sealed chunk: at most
 * `maxBlockBytes`), so a block is handled whole; files are streamed block by block above this.
 */
import type { BlockId } from './ids.js';

/** Largest sealed block a store accepts: an 8 MiB chunk plus the sealing overhead. */
export const maxBlockBytes = 8 * 1024 * 1024 + 64;

/** Options every I/O call takes. */
export interface AbortOptions {
  signal?: AbortSignal;
}

/** How full a store is. */
export interface BlockStoreUsage {
  blocks: number;
  bytes: number;
  /** Bytes the store may hold in all. */
  capacity: number;
}

/** A failed verification, reported so the monitor can act (a later issue wires it in). */
export interface IntegrityReport {
  id: BlockId;
  /** What was found: the stored bytes hash to something else, or cannot be read whole. */
  problem: 'hash-mismatch' | 'unreadable';
  at: number;
}

/** Settings shared by the implementations. */
export interface BlockStoreInit {
  /** Bytes the store may hold. */
  capacity: number;
  /** Called for every block that fails verification on read (never with block contents). */
  onIntegrityFailure?: (report: IntegrityReport) => void;
}

/**
 * The store. Errors are FsErrors: `not-exist` for an absent block, `integrity` for bytes that do
 * not hash to their id (on put: refused; on read: reported, never served), `unavailable` when a
 * put would exceed the capacity (the message says how full the store is), `invalid` for a block
 * larger than {@link maxBlockBytes}.
 */
export interface BlockStore {
  /**
   * Stores a block under its id, given whole or as parts in order. The bytes must hash to the
   * id. Atomic: a crash leaves either no block or the whole block. Idempotent.
   */
  put(
    id: BlockId,
    bytes: Uint8Array | readonly Uint8Array[],
    options?: AbortOptions,
  ): Promise<void>;
  /** The block's bytes, re-hashed before they are returned. */
  get(id: BlockId, options?: AbortOptions): Promise<Uint8Array>;
  has(id: BlockId, options?: AbortOptions): Promise<boolean>;
  /** Removes a block; absent blocks are fine. */
  delete(id: BlockId, options?: AbortOptions): Promise<void>;
  /** Every stored block id, in no particular order. */
  list(options?: AbortOptions): AsyncIterable<BlockId>;
  usage(): Promise<BlockStoreUsage>;
  /** Idempotent. */
  close(): Promise<void>;
}

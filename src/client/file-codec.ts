/**
 * The file codec: how the agent turns a plaintext stream into sealed blocks, and sealed blocks
 * back into the plaintext stream, with bounded memory both ways; and the sealed metadata (size,
 * block list, mtime) that a directory entry's `meta` field carries.
 *
 * Layout (docs/formats.md, "Sealed chunk" and "Size padding"): the content is followed by its
 * padding, split into chunks of {@link paddingUnit} (1 MiB), and chunk `i` is sealed at position
 * `(fileId, version, i)`, the last one with `final` set. Block ids are the SHA-256 of the sealed
 * bytes, so the block list in the metadata names exactly one byte string per position.
 *
 * Why a writer need not hold a chunk back to learn which one is final: padding is at least one
 * byte and never spans chunks, so a chunk filled entirely with content is never the last one;
 * the last chunk is always the partly filled one (or an empty one) that receives the padding
 * when the source ends. Full chunks are therefore sealed and stored as soon as they fill.
 *
 * Why a reader can trust a streamed prefix: every chunk is authenticated at its index, and only
 * the block at the index the metadata says is last may carry the `final` flag. A dropped,
 * duplicated, reordered or foreign block fails to open at its position. What the reader learns
 * only at the end is whether the file's length matches the claimed size; a consumer that needs
 * the whole file must treat it as unverified until the iteration finishes without an error.
 */
import { aeadNonceBytes, aeadOpen, aeadSeal, aeadTagBytes } from '../crypto/aead.js';
import { blockIdOf } from '../crypto/block-id.js';
import { concatBytes, u64be } from '../crypto/bytes.js';
import {
  type CborMap,
  decodeCanonical,
  decodeMap,
  encodeCanonical,
  field,
  isMap,
} from '../crypto/canonical.js';
import { openChunk, sealChunk } from '../crypto/chunk.js';
import { hkdfSha256 } from '../crypto/kdf.js';
import { labelBytes, labels } from '../crypto/labels.js';
import { padTail, paddedLength, paddingUnit, unpadFinalChunk } from '../crypto/padding.js';
import { randomBytesOf } from '../crypto/random.js';
import { SecretBytes } from '../crypto/secret.js';
import type { AbortOptions } from '../interface/block-store.js';
import { FsError, integrityError } from '../interface/errors.js';
import { type BlockId, type FileId, fileIdToBytes, parseBlockId } from '../interface/ids.js';
import { entryLimits } from '../wire/dir-entry.js';

/** The chunk size every file uses: the padding unit, so that all padding lands in the last chunk. */
export const fileChunkSize = paddingUnit;

/**
 * Most blocks one file version may have. The block list travels inside the entry's sealed
 * metadata, which the directory caps at `entryLimits.metaBytes` (2 MiB); each block id costs 45
 * bytes of CBOR text, so about 46,600 fit. This bound (about 45 GiB of content) leaves room for
 * the other fields and the sealing overhead; a test checks that the largest metadata fits.
 */
export const maxFileBlocks = 46_000;

/** Largest content size whose padded form needs at most {@link maxFileBlocks} chunks. */
export const maxFileSize = maxFileBlocks * fileChunkSize - 1;

const defaultConcurrency = 4;
const defaultPrefetch = 4;

/** The version of a file a chunk or its metadata belongs to. */
export interface FileVersionRef {
  /** The file. */
  fileId: FileId;
  /** The version of the file the content was written for. */
  version: number;
}

/**
 * How many blocks hold a file of `size` content bytes: its padded length in whole chunks
 * (at least one, since even an empty file has padding).
 * @throws FsError `invalid` when `size` is not a non-negative safe integer.
 */
export function blockCountFor(size: number): number {
  if (!Number.isSafeInteger(size) || size < 0) {
    throw new FsError('invalid', 'a file size is a non-negative integer', { op: 'file.blocks' });
  }
  return Math.ceil(paddedLength(size) / fileChunkSize);
}

function requireCount(value: number | undefined, fallback: number, what: string, op: string) {
  const count = value ?? fallback;
  if (!Number.isSafeInteger(count) || count < 1) {
    throw new FsError('invalid', `${what} must be a positive integer`, { op });
  }
  return count;
}

function requireVersion(version: number, op: string): void {
  if (!Number.isSafeInteger(version) || version < 0) {
    throw new FsError('invalid', 'a file version is a non-negative integer', { op });
  }
}

const abortedMark: unique symbol = Symbol('aborted');

/**
 * Waits for `promise`, or rejects with the signal's reason as soon as the signal aborts, so an
 * abort is honoured even when the callee ignores the signal it was given.
 */
async function untilAborted<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return promise;
  signal.throwIfAborted();
  let onAbort: (() => void) | undefined;
  // Resolves rather than rejects, so that the reason is rethrown by throwIfAborted below.
  const aborted = new Promise<typeof abortedMark>((resolve) => {
    onAbort = () => {
      resolve(abortedMark);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
  try {
    const result = await Promise.race([promise, aborted]);
    if (result === abortedMark) signal.throwIfAborted();
    return result as T;
  } finally {
    if (onAbort !== undefined) signal.removeEventListener('abort', onAbort);
  }
}

/** Settings of {@link writeFileBlocks}. */
export interface WriteFileBlocksInit extends FileVersionRef {
  /** The file's content key. */
  fileKey: SecretBytes;
  /** Plaintext bytes of a chunk; only {@link fileChunkSize} is accepted (see the module comment). */
  chunkSize?: number;
  /**
   * Stores one sealed block under its id. Called with up to `concurrency` calls outstanding;
   * `parts` are the sealed bytes in pieces (join or `writev` them). Receives the abort signal.
   */
  store(
    id: BlockId,
    parts: readonly Uint8Array[],
    index: number,
    options: AbortOptions,
  ): Promise<void>;
  /** Most `store` calls in flight at once (default 4). */
  concurrency?: number;
  /** Called after each stored block with the content bytes stored so far (padding excluded). */
  onProgress?(bytes: number): void;
  /** Stops the write: no further pulls or stores, and the call rejects with the signal's reason. */
  signal?: AbortSignal;
}

/** What {@link writeFileBlocks} wrote. */
export interface WrittenFile {
  /** Content bytes (without padding). */
  size: number;
  /** Block ids in chunk order. */
  blocks: BlockId[];
}

/**
 * Re-chunks a plaintext stream, pads and seals it, and stores every sealed block.
 *
 * Memory: at most `concurrency + 1` chunks are ever held: up to `concurrency` sealed chunks whose
 * `store` has not settled, and the one being filled. The source is not pulled while
 * `concurrency` stores are in flight, which is the backpressure. A full chunk is sealed directly
 * from the source's bytes when it lies within one piece (sealing reads it synchronously, before
 * the source is pulled again), and copied otherwise. Pieces of any size are accepted; a piece is
 * the caller's memory and is only read.
 *
 * When it settles, no `store` call it started is still running: on a failure it waits for the
 * stores in flight (which receive the abort signal) before rejecting with the first error.
 *
 * @throws FsError `invalid` for bad settings or content larger than {@link maxFileSize}; whatever
 *   `store` or the source throws; the signal's reason on abort.
 */
export async function writeFileBlocks(
  source: AsyncIterable<Uint8Array>,
  init: WriteFileBlocksInit,
): Promise<WrittenFile> {
  const op = 'file.write';
  const { fileKey, fileId, version, signal } = init;
  const chunkSize = init.chunkSize ?? fileChunkSize;
  if (chunkSize !== fileChunkSize) {
    throw new FsError('invalid', `the chunk size must be ${fileChunkSize} bytes`, { op });
  }
  const concurrency = requireCount(init.concurrency, defaultConcurrency, 'concurrency', op);
  requireVersion(version, op);
  fileIdToBytes(fileId); // refuses a malformed id before any work
  signal?.throwIfAborted();

  const blocks: BlockId[] = [];
  const inFlight = new Set<Promise<void>>();
  let failure: { error: unknown } | undefined;
  let total = 0; // content bytes taken from the source
  let stored = 0; // content bytes whose block is stored

  /** Seals `plaintext` (synchronously: the caller may reuse its bytes once this returns). */
  const submit = (plaintext: Uint8Array, contentBytes: number, final: boolean): void => {
    signal?.throwIfAborted(); // nothing new is started once aborted
    const index = blocks.length;
    if (index >= maxFileBlocks) {
      throw new FsError('invalid', 'the file is too large for one entry', { op });
    }
    const sealed = sealChunk(fileKey, { fileId, version, index, final }, plaintext);
    const id = blockIdOf(sealed.parts);
    blocks.push(id);
    const options: AbortOptions = signal === undefined ? {} : { signal };
    const settled: Promise<void> = init.store(id, sealed.parts, index, options).then(
      () => {
        inFlight.delete(settled);
        stored += contentBytes;
        init.onProgress?.(stored);
      },
      (error: unknown) => {
        inFlight.delete(settled);
        failure ??= { error };
      },
    );
    inFlight.add(settled);
  };

  /** Waits until fewer than `limit` stores are in flight; rethrows a store's failure. */
  const drainTo = async (limit: number): Promise<void> => {
    signal?.throwIfAborted();
    while (inFlight.size > 0 && inFlight.size >= limit && failure === undefined) {
      await untilAborted(Promise.race(inFlight), signal);
    }
    if (failure !== undefined) throw failure.error;
  };

  const iterator = source[Symbol.asyncIterator]();
  let sourceDone = false;
  try {
    let buffer: Uint8Array | undefined; // the chunk being filled, always chunkSize long
    let filled = 0;
    for (;;) {
      // Raced against the signal so that a source that stalls cannot delay an abort.
      const pulled = iterator.next();
      pulled.catch(() => undefined); // awaited just below; this only covers an abort first
      const step = await untilAborted(pulled, signal);
      if (step.done === true) {
        sourceDone = true;
        break;
      }
      const piece = step.value;
      let offset = 0;
      while (offset < piece.length) {
        if (filled === 0 && piece.length - offset >= chunkSize) {
          // A whole chunk within this piece: seal it in place, no copy. Never final (see above).
          submit(piece.subarray(offset, offset + chunkSize), chunkSize, false);
          offset += chunkSize;
          total += chunkSize;
        } else {
          buffer ??= new Uint8Array(chunkSize);
          const take = Math.min(chunkSize - filled, piece.length - offset);
          buffer.set(piece.subarray(offset, offset + take), filled);
          filled += take;
          offset += take;
          total += take;
          if (filled < chunkSize) continue;
          submit(buffer, chunkSize, false);
          buffer = undefined; // released: only the sealed copy lives on, until stored
          filled = 0;
        }
        // Backpressure: hold the source while `concurrency` stores are outstanding.
        await drainTo(concurrency);
      }
    }
    signal?.throwIfAborted();
    // The last chunk: the content not yet sealed, then the padding. With 1 MiB chunks the two
    // always fit in one chunk (padding.ts), which the check below asserts rather than trusts.
    const tail = padTail(total);
    if (filled + tail.length > chunkSize) {
      throw new FsError('internal', 'padding does not fit in the last chunk', { op });
    }
    // A chunk boundary was the end of the content: the padding alone is the last chunk.
    let last = tail;
    if (buffer !== undefined) {
      buffer.set(tail, filled);
      last = buffer.subarray(0, filled + tail.length);
    }
    submit(last, filled, true);
    await drainTo(1);
    return { size: total, blocks };
  } catch (error) {
    // Leave nothing running behind us: stores in flight were given the signal, if any.
    await Promise.allSettled(inFlight);
    if (!sourceDone) await closeSource(iterator, signal);
    throw error;
  }
}

/** Lets a source release its resources when the write stops early (unless the write was aborted). */
async function closeSource(
  iterator: AsyncIterator<Uint8Array>,
  signal: AbortSignal | undefined,
): Promise<void> {
  if (iterator.return === undefined) return;
  try {
    const closing = iterator.return();
    closing.catch(() => undefined);
    await untilAborted(closing, signal);
  } catch {
    // The write's own error is the one to report; a source failing to close adds nothing.
  }
}

/** Settings of {@link readFileBlocks}. */
export interface ReadFileBlocksInit extends FileVersionRef {
  /** The file's content key. */
  fileKey: SecretBytes;
  /** The content size the metadata claims. */
  size: number;
  /** The block ids the metadata lists, in chunk order. */
  blocks: readonly BlockId[];
  /**
   * Fetches one sealed block, already checked against its id. Called with up to `prefetch` calls
   * outstanding; receives a signal that aborts when the read is abandoned.
   */
  fetch(id: BlockId, index: number, options: AbortOptions): Promise<Uint8Array>;
  /** Most blocks fetched ahead of the one being yielded (default 4). */
  prefetch?: number;
  /** Stops the read; the iteration rejects with the signal's reason. */
  signal?: AbortSignal;
}

/**
 * Streams a file's plaintext, opening each block at its position and stripping the padding from
 * the last one.
 *
 * Memory: at most `prefetch + 1` chunks are outstanding: the one being yielded and up to
 * `prefetch` fetched (or being fetched) ahead of it. Ending the iteration early (`break`) or an
 * error aborts the fetches still running.
 *
 * @throws FsError `integrity` when the block count does not match the size, any block fails to
 *   open at its position, or the content length differs from `size`; FsError `invalid` for bad
 *   settings; whatever `fetch` throws; the signal's reason on abort.
 */
export async function* readFileBlocks(
  init: ReadFileBlocksInit,
): AsyncGenerator<Uint8Array, void, undefined> {
  const op = 'file.read';
  const { fileKey, fileId, version, size, blocks, signal } = init;
  const prefetch = requireCount(init.prefetch, defaultPrefetch, 'prefetch', op);
  requireVersion(version, op);
  fileIdToBytes(fileId);
  // The size and the block list come from metadata a directory or peer may have altered.
  if (!Number.isSafeInteger(size) || size < 0 || size > maxFileSize) throw integrityError(op);
  const count = blocks.length;
  if (count !== blockCountFor(size)) throw integrityError(op);
  signal?.throwIfAborted();

  // Our own controller, so that abandoning the iteration also stops the fetches ahead of it.
  const controller = new AbortController();
  const onAbort = () => {
    controller.abort(signal?.reason);
  };
  signal?.addEventListener('abort', onAbort, { once: true });
  const options: AbortOptions = { signal: controller.signal };

  const ahead: Promise<Uint8Array>[] = [];
  let next = 0;
  const refill = () => {
    while (ahead.length < prefetch && next < count) {
      const index = next++;
      const fetched = init.fetch(blocks[index]!, index, options);
      // Handled when awaited in turn; this only keeps a failure of a block not yet reached
      // from being reported as an unhandled rejection if the read stops first.
      fetched.catch(() => undefined);
      ahead.push(fetched);
    }
  };

  try {
    let preceding = 0; // content bytes yielded so far
    for (let index = 0; index < count; index++) {
      refill();
      const sealed = await untilAborted(ahead.shift()!, signal);
      refill();
      const final = index === count - 1;
      // openChunk also checks the length bound before decrypting.
      const plaintext = openChunk(fileKey, { fileId, version, index, final }, sealed);
      if (!final) {
        // Every chunk before the last holds exactly one chunk of content.
        if (plaintext.length !== fileChunkSize) throw integrityError(op);
        preceding += plaintext.length;
        signal?.throwIfAborted();
        yield plaintext;
        continue;
      }
      const content = unpadFinalChunk(plaintext, preceding);
      if (preceding + content.length !== size) throw integrityError(op);
      signal?.throwIfAborted();
      if (content.length > 0) yield content;
    }
  } finally {
    signal?.removeEventListener('abort', onAbort);
    controller.abort(); // fetches still running are of no use now
  }
}

// ---------------------------------------------------------------------------------------------
// Sealed file metadata, format 2:
//   [0]      format version, 0x02
//   [1..9)   u64be content version: the entry version whose write sealed these chunks
//   [9..21)  nonce, 12 random bytes
//   [21..)   AES-256-GCM ciphertext, then the 16-byte tag, of canonical CBOR
//            {v: 2, size, chunk, mtime, blocks: [block id text], ckey?: bytes(32)}
// `ckey` is present only when the chunks are sealed under a key other than the entry's file
// key (the file key was rotated since they were written).
// Key: HKDF-SHA256(file key, salt empty, info = label(meta-key)). Associated data:
// label(meta) || 0x02 || fileId (16) || u64be(content version), so metadata cannot be moved to
// another file or claim another content version.
//
// Why the content version travels with the metadata: a version that changes only who has access
// (a share), deletes or restores carries the metadata of the content it keeps, unchanged, so no
// byte of the file is sealed again; its chunks stay sealed at their own version. A reader opens
// the chunks at the content version, which may not be newer than the entry version it reads.
// ---------------------------------------------------------------------------------------------

/** The format version written by {@link sealFileMeta}. */
export const fileMetaFormatVersion = 2;

/** What a file version's metadata says about its content. */
export interface FileMeta {
  /** Content bytes, without padding. */
  size: number;
  /** Block ids in chunk order; exactly {@link blockCountFor}(size) of them. */
  blocks: BlockId[];
  /** Modification time, ms since the epoch. */
  mtime: number;
  /** Plaintext bytes per chunk; always {@link fileChunkSize}. */
  chunkSize: number;
  /**
   * The key the chunks are sealed under when it is not the entry's file key: after the file key
   * was rotated (a revocation), the content written before keeps its key, carried here, sealed
   * under the new one. Absent when the chunks are sealed under the file key itself.
   */
  contentKey?: SecretBytes;
}

/** Metadata as a reader opened it: with the version its chunks are sealed at. */
export interface OpenedFileMeta extends FileMeta {
  /** The entry version whose write sealed the chunks (read them at this version). */
  contentVersion: number;
}

const metaKeys = ['v', 'size', 'chunk', 'mtime', 'blocks'] as const;
const metaKeysWithContentKey = [...metaKeys, 'ckey'] as const;
const metaInfo = labelBytes(labels.metaKey);
const metaAdLabel = labelBytes(labels.metaAd);
const emptySalt = new Uint8Array(0);
const metaHeaderBytes = 1 + 8 + aeadNonceBytes;

function metaKey(fileKey: SecretBytes): Uint8Array {
  return hkdfSha256(fileKey.expose(), emptySalt, metaInfo, 32);
}

function metaAssociatedData(where: FileVersionRef): Uint8Array {
  return concatBytes(
    metaAdLabel,
    Uint8Array.of(fileMetaFormatVersion),
    fileIdToBytes(where.fileId),
    u64be(where.version),
  );
}

/**
 * Seals a file version's metadata for its directory entry; `where.version` is the version the
 * content's chunks were sealed at.
 * @throws FsError `invalid` when the metadata is inconsistent (block count not matching the
 *   size, a malformed block id, a chunk size other than {@link fileChunkSize}, a bad time).
 */
export function sealFileMeta(
  fileKey: SecretBytes,
  where: FileVersionRef,
  meta: FileMeta,
): Uint8Array {
  const op = 'file-meta.seal';
  requireVersion(where.version, op);
  const invalid = () => new FsError('invalid', 'inconsistent file metadata', { op });
  if (meta.chunkSize !== fileChunkSize) throw invalid();
  if (!Number.isSafeInteger(meta.mtime) || meta.mtime < 0) throw invalid();
  if (!Number.isSafeInteger(meta.size) || meta.size < 0 || meta.size > maxFileSize) throw invalid();
  if (meta.blocks.length !== blockCountFor(meta.size)) throw invalid();
  for (const id of meta.blocks) parseBlockId(id);
  if (meta.contentKey !== undefined && meta.contentKey.length !== 32) throw invalid();
  const plaintext = encodeCanonical({
    v: fileMetaFormatVersion,
    size: meta.size,
    chunk: meta.chunkSize,
    mtime: meta.mtime,
    blocks: [...meta.blocks],
    ...(meta.contentKey === undefined ? {} : { ckey: meta.contentKey.expose() }),
  });
  const nonce = randomBytesOf(aeadNonceBytes);
  const key = metaKey(fileKey);
  try {
    return aeadSeal(
      key,
      nonce,
      plaintext,
      metaAssociatedData(where),
      concatBytes(Uint8Array.of(fileMetaFormatVersion), u64be(where.version), nonce),
    );
  } finally {
    key.fill(0);
  }
}

/**
 * Opens sealed metadata read at entry version `where.version`, checking that it belongs to this
 * file, that its content version is not newer than that, and that it is consistent.
 * @throws FsError `integrity` on anything wrong: altered, moved, truncated, non-canonical,
 *   unknown fields, malformed block ids, a block count that does not match the size, or a
 *   content version newer than the entry version.
 */
export function openFileMeta(
  fileKey: SecretBytes,
  where: FileVersionRef,
  sealed: Uint8Array,
): OpenedFileMeta {
  const op = 'file-meta.open';
  if (sealed.length < metaHeaderBytes + aeadTagBytes || sealed.length > entryLimits.metaBytes) {
    throw integrityError(op);
  }
  if (sealed[0] !== fileMetaFormatVersion) throw integrityError(op);
  if (!Number.isSafeInteger(where.version) || where.version < 0) throw integrityError(op);
  const header = new DataView(sealed.buffer, sealed.byteOffset + 1, 8);
  const contentVersion = Number(header.getBigUint64(0));
  if (!Number.isSafeInteger(contentVersion) || contentVersion > where.version) {
    throw integrityError(op);
  }
  const key = metaKey(fileKey);
  let plaintext: Uint8Array;
  try {
    plaintext = aeadOpen(
      key,
      sealed.subarray(9, metaHeaderBytes),
      sealed.subarray(metaHeaderBytes),
      metaAssociatedData({ fileId: where.fileId, version: contentVersion }),
      op,
    );
  } finally {
    key.fill(0);
  }
  const probe = decodeCanonical(plaintext, op, entryLimits.metaBytes);
  const withKey = isMap(probe) && Object.hasOwn(probe, 'ckey');
  const map: CborMap = decodeMap(
    plaintext,
    withKey ? metaKeysWithContentKey : metaKeys,
    op,
    entryLimits.metaBytes,
  );
  if (field.uint(map, 'v', op) !== fileMetaFormatVersion) throw integrityError(op);
  const chunkSize = field.uint(map, 'chunk', op);
  if (chunkSize !== fileChunkSize) throw integrityError(op);
  const size = field.uint(map, 'size', op);
  const mtime = field.uint(map, 'mtime', op);
  if (size > maxFileSize) throw integrityError(op);
  const list = map.blocks;
  if (!Array.isArray(list) || list.length !== blockCountFor(size)) throw integrityError(op);
  const blocks = (list as readonly unknown[]).map((item) => {
    if (typeof item !== 'string') throw integrityError(op);
    try {
      return parseBlockId(item);
    } catch {
      throw integrityError(op);
    }
  });
  const opened: OpenedFileMeta = { size, blocks, mtime, chunkSize, contentVersion };
  if (withKey) opened.contentKey = SecretBytes.copyOf(field.bytes(map, 'ckey', op, 32));
  return opened;
}

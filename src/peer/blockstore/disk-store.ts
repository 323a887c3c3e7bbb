/**
 * The peer's block store on disk: one file per block, named by its id.
 *
 * Layout under `dir` (directories 0700, files 0600):
 *   blocks/<first two characters of the id>/<id>   the blocks
 *   tmp/<id>.<random>                              writes in progress; emptied at start
 *   quarantine/<id>.<time>.<random>                blocks that failed verification on read
 *
 * One level of 4096 shards (64² two-character prefixes) keeps directories a few hundred entries
 * long up to a million blocks (about a terabyte of 1 MiB chunks); a second level would give
 * almost every block a directory of its own, which costs an inode and a directory fsync per put.
 *
 * A put writes a temporary file, fsyncs it, renames it into its shard and fsyncs the shard, so
 * a crash leaves either no block or the whole block, plus at worst a temporary file that the
 * next start removes. Reads always re-hash; a block that fails is reported, moved to
 * quarantine (never served again, kept for examination) and refused with `integrity`. A file
 * larger than any block is reported `unreadable` without being read, as is one the disk fails
 * to read (EIO). Quarantined files no longer count against the capacity; emptying
 * quarantine/ is left to the operator.
 *
 * One store instance per directory at a time: usage is counted in memory (scanned at start),
 * and the start-up cleanup would remove another instance's writes in progress.
 */
import { randomBytes } from 'node:crypto';
import {
  type FileHandle,
  chmod,
  lstat,
  mkdir,
  open,
  opendir,
  readdir,
  rename,
  rm,
  unlink,
} from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { blockIdOf, verifyBlock } from '../../crypto/block-id.js';
import { concatBytes } from '../../crypto/bytes.js';
import {
  type AbortOptions,
  type BlockStore,
  type BlockStoreInit,
  type BlockStoreUsage,
  type IntegrityReport,
  maxBlockBytes,
} from '../../interface/block-store.js';
import { FsError, integrityError, isFsError } from '../../interface/errors.js';
import { type BlockId, parseBlockId } from '../../interface/ids.js';

/** Settings of {@link createDiskBlockStore}. */
export interface DiskBlockStoreInit extends BlockStoreInit {
  /** The store's own directory: created when missing, and made 0700 either way. */
  dir: string;
}

const dirMode = 0o700;
const fileMode = 0o600;
/** Characters of the id that name its shard directory. */
const shardChars = 2;
const shardName = /^[A-Za-z0-9_-]{2}$/;

/** What a block file was when it was read, to tell it from a file later put in its place. */
interface FileIdentity {
  dev: number;
  ino: number;
  size: number;
}

function errorCode(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null || !('code' in err)) return undefined;
  return typeof err.code === 'string' ? err.code : undefined;
}

/**
 * A file-system failure as an FsError. A full disk or too many open files is `unavailable`
 * (retrying later or elsewhere can work); anything else is `internal`. Messages name no path.
 */
function fsFailure(err: unknown, op: string): FsError {
  if (isFsError(err)) return err;
  const code = errorCode(err);
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    return new FsError('unavailable', "this peer's disk is full", { op, cause: err });
  }
  if (code === 'EMFILE' || code === 'ENFILE') {
    return new FsError('unavailable', 'this peer has too many files open; try again', {
      op,
      cause: err,
    });
  }
  return new FsError('internal', 'the block store could not access its files', { op, cause: err });
}

/** Parses a directory entry's name as a block id, or returns undefined for anything else. */
function blockIdOrUndefined(name: string): BlockId | undefined {
  try {
    return parseBlockId(name);
  } catch {
    return undefined;
  }
}

/**
 * Makes a directory's entries durable: a rename or unlink is on disk only once its directory
 * is. Windows cannot open a directory for fsync and needs no such step.
 */
async function fsyncDir(path: string): Promise<void> {
  if (process.platform === 'win32') return;
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Writes all of `bytes` at the start of the file; write() may write less than asked. */
async function writeAll(handle: FileHandle, bytes: Uint8Array): Promise<void> {
  let offset = 0;
  while (offset < bytes.length) {
    const { bytesWritten } = await handle.write(bytes, offset, bytes.length - offset, offset);
    offset += bytesWritten;
  }
}

/** Reads `length` bytes from the start of the file; undefined when the file ends sooner. */
async function readAll(handle: FileHandle, length: number): Promise<Uint8Array | undefined> {
  // A fresh zeroed array, never Buffer's shared pool: the caller gets the whole ArrayBuffer.
  const bytes = new Uint8Array(length);
  let offset = 0;
  while (offset < length) {
    const { bytesRead } = await handle.read(bytes, offset, length - offset, offset);
    if (bytesRead === 0) return undefined;
    offset += bytesRead;
  }
  return bytes;
}

class DiskBlockStore implements BlockStore {
  readonly #blocksDir: string;
  readonly #tmpDir: string;
  readonly #quarantineDir: string;
  readonly #capacity: number;
  readonly #onIntegrityFailure: ((report: IntegrityReport) => void) | undefined;
  #blocks: number;
  #bytes: number;
  /** Bytes of puts between their capacity check and their rename. */
  #reserved = 0;
  #closed = false;
  /** The tail of each block's queue of changes (put, delete, quarantine). */
  readonly #locks = new Map<BlockId, Promise<void>>();
  /** Calls in progress, which close() lets finish. */
  readonly #inFlight = new Set<Promise<unknown>>();

  constructor(dir: string, init: BlockStoreInit, usage: { blocks: number; bytes: number }) {
    this.#blocksDir = join(dir, 'blocks');
    this.#tmpDir = join(dir, 'tmp');
    this.#quarantineDir = join(dir, 'quarantine');
    this.#capacity = init.capacity;
    this.#onIntegrityFailure = init.onIntegrityFailure;
    this.#blocks = usage.blocks;
    this.#bytes = usage.bytes;
  }

  put(
    id: BlockId,
    bytes: Uint8Array | readonly Uint8Array[],
    options: AbortOptions = {},
  ): Promise<void> {
    const op = 'block.put';
    return this.#track(op, options, async () => {
      const parts = bytes instanceof Uint8Array ? [bytes] : bytes;
      let size = 0;
      for (const part of parts) size += part.length;
      if (size > maxBlockBytes) {
        throw new FsError('invalid', `a block is at most ${maxBlockBytes} bytes`, { op });
      }
      const { shard, file } = this.#pathOf(id, op);
      // Hash and write one private copy: the caller's buffers may change while the write is
      // queued, and the bytes that reach the disk must be exactly the bytes that were checked.
      const sealed = concatBytes(...parts);
      if (blockIdOf(sealed) !== id) throw integrityError(op);

      await this.#withLock(id, async () => {
        options.signal?.throwIfAborted();
        if (await this.#exists(file, op)) return; // idempotent: same id, same bytes
        if (this.#bytes + this.#reserved + size > this.#capacity) {
          throw new FsError(
            'unavailable',
            `this peer's store is full (${this.#bytes} of ${this.#capacity} bytes used)`,
            { op },
          );
        }
        this.#reserved += size;
        const tmp = join(this.#tmpDir, `${id}.${randomBytes(6).toString('hex')}`);
        let committed = false;
        try {
          const handle = await open(tmp, 'wx', fileMode);
          try {
            await writeAll(handle, sealed);
            await handle.sync();
          } finally {
            await handle.close();
          }
          // The last moment to give up: after the rename the block is stored.
          options.signal?.throwIfAborted();
          await this.#ensureShard(shard);
          await rename(tmp, file);
          committed = true;
          await fsyncDir(shard);
        } catch (err) {
          if (committed) throw fsFailure(err, op);
          await rm(tmp, { force: true }).catch(() => undefined);
          // An abort is the caller's own doing: they get their reason back, not an FsError.
          options.signal?.throwIfAborted();
          throw fsFailure(err, op);
        } finally {
          this.#reserved -= size;
          if (committed) {
            this.#blocks += 1;
            this.#bytes += size;
          }
        }
      });
    });
  }

  get(id: BlockId, options: AbortOptions = {}): Promise<Uint8Array> {
    const op = 'block.get';
    return this.#track(op, options, async () => {
      const { file } = this.#pathOf(id, op);
      let handle: FileHandle;
      try {
        handle = await open(file, 'r');
      } catch (err) {
        if (errorCode(err) === 'ENOENT') throw new FsError('not-exist', 'no such block', { op });
        throw fsFailure(err, op);
      }
      let identity: FileIdentity | undefined;
      let bytes: Uint8Array | undefined;
      try {
        const stat = await handle.stat();
        identity = { dev: stat.dev, ino: stat.ino, size: stat.size };
        options.signal?.throwIfAborted();
        // put() never stores a larger block, so a larger file is damage; refusing it before
        // reading keeps memory bounded by one block.
        if (stat.size <= maxBlockBytes) bytes = await readAll(handle, stat.size);
      } catch (err) {
        options.signal?.throwIfAborted();
        // EIO while reading is the disk failing to give the bytes back: as good as corrupt.
        // Anything else (say, too many open files) says nothing about the block.
        if (identity === undefined || errorCode(err) !== 'EIO') throw fsFailure(err, op);
      } finally {
        await handle.close();
      }
      if (bytes === undefined) return this.#refuse(id, file, identity, 'unreadable', op);
      try {
        verifyBlock(id, bytes);
      } catch {
        return this.#refuse(id, file, identity, 'hash-mismatch', op);
      }
      return bytes;
    });
  }

  has(id: BlockId, options: AbortOptions = {}): Promise<boolean> {
    const op = 'block.has';
    return this.#track(op, options, async () => this.#exists(this.#pathOf(id, op).file, op));
  }

  delete(id: BlockId, options: AbortOptions = {}): Promise<void> {
    const op = 'block.delete';
    return this.#track(op, options, async () => {
      const { shard, file } = this.#pathOf(id, op);
      await this.#withLock(id, async () => {
        options.signal?.throwIfAborted();
        try {
          const stat = await lstat(file);
          await unlink(file);
          this.#blocks -= 1;
          this.#bytes -= stat.size;
          await fsyncDir(shard);
        } catch (err) {
          if (errorCode(err) === 'ENOENT') return;
          throw fsFailure(err, op);
        }
      });
    });
  }

  async *list(options: AbortOptions = {}): AsyncGenerator<BlockId> {
    const op = 'block.list';
    this.#checkUsable(op, options);
    for (const shard of await this.#readdirOrEmpty(this.#blocksDir, op)) {
      if (!shardName.test(shard)) continue;
      this.#checkUsable(op, options);
      let entries;
      try {
        entries = await opendir(join(this.#blocksDir, shard));
      } catch (err) {
        if (errorCode(err) === 'ENOENT' || errorCode(err) === 'ENOTDIR') continue;
        throw fsFailure(err, op);
      }
      for await (const entry of entries) {
        const id = entry.isFile() ? blockIdOrUndefined(entry.name) : undefined;
        if (id !== undefined && id.startsWith(shard)) yield id;
      }
    }
  }

  usage(): Promise<BlockStoreUsage> {
    return this.#track('block.usage', {}, () =>
      Promise.resolve({ blocks: this.#blocks, bytes: this.#bytes, capacity: this.#capacity }),
    );
  }

  async close(): Promise<void> {
    this.#closed = true;
    await Promise.allSettled([...this.#inFlight]);
  }

  /** Runs one call: refused once closed or aborted, and awaited by close(). */
  async #track<T>(op: string, options: AbortOptions, run: () => Promise<T>): Promise<T> {
    this.#checkUsable(op, options);
    const promise = run();
    this.#inFlight.add(promise);
    try {
      return await promise;
    } finally {
      this.#inFlight.delete(promise);
    }
  }

  #checkUsable(op: string, options: AbortOptions): void {
    if (this.#closed) throw new FsError('unavailable', 'the block store is closed', { op });
    options.signal?.throwIfAborted();
  }

  /** The block's shard directory and file. @throws FsError `invalid` for a malformed id */
  #pathOf(id: BlockId, op: string): { shard: string; file: string } {
    // Ids arrive from the network; parsing keeps anything but 43 base64url characters (say,
    // `../`) out of the path even if a caller forgot to parse.
    if (blockIdOrUndefined(id) === undefined) {
      throw new FsError('invalid', 'not a block id', { op });
    }
    const shard = join(this.#blocksDir, id.slice(0, shardChars));
    return { shard, file: join(shard, id) };
  }

  async #exists(file: string, op: string): Promise<boolean> {
    try {
      return (await lstat(file)).isFile();
    } catch (err) {
      if (errorCode(err) === 'ENOENT') return false;
      throw fsFailure(err, op);
    }
  }

  async #ensureShard(shard: string): Promise<void> {
    // mkdir returns the first directory it made, if any; a new shard's entry in blocks/ must
    // be durable before a block inside it can be.
    if ((await mkdir(shard, { recursive: true, mode: dirMode })) !== undefined) {
      await fsyncDir(this.#blocksDir);
    }
  }

  async #readdirOrEmpty(path: string, op: string): Promise<string[]> {
    try {
      return await readdir(path);
    } catch (err) {
      if (errorCode(err) === 'ENOENT') return [];
      throw fsFailure(err, op);
    }
  }

  /**
   * Security: a block that fails verification is reported, moved out of the store so that it
   * is never served again (repair can then put a good copy), and refused with `integrity`.
   */
  async #refuse(
    id: BlockId,
    file: string,
    read: FileIdentity,
    problem: IntegrityReport['problem'],
    op: string,
  ): Promise<never> {
    const at = Date.now();
    try {
      this.#onIntegrityFailure?.({ id, problem, at });
    } catch {
      // The monitor's failure must not turn a refused block into a served one or hide why.
    }
    await this.#withLock(id, async () => {
      // Move only the file that was read: a concurrent get may have moved it already, or a
      // delete and a fresh put may have replaced it with good bytes.
      let current;
      try {
        current = await lstat(file);
      } catch (err) {
        if (errorCode(err) === 'ENOENT') return;
        throw fsFailure(err, op);
      }
      if (current.dev !== read.dev || current.ino !== read.ino) return;
      const target = join(this.#quarantineDir, `${id}.${at}.${randomBytes(4).toString('hex')}`);
      try {
        await rename(file, target);
      } catch (err) {
        throw fsFailure(err, op);
      }
      this.#blocks -= 1;
      // The size on disk now: a file resized outside the store leaves the total off by the
      // difference until the next start's scan.
      this.#bytes -= current.size;
      try {
        await Promise.all([fsyncDir(dirname(file)), fsyncDir(this.#quarantineDir)]);
      } catch (err) {
        throw fsFailure(err, op);
      }
    });
    throw integrityError(op);
  }

  /** Runs `run` after every earlier change of the same block, so each sees the last's result. */
  async #withLock<T>(id: BlockId, run: () => Promise<T>): Promise<T> {
    const previous = this.#locks.get(id) ?? Promise.resolve();
    let release = (): void => undefined;
    const done = new Promise<void>((resolve) => {
      release = resolve;
    });
    const tail = previous.then(() => done);
    this.#locks.set(id, tail);
    await previous;
    try {
      return await run();
    } finally {
      release();
      if (this.#locks.get(id) === tail) this.#locks.delete(id);
    }
  }
}

/** Creates `path` if needed and makes it private to this user, whatever the umask. */
async function privateDir(path: string): Promise<void> {
  await mkdir(path, { recursive: true, mode: dirMode });
  await chmod(path, dirMode);
}

/** Removes every write that a crash interrupted; none of them was ever a stored block. */
async function cleanTmp(tmpDir: string): Promise<void> {
  const names = await readdir(tmpDir);
  await Promise.all(names.map((name) => rm(join(tmpDir, name), { recursive: true, force: true })));
  if (names.length > 0) await fsyncDir(tmpDir);
}

/** Counts the stored blocks; only well-named files in their right shard are blocks. */
async function scan(blocksDir: string): Promise<{ blocks: number; bytes: number }> {
  let blocks = 0;
  let bytes = 0;
  for (const shard of await readdir(blocksDir, { withFileTypes: true })) {
    if (!shard.isDirectory() || !shardName.test(shard.name)) continue;
    const shardDir = join(blocksDir, shard.name);
    const entries = await readdir(shardDir, { withFileTypes: true });
    // One shard at a time, its stats in parallel: a few hundred files, not the whole store.
    const sizes = await Promise.all(
      entries
        .filter((e) => e.isFile() && blockIdOrUndefined(e.name)?.startsWith(shard.name) === true)
        .map(async (e) => (await lstat(join(shardDir, e.name))).size),
    );
    blocks += sizes.length;
    for (const size of sizes) bytes += size;
  }
  return { blocks, bytes };
}

/**
 * Opens the block store in `init.dir`, creating it when missing: removes writes a crash
 * interrupted and counts the stored blocks (one stat per block).
 * @throws FsError `invalid` for a capacity that is not a non-negative number
 */
export async function createDiskBlockStore(init: DiskBlockStoreInit): Promise<BlockStore> {
  const op = 'block-store.open';
  if (!Number.isFinite(init.capacity) || init.capacity < 0) {
    throw new FsError('invalid', 'the capacity must be a non-negative number of bytes', { op });
  }
  if (init.dir === '') throw new FsError('invalid', 'the block store needs a directory', { op });
  try {
    await privateDir(init.dir);
    const blocksDir = join(init.dir, 'blocks');
    const tmpDir = join(init.dir, 'tmp');
    await Promise.all([
      privateDir(blocksDir),
      privateDir(tmpDir),
      privateDir(join(init.dir, 'quarantine')),
    ]);
    await cleanTmp(tmpDir);
    return new DiskBlockStore(init.dir, init, await scan(blocksDir));
  } catch (err) {
    throw fsFailure(err, op);
  }
}

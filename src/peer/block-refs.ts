/**
 * Who stored what: for each block this peer holds, the user and file named by the capability
 * that first stored it. A block release (wire/block-release.ts) deletes a block only when its
 * signer and file match this record, so nobody can release another user's blocks.
 *
 * Kept as an append-only log of JSON lines, loaded into a map at start:
 *   {"op":"put","id":<block id>,"user":<user name>,"file":<file id>}
 *   {"op":"forget","id":<block id>}
 *
 * Durability, on purpose: lines are appended without an fsync on each write. A line lost in a
 * crash only means that block can never be released (it wastes space); it never loses data,
 * because a block without a record is never deleted. A line torn by a crash fails to parse and
 * is skipped. At load, a log with many dead lines (forgotten blocks, torn or unreadable lines)
 * is rewritten atomically (temporary file, fsync, rename, fsync of the directory).
 *
 * Security-sensitive: this record is what stands between a release and another user's blocks.
 * The first record wins: a later put of the same bytes by someone else does not take the
 * block over (otherwise anyone holding a copy of the bytes could claim, then release, it).
 */
import {
  closeSync,
  createReadStream,
  fsyncSync,
  openSync,
  readSync,
  renameSync,
  statSync,
  writeSync,
} from 'node:fs';
import { open } from 'node:fs/promises';
import { dirname } from 'node:path';
import { createInterface } from 'node:readline';
import { FsError } from '../interface/errors.js';
import {
  type BlockId,
  type FileId,
  fileIdBytes,
  parseBlockId,
  parseFileId,
} from '../interface/ids.js';
import { parseUserName, type UserName } from '../interface/names.js';

/** Settings of {@link createBlockRefs}. */
export interface BlockRefsInit {
  /** The log file (created 0600 if absent; its directory must exist). */
  path: string;
}

/** The record of who stored each block. Not safe to share between processes. */
export interface BlockRefs {
  /**
   * Records that `user` stored `id` under `file`, unless the block already has a record (the
   * first record wins). The map is updated even if the log write fails.
   * @throws FsError `unavailable` when the line cannot be written (the block then cannot be
   *   released after a restart, nothing worse)
   */
  record(id: BlockId, user: UserName, file: FileId): void;
  /** The file `id` was first stored under, when known. */
  fileOf(id: BlockId): FileId | undefined;
  /** Whether `id` was first stored by `user` under `file`. */
  matches(id: BlockId, user: UserName, file: FileId): boolean;
  /**
   * Drops the record of `id` (after the block was deleted). Absent records are fine.
   * @throws FsError `unavailable` when the line cannot be written
   */
  forget(id: BlockId): void;
  /** Blocks with a record. */
  readonly size: number;
  /** Closes the log; idempotent. Later writes throw `unavailable`. */
  close(): Promise<void>;
}

/**
 * Dead lines that make a load rewrite the log, when they are also more than the live ones (so
 * a rewrite at least halves the file, and small logs are left alone).
 */
export const compactAfterDeadLines = 1024;

/** One line of the log, or undefined for a line that does not parse (torn, foreign). */
function parseLine(
  line: string,
):
  | { op: 'put'; id: BlockId; user: UserName; file: FileId }
  | { op: 'forget'; id: BlockId }
  | undefined {
  if (line.length === 0 || line.length > 256) return undefined;
  try {
    const value = JSON.parse(line) as Record<string, unknown>;
    if (typeof value !== 'object' || value === null || typeof value['id'] !== 'string') {
      return undefined;
    }
    const id = parseBlockId(value['id']);
    if (value['op'] === 'forget') return { op: 'forget', id };
    if (value['op'] !== 'put' || typeof value['user'] !== 'string') return undefined;
    if (typeof value['file'] !== 'string') return undefined;
    return {
      op: 'put',
      id,
      user: parseUserName(value['user']),
      file: parseFileId(value['file']),
    };
  } catch {
    return undefined;
  }
}

const putLine = (id: BlockId, user: UserName, file: FileId): string =>
  JSON.stringify({ op: 'put', id, user, file }) + '\n';

/**
 * The owner of a block as one short string: the file id (always {@link fileIdBytes} bytes, so
 * 22 characters) followed by the user name. About 60 bytes of string per block, plus the key.
 */
const ownerOf = (user: UserName, file: FileId): string => file + user;
const fileIdChars = Math.ceil((fileIdBytes * 4) / 3);

/** Whether a non-empty file ends without a newline (its last line was torn by a crash). */
function endsTorn(path: string): boolean {
  const size = statSync(path).size;
  if (size === 0) return false;
  const fd = openSync(path, 'r');
  try {
    const last = Buffer.alloc(1);
    readSync(fd, last, 0, 1, size - 1);
    return last[0] !== 0x0a;
  } finally {
    closeSync(fd);
  }
}

/** Rewrites the log with only the live records: temporary file, fsync, rename, fsync dir. */
async function rewrite(path: string, owners: ReadonlyMap<BlockId, string>): Promise<void> {
  const temp = `${path}.tmp-${process.pid}`;
  const handle = await open(temp, 'w', 0o600);
  try {
    // Batched, so a large log is neither one huge string nor one write per line.
    let batch: string[] = [];
    let batchChars = 0;
    for (const [id, owner] of owners) {
      const line = putLine(
        id,
        owner.slice(fileIdChars) as UserName,
        owner.slice(0, fileIdChars) as FileId,
      );
      batch.push(line);
      batchChars += line.length;
      if (batchChars >= 64 * 1024) {
        await handle.write(batch.join(''));
        batch = [];
        batchChars = 0;
      }
    }
    if (batch.length > 0) await handle.write(batch.join(''));
    await handle.sync();
  } finally {
    await handle.close();
  }
  renameSync(temp, path);
  const dirFd = openSync(dirname(path), 'r');
  try {
    fsyncSync(dirFd);
  } finally {
    closeSync(dirFd);
  }
}

/** Reads the log into a map, counting its lines. A missing log is an empty one. */
async function load(path: string): Promise<{ owners: Map<BlockId, string>; lines: number }> {
  const owners = new Map<BlockId, string>();
  let lines = 0;
  const input = createReadStream(path, { encoding: 'utf8' });
  // Waits for the open, so a missing file is told apart from a failing one.
  const opened = await new Promise<NodeJS.ErrnoException | undefined>((resolve) => {
    input.once('error', resolve);
    input.once('open', () => resolve(undefined));
  });
  if (opened?.code === 'ENOENT') return { owners, lines };
  if (opened !== undefined) throw opened;
  for await (const line of createInterface({ input, crlfDelay: Infinity })) {
    lines += 1;
    const entry = parseLine(line);
    if (entry === undefined) continue;
    if (entry.op === 'forget') owners.delete(entry.id);
    else if (!owners.has(entry.id)) owners.set(entry.id, ownerOf(entry.user, entry.file));
  }
  return { owners, lines };
}

/**
 * Opens (or creates) the record at `path`, loading it and compacting it first when it has many
 * dead lines or a torn last line.
 * @throws FsError `unavailable` when the log cannot be read or opened for appending
 */
export async function createBlockRefs(init: BlockRefsInit): Promise<BlockRefs> {
  const op = 'block-refs.open';
  let owners: Map<BlockId, string>;
  let fd: number;
  try {
    const loaded = await load(init.path);
    owners = loaded.owners;
    const dead = loaded.lines - owners.size;
    // A torn tail must go before appending, or the next line would be glued onto it.
    if (
      (dead >= compactAfterDeadLines && dead > owners.size) ||
      (loaded.lines > 0 && endsTorn(init.path))
    ) {
      await rewrite(init.path, owners);
    }
    fd = openSync(init.path, 'a', 0o600);
  } catch (err) {
    throw new FsError('unavailable', `cannot open the block record ${init.path}`, {
      op,
      cause: err,
    });
  }

  let closed = false;
  /** Set when a write failed part way: the next line starts on a fresh line. */
  let torn = false;
  const append = (line: string, what: string): void => {
    if (closed) {
      throw new FsError('unavailable', 'the block record is closed', { op: `block-refs.${what}` });
    }
    try {
      // A synchronous append of one short line to the page cache (no fsync): it keeps the log in
      // the map's order without a queue, and costs microseconds.
      writeSync(fd, torn ? '\n' + line : line);
      torn = false;
    } catch (err) {
      torn = true;
      throw new FsError('unavailable', 'cannot write the block record', {
        op: `block-refs.${what}`,
        cause: err,
      });
    }
  };

  return {
    record(id, user, file) {
      if (owners.has(id)) return; // the first record wins
      owners.set(id, ownerOf(user, file));
      append(putLine(id, user, file), 'record');
    },
    fileOf(id) {
      const owner = owners.get(id);
      return owner === undefined ? undefined : (owner.slice(0, fileIdChars) as FileId);
    },
    matches(id, user, file) {
      return owners.get(id) === ownerOf(user, file);
    },
    forget(id) {
      if (!owners.delete(id)) return;
      append(JSON.stringify({ op: 'forget', id }) + '\n', 'forget');
    },
    get size() {
      return owners.size;
    },
    close() {
      if (!closed) {
        closed = true;
        closeSync(fd);
      }
      return Promise.resolve();
    },
  };
}

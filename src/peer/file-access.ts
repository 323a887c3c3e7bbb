/**
 * Gate 3 of the block protocol: a valid capability proves who issued it, not that they may
 * touch the file it names. Here a peer checks that the issuer is the file's owner or a writer
 * (to store blocks) or any grantee (to read, ask for or prove blocks), from the file's current
 * entry, which it fetches from the directory and verifies itself: the entry must be signed by
 * its owner or one of its writers, by their current keys. And a block this peer stored under
 * one file is served only under that file, so naming a file one may read does not open the
 * blocks of others.
 *
 * A file with no entry at the directory (one being created: its blocks go out before its entry,
 * or one purged) can be stored under by anyone, and read only by whoever stored the block.
 *
 * Answers are cached for {@link fileAccessTtlMs}: a grant withdrawn at the directory reaches
 * peers within that time (immediate revocation is the revocation issue's). If the directory
 * cannot be reached, the last answer is used, however old, so reads go on.
 */
import { FsError } from '../interface/errors.js';
import type { BlockId, FileId } from '../interface/ids.js';
import type { UserName } from '../interface/names.js';
import type { BlockOp, Capability } from '../wire/capability.js';
import { decodeDirEntryUnverified, openDirEntry } from '../wire/dir-entry.js';

/** How long a peer trusts what it learned about a file's owner and grantees. */
export const fileAccessTtlMs = 30_000;

/** What a peer needs to decide. */
export interface FileAccessInit {
  /** The file's current entry envelope. @throws FsError `not-exist` for a purged or unknown file */
  fetchEntry(file: FileId): Promise<Uint8Array>;
  /** A user's current signing key (from their verified key log). */
  signingKey(user: UserName): Promise<Uint8Array>;
  /** The file a block was first stored under here, if known. */
  storedUnder(block: BlockId): FileId | undefined;
  /** Whether `user` first stored `block` here under `file`. */
  storedBy(block: BlockId, user: UserName, file: FileId): boolean;
  now(): number;
}

interface Access {
  owner: UserName;
  writers: ReadonlySet<UserName>;
  readers: ReadonlySet<UserName>;
}

/** Builds the check (the block server's `authorizeFile`). */
export function createFileAccess(
  init: FileAccessInit,
): (capability: Capability, op: BlockOp, block: BlockId) => Promise<void> {
  const known = new Map<FileId, { access: Access | 'gone'; at: number }>();

  const load = async (file: FileId): Promise<Access | 'gone'> => {
    let envelope: Uint8Array;
    try {
      envelope = await init.fetchEntry(file);
    } catch (err) {
      if (err instanceof FsError && err.kind === 'not-exist') return 'gone';
      throw err;
    }
    const claimed = decodeDirEntryUnverified(envelope);
    const signers = [claimed.owner, ...claimed.acl.w];
    const keys = await Promise.all(
      signers.map((user) =>
        init.signingKey(user).catch((err: unknown) => {
          // An entry naming a user who does not exist was not made by anyone honest.
          if (err instanceof FsError && err.kind === 'not-exist') {
            throw new FsError('integrity', 'the file names an unknown user', { op: 'file.access' });
          }
          throw err;
        }),
      ),
    );
    const { body } = openDirEntry(envelope, keys);
    if (body.id !== file) {
      throw new FsError('integrity', 'the directory answered with another file', {
        op: 'file.access',
      });
    }
    return {
      owner: body.owner,
      writers: new Set(body.acl.w),
      readers: new Set([...body.acl.r, ...body.acl.w]),
    };
  };

  const accessOf = async (file: FileId): Promise<Access | 'gone'> => {
    const hit = known.get(file);
    if (hit && init.now() - hit.at < (hit.access === 'gone' ? 5_000 : fileAccessTtlMs)) {
      return hit.access;
    }
    try {
      const access = await load(file);
      if (known.size > 10_000) known.clear();
      known.set(file, { access, at: init.now() });
      return access;
    } catch (err) {
      // The directory is down or answered nonsense: keep serving on what we knew.
      if (hit) return hit.access;
      throw err;
    }
  };

  return async (capability, op, block) => {
    const where = `block.${op}`;
    const access = await accessOf(capability.file);
    if (access === 'gone') {
      // No entry (yet): a new file's blocks are stored before its entry is created, so anyone
      // may store under a file id nobody has (ids are random, 128 bits: they cannot be
      // guessed ahead of their creator), and only whoever stored a block may read it back.
      if (op === 'put' || init.storedBy(block, capability.issuer, capability.file)) return;
      throw new FsError('permission', 'the capability names a file that does not exist', {
        op: where,
      });
    }
    const issuer = capability.issuer;
    const allowed =
      issuer === access.owner ||
      (op === 'put' ? access.writers.has(issuer) : access.readers.has(issuer));
    if (!allowed) {
      throw new FsError(
        'permission',
        op === 'put'
          ? "the capability's issuer may not write this file"
          : "the capability's issuer may not read this file",
        { op: where },
      );
    }
    if (op !== 'put') {
      const storedUnder = init.storedUnder(block);
      if (storedUnder !== undefined && storedUnder !== capability.file) {
        throw new FsError('permission', 'this block belongs to another file', { op: where });
      }
    }
  };
}

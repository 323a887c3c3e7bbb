/**
 * Gate 3 of the block protocol: a valid capability proves who issued it, not that they may
 * touch the file it names. Here a peer checks that the issuer is the file's owner or a writer
 * (to store blocks) or any grantee (to read, ask for or prove blocks), from the file's current
 * entry, which it fetches from the directory and verifies itself: the entry must carry its
 * owner's access certificate (wire/entry-acl.ts), signed by the owner's current key and matching
 * the entry's ACL, and be signed by the owner or a writer that certificate names, by their
 * current keys. Readers and writers come from the certificate, never from the directory. And a
 * block this peer stored under one file is served only under that file, so naming a file one
 * may read does not open the blocks of others.
 *
 * A peer checks one version on its own: it does not check that an inherited certificate (one
 * issued for the file's folder) is the folder's current one, nor that a writer's version kept
 * the certificate of the version before. The directory checks both when it stores a version,
 * and readers check them again when they resolve the file; the worst a lying directory can do
 * here is serve a certificate the owner really signed, for a time.
 *
 * A file with no entry at the directory (one being created: its blocks go out before its entry,
 * or one purged) can be stored under by anyone, and read only by whoever stored the block.
 *
 * Answers are cached for {@link fileAccessTtlMs}, but a request that a cached answer would
 * refuse is decided on a fresh one, so a new file or a new grant works at once. A grant withdrawn
 * at the directory reaches peers within the cache's lifetime (immediate revocation is the
 * revocation issue's). If the directory cannot be reached, the last answer is used, however
 * old, so reads go on.
 */
import { FsError } from '../interface/errors.js';
import type { BlockId, FileId } from '../interface/ids.js';
import type { UserName } from '../interface/names.js';
import type { BlockOp, Capability } from '../wire/capability.js';
import { constantTimeEqual } from '../crypto/bytes.js';
import { decodeDirEntryUnverified, openDirEntry } from '../wire/dir-entry.js';
import { checkEntryAuthority, openEntryAcl } from '../wire/entry-acl.js';

/** How long a peer trusts what it learned about a file's owner and grantees. */
export const fileAccessTtlMs = 2_000;

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
    const keyOf = (user: UserName) =>
      init.signingKey(user).catch((err: unknown) => {
        // An entry naming a user who does not exist was not made by anyone honest.
        if (err instanceof FsError && err.kind === 'not-exist') {
          throw new FsError('integrity', 'the file names an unknown user', { op: 'file.access' });
        }
        throw err;
      });
    // Security: the unverified decode only tells whose keys to fetch (the owner's, then the
    // writers its certificate names, verified under the owner's key); the envelope must then
    // verify under one of them, and the version be allowed by its certificate.
    const claimed = decodeDirEntryUnverified(envelope);
    const ownerKey = await keyOf(claimed.owner);
    const writers = openEntryAcl(claimed.aclCert, ownerKey).w;
    const signers = [claimed.owner, ...writers];
    const keys = [ownerKey, ...(await Promise.all(writers.map(keyOf)))];
    const { body, signer } = openDirEntry(envelope, keys);
    if (body.id !== file) {
      throw new FsError('integrity', 'the directory answered with another file', {
        op: 'file.access',
      });
    }
    const signerUser = signers[keys.findIndex((key) => constantTimeEqual(key, signer))];
    if (signerUser === undefined) {
      throw new FsError('integrity', 'the file is not signed by its owner or a writer', {
        op: 'file.access',
      });
    }
    const acl = checkEntryAuthority(body, signerUser, ownerKey);
    return {
      owner: body.owner,
      writers: new Set(acl.w),
      readers: new Set([...acl.r, ...acl.w]),
    };
  };

  const loading = new Map<FileId, Promise<Access | 'gone'>>();

  /** Loads afresh (one load per file at a time) and caches the answer. */
  const reload = (file: FileId): Promise<Access | 'gone'> => {
    const pending = loading.get(file);
    if (pending) return pending;
    const hit = known.get(file);
    const load$ = load(file)
      .then((access) => {
        if (known.size > 10_000) known.clear();
        known.set(file, { access, at: init.now() });
        return access;
      })
      .catch((err: unknown) => {
        // The directory is down or answered nonsense: keep serving on what we knew.
        if (hit) return hit.access;
        throw err;
      })
      .finally(() => loading.delete(file));
    loading.set(file, load$);
    return load$;
  };

  const accessOf = async (file: FileId): Promise<{ access: Access | 'gone'; cached: boolean }> => {
    const hit = known.get(file);
    if (hit && init.now() - hit.at < (hit.access === 'gone' ? 5_000 : fileAccessTtlMs)) {
      return { access: hit.access, cached: true };
    }
    return { access: await reload(file), cached: false };
  };

  /** Why `capability` may not do `op` on `block`, or null when it may. */
  const refusal = (
    access: Access | 'gone',
    capability: Capability,
    op: BlockOp,
    block: BlockId,
  ) => {
    const issuer = capability.issuer;
    if (access === 'gone') {
      // No entry (yet): a new file's blocks are stored before its entry is created, so anyone
      // may store under a file id nobody has (ids are random, 128 bits: they cannot be
      // guessed ahead of their creator), and only whoever stored a block may read it back.
      if (op === 'put' || init.storedBy(block, issuer, capability.file)) return null;
      return 'the capability names a file that does not exist';
    }
    const allowed =
      issuer === access.owner ||
      (op === 'put' ? access.writers.has(issuer) : access.readers.has(issuer));
    if (allowed) return null;
    return op === 'put'
      ? "the capability's issuer may not write this file"
      : "the capability's issuer may not read this file";
  };

  return async (capability, op, block) => {
    const where = `block.${op}`;
    const { access, cached } = await accessOf(capability.file);
    let reason = refusal(access, capability, op, block);
    // A refusal from a cached answer is checked afresh: the file may have been created or
    // shared since (a grant takes effect at once; a withdrawal within the cache's lifetime).
    if (reason !== null && cached) {
      reason = refusal(await reload(capability.file), capability, op, block);
    }
    if (reason !== null) throw new FsError('permission', reason, { op: where });
    if (op !== 'put' && access !== 'gone') {
      const storedUnder = init.storedUnder(block);
      if (storedUnder !== undefined && storedUnder !== capability.file) {
        throw new FsError('permission', 'this block belongs to another file', { op: where });
      }
    }
  };
}

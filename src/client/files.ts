/**
 * The agent's file verbs: write a file (a new version, streamed), read it (streamed), stat and
 * remove it. Content is sealed chunk by chunk (file-codec.ts) and stored through a block
 * transport (the peer plugs in its replicator); the entry's `meta` holds the sealed list of
 * blocks and the size, so only holders of the file key learn them.
 *
 * Keys: a file has one random file key for its life, wrapped (purpose `file-key`) to its owner
 * and to the writer; every version's chunks get their own keys derived from it, bound to the
 * version and position (crypto/chunk.ts). (Key rotation on unshare arrives with revocation.)
 */
import { FsError } from '../interface/errors.js';
import type { BlockId, FileId } from '../interface/ids.js';
import type { AclGrant } from '../interface/grants.js';
import type { UserName } from '../interface/names.js';
import { formatPath, type PathName } from '../interface/paths.js';
import { encryptName, lookupTag } from '../crypto/names.js';
import { newFileId, newSymmetricKey } from '../crypto/random.js';
import { type DirEntryBody } from '../wire/dir-entry.js';
import { routes } from '../wire/directory-api.js';
import { chainHash } from '../wire/key-log.js';
import { accessForNew } from './entry-access.js';
import { keyOfVersion } from './version-meta.js';
import { openFileMeta, readFileBlocks, sealFileMeta, writeFileBlocks } from './file-codec.js';
import {
  type AgentContext,
  resolve,
  resolveForWrite,
  type ResolvedEntry,
  tombstone,
  verifyEntry,
} from './namespace.js';
import { writeEntryVersion } from './entry-writes.js';

/** Where sealed blocks go and come from (the peer's replicator, or a test's store). */
export interface BlockTransport {
  putBlock(file: FileId, id: BlockId, parts: readonly Uint8Array[]): Promise<void>;
  /** Must return bytes that hash to `id` (verify, fail over). */
  getBlock(file: FileId, id: BlockId): Promise<Uint8Array>;
}

/** What the file verbs need. */
export interface FileContext extends AgentContext {
  blocks: BlockTransport;
}

const zero = new Uint8Array(32);
const chunkSize = 1024 * 1024;
/**
 * Resolves a path that may not exist yet: the existing entry if any, else its parent (needed
 * only to create it). A file shared on its own is written without its folder, which its
 * grantees cannot read.
 */
async function locate(
  ctx: AgentContext,
  path: PathName,
): Promise<{ parent?: ResolvedEntry; existing?: ResolvedEntry }> {
  const name = path.elements[path.elements.length - 1];
  if (name === undefined)
    throw new FsError('is-dir', `${formatPath(path)} is a directory`, {
      op: 'write',
      path: formatPath(path),
    });
  const { existing, parent } = await resolveForWrite(ctx, path);
  if (existing !== undefined) return { existing };
  if (parent === undefined || parent.body.kind !== 'dir')
    throw new FsError('not-dir', `${formatPath(parent?.path ?? path)} is not a directory`, {
      op: 'write',
    });
  return { parent };
}

/** How {@link writeFile} treats an existing file. */
export interface WriteOptions {
  /** `replace` (default) writes a new version; `create` refuses an existing file (`exist`);
   * `append` writes a new version holding the old content followed by `source`. */
  mode?: 'replace' | 'create' | 'append';
  /** Grants of a new file, on top of those it inherits from its folder (owner only). */
  grants?: readonly AclGrant[];
  onProgress?: (bytes: number) => void;
  signal?: AbortSignal;
}

async function* concatenate(
  ...sources: AsyncIterable<Uint8Array>[]
): AsyncGenerator<Uint8Array, void, undefined> {
  for (const source of sources) yield* source;
}

/**
 * Writes `source` as the new content of `path` (creating the file, or a new version of it).
 * Blocks are stored before the entry is updated, so a failure leaves the previous version
 * intact; a concurrent writer makes this a `conflict` (read and retry).
 */
export async function writeFile(
  ctx: FileContext,
  path: PathName,
  source: AsyncIterable<Uint8Array>,
  options: WriteOptions = {},
): Promise<{ version: number; size: number }> {
  const { parent, existing } = await locate(ctx, path);
  if (existing && existing.body.kind !== 'file') {
    throw new FsError('is-dir', `${formatPath(path)} is a directory`, {
      op: 'write',
      path: formatPath(path),
    });
  }
  if (existing && options.mode === 'create') {
    throw new FsError('exist', `${formatPath(path)} already exists`, {
      op: 'create',
      path: formatPath(path),
    });
  }
  if (existing && options.grants !== undefined && options.grants.length > 0) {
    throw new FsError(
      'invalid',
      `${formatPath(path)} already exists: grants are given when a file is created; use \`share\``,
      { op: 'write', path: formatPath(path) },
    );
  }
  // Refused here, before any block goes out: peers and the directory would refuse it anyway.
  const governing = existing ?? parent!;
  const me = ctx.session.user;
  if (me !== governing.body.owner && !governing.body.acl.w.includes(me)) {
    const owner = governing.body.owner;
    throw new FsError(
      'permission',
      `you may not write ${formatPath(existing ? path : governing.path)}; ask ${owner} (the owner) to share it with you for writing (w)`,
      { op: 'write', path: formatPath(path) },
    );
  }
  if (existing && options.mode === 'append') {
    // The old content is read (verified) and re-sealed ahead of the new: versions are
    // immutable, and chunk keys are bound to their version, so no block can be reused.
    source = concatenate(contentOf(ctx, existing, options.signal), source);
  }
  const name = path.elements[path.elements.length - 1]!;
  const id = existing?.body.id ?? newFileId();
  const fileKey = existing?.key ?? newSymmetricKey();
  const version = (existing?.body.version ?? 0) + 1;
  // Keys are wrapped (and grantees' key logs checked) before any block goes out.
  const access =
    existing || !parent
      ? undefined
      : await accessForNew(ctx, parent.body, { id, kind: 'file' }, fileKey, options.grants ?? []);
  const written = await writeFileBlocks(source, {
    fileKey,
    fileId: id,
    version,
    chunkSize,
    store: (blockId, parts) => ctx.blocks.putBlock(id, blockId, parts),
    ...(options.onProgress ? { onProgress: options.onProgress } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
  });
  const now = Date.now();
  const meta = sealFileMeta(
    fileKey,
    { fileId: id, version },
    { size: written.size, blocks: written.blocks, mtime: now, chunkSize },
  );
  const body: DirEntryBody = existing
    ? {
        ...existing.body,
        version,
        meta,
        prev: chainHash(existing.envelope),
        time: now,
        deleted: null,
      }
    : {
        id,
        parent: parent!.body.id,
        owner: parent!.body.owner,
        version: 1,
        kind: 'file',
        tag: lookupTag(parent!.key, name),
        name: encryptName(parent!.key, id, name),
        label: encryptName(fileKey, id, name),
        meta,
        ...access!,
        deleted: null,
        prev: zero,
        time: now,
      };
  await writeEntryVersion(ctx, body, existing ? existing.body.version : null);
  return { version, size: written.size };
}

/** A file's verified metadata. */
export interface FileStat {
  path: string;
  kind: 'file' | 'dir';
  version: number;
  size: number;
  mtime: number;
  owner: UserName;
}

/** Stats a file or directory. @throws FsError `not-exist`, `integrity` */
export async function stat(ctx: AgentContext, path: PathName): Promise<FileStat> {
  const entry = await resolve(ctx, path);
  if (entry.body.kind === 'dir') {
    return {
      path: formatPath(path),
      kind: 'dir',
      version: entry.body.version,
      size: 0,
      mtime: entry.body.time,
      owner: entry.body.owner,
    };
  }
  const meta = openFileMeta(
    entry.key,
    { fileId: entry.body.id, version: entry.body.version },
    entry.body.meta,
  );
  return {
    path: formatPath(path),
    kind: 'file',
    version: entry.body.version,
    size: meta.size,
    mtime: meta.mtime,
    owner: entry.body.owner,
  };
}

/**
 * Reads the current version of a file as a stream of plaintext, verified block by block.
 * @throws FsError `not-exist`, `is-dir`, `integrity`, `unavailable`
 */
export async function readFile(
  ctx: FileContext,
  path: PathName,
  options: { signal?: AbortSignal; version?: number } = {},
): Promise<{ size: number; version: number; content: AsyncIterable<Uint8Array> }> {
  let entry = await resolve(ctx, path);
  if (entry.body.kind !== 'file')
    throw new FsError('is-dir', `${formatPath(path)} is a directory`, {
      op: 'read',
      path: formatPath(path),
    });
  if (options.version !== undefined && options.version !== entry.body.version) {
    entry = await olderVersion(ctx, entry, options.version, formatPath(path));
  }
  const meta = openFileMeta(
    entry.key,
    { fileId: entry.body.id, version: entry.body.version },
    entry.body.meta,
  );
  return {
    size: meta.size,
    version: entry.body.version,
    content: contentOf(ctx, entry, options.signal),
  };
}

/** One version of a file, as `versions` lists it. */
export interface FileVersion {
  version: number;
  /** When it was written (the writer's clock, signed). */
  time: number;
  /** Content bytes; 0 for a deletion. */
  size: number;
  /** Who signed it (the owner or a writer), verified. */
  writer: UserName;
  /** Whether this version is a deletion (a tombstone). */
  deleted: boolean;
}

interface VersionAnswer {
  version: number;
  envelope: string;
}

/** Every retained version of a file's entry, verified (signature, id), oldest first. */
async function verifiedVersions(
  ctx: AgentContext,
  entry: ResolvedEntry,
): Promise<{ body: DirEntryBody; envelope: Uint8Array; writer: UserName }[]> {
  const { versions } = await ctx.directory.call<{ versions: VersionAnswer[] }>(
    'GET',
    routes.versions.replace(':id', entry.body.id),
    undefined,
    ctx.session,
  );
  const out: { body: DirEntryBody; envelope: Uint8Array; writer: UserName }[] = [];
  for (const answer of [...versions].sort((a, b) => a.version - b.version)) {
    const verified = await verifyEntry(
      ctx,
      { envelope: answer.envelope, version: answer.version, deletedAt: null, deletedBy: null },
      {
        parent: entry.body.parent,
        owner: entry.body.owner,
        id: entry.body.id,
        historic: answer.version !== entry.body.version || entry.body.deleted !== null,
      },
    );
    if (verified.body.version !== answer.version) {
      throw new FsError('integrity', 'the directory mislabelled a version', { op: 'versions' });
    }
    out.push(verified);
  }
  return out;
}

/**
 * Lists a file's versions, oldest first: each verified, its size read from its own sealed
 * metadata. @throws FsError `not-exist`, `is-dir`, `integrity`
 */
export async function listVersions(ctx: AgentContext, path: PathName): Promise<FileVersion[]> {
  const entry = await resolve(ctx, path);
  if (entry.body.kind !== 'file')
    throw new FsError('is-dir', `${formatPath(path)} is a directory`, {
      op: 'versions',
      path: formatPath(path),
    });
  const listed: FileVersion[] = [];
  for (const { body, writer } of await verifiedVersions(ctx, entry)) {
    const size =
      body.deleted !== null || body.meta.length === 0
        ? 0
        : (await keyOfVersion(ctx, body, entry.key)).meta.size;
    listed.push({
      version: body.version,
      time: body.time,
      size,
      writer,
      deleted: body.deleted !== null,
    });
  }
  return listed;
}

/** The entry as it was at `version` (with the file's key), for reading an old version. */
async function olderVersion(
  ctx: AgentContext,
  entry: ResolvedEntry,
  version: number,
  shown: string,
): Promise<ResolvedEntry> {
  const found = (await verifiedVersions(ctx, entry)).find((v) => v.body.version === version);
  if (!found || found.body.deleted !== null || found.body.meta.length === 0) {
    throw new FsError(
      'not-exist',
      `${shown} has no readable version ${version}; see \`versions\``,
      {
        op: 'read',
        path: shown,
      },
    );
  }
  // Written before a key rotation, it opens with its own copy of the file key.
  const { key } = await keyOfVersion(ctx, found.body, entry.key);
  return { ...entry, body: found.body, envelope: found.envelope, key };
}

/** The plaintext of a file entry's current version, verified block by block as it streams. */
function contentOf(
  ctx: FileContext,
  entry: ResolvedEntry,
  signal: AbortSignal | undefined,
): AsyncIterable<Uint8Array> {
  const meta = openFileMeta(
    entry.key,
    { fileId: entry.body.id, version: entry.body.version },
    entry.body.meta,
  );
  return readFileBlocks({
    fileKey: meta.contentKey ?? entry.key,
    fileId: entry.body.id,
    // The chunks are sealed at the version that wrote this content, which a later version that
    // only shared, deleted or restored the file keeps.
    version: meta.contentVersion,
    size: meta.size,
    blocks: meta.blocks,
    fetch: (id) => ctx.blocks.getBlock(entry.body.id, id),
    ...(signal ? { signal } : {}),
  });
}

/**
 * Removes a file: a signed tombstone; the entry goes to the owner's trash and its blocks stay
 * until retention expires. @throws FsError `not-exist`, `is-dir`, `permission`
 */
export async function removeFile(ctx: AgentContext, path: PathName): Promise<void> {
  const entry = await resolve(ctx, path);
  if (entry.body.kind !== 'file')
    throw new FsError('is-dir', `${formatPath(path)} is a directory; use rmdir`, {
      op: 'rm',
      path: formatPath(path),
    });
  await tombstone(ctx, entry);
}

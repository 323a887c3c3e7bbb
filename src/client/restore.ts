/**
 * The trash and restore (the original request: "restore team5.txt"; only the owner may). A
 * deleted entry stays in its owner's trash, with its whole history, until retention expires;
 * restoring writes its next version, signed by the owner, with the deletion cleared. The
 * directory refuses a restore by anyone but the owner, and readers verify the signature, so a
 * misbehaving directory cannot restore on its own either.
 *
 * A file comes back as a new version carrying the metadata of its last live version (or of a
 * chosen one), unchanged: metadata names the version its chunks were sealed at, so nothing is
 * sealed again. `restore --version N` on a live file makes version N the newest. A trashed entry is found by its path: its parent must be live (restore the parent first), and
 * its name is decrypted with the parent's name key. A directory comes back with everything in
 * the trash below it.
 */
import { FsError } from '../interface/errors.js';
import type { FileId } from '../interface/ids.js';
import { type EntryName, parseEntryName } from '../interface/names.js';
import { formatPath, type PathName } from '../interface/paths.js';
import { decryptName, encryptName, lookupTag } from '../crypto/names.js';
import { fromBase64url } from '../wire/base64.js';
import { decodeDirEntryUnverified, type DirEntryBody } from '../wire/dir-entry.js';
import { purgeForGood } from './garbage.js';
import { metaForCurrentKey } from './version-meta.js';
import type { FileContext } from './files.js';
import { type EntryResponse, type EntryVersionResponse, routes } from '../wire/directory-api.js';
import { decodeEntryAclUnverified } from '../wire/entry-acl.js';
import { chainHash } from '../wire/key-log.js';
import { expandGrants, ownerAccess } from './entry-access.js';
import { groupLookup } from './group-records.js';
import {
  type AgentContext,
  openOwnTrashEntry,
  resolve,
  type ResolvedEntry,
  verifyEntry,
  walkTree,
} from './namespace.js';
import { writeEntryVersion } from './entry-writes.js';

type TrashAnswer = EntryResponse & { id: FileId };

/** One entry of the caller's trash. */
export interface TrashItem {
  /** Its path when its parent is live; otherwise the parent is in the trash too or gone. */
  path: string | null;
  kind: 'file' | 'dir';
  version: number;
  deletedAt: number;
  deletedBy: string;
  /**
   * Set when the entry did not verify: why. It has no path then, its kind and version are what
   * the directory claims, and it cannot be restored; the rest of the trash is verified.
   */
  refused?: string;
}

async function trashAnswers(ctx: AgentContext): Promise<TrashAnswer[]> {
  const { entries } = await ctx.directory.call<{ entries: TrashAnswer[] }>(
    'GET',
    routes.trash,
    undefined,
    ctx.session,
  );
  return entries;
}

/** The name of the entry with `body` in `parent`, or null when it does not decrypt there. */
function nameOf(parent: ResolvedEntry, body: DirEntryBody): EntryName | null {
  try {
    return parseEntryName(decryptName(parent.key, body.id, body.name));
  } catch {
    return null;
  }
}

/** The entry's name in `parent`, or null when it does not decrypt there. */
function nameIn(parent: ResolvedEntry, entry: ResolvedEntry): EntryName | null {
  return nameOf(parent, entry.body);
}

/**
 * Lists the caller's trash, newest deletion first. Paths are shown for entries whose parent is
 * live (the common case: a file removed from a live folder).
 */
export async function listTrash(ctx: AgentContext): Promise<TrashItem[]> {
  const answers = await trashAnswers(ctx);
  const items: TrashItem[] = [];
  const parents = new Map<FileId, ResolvedEntry | null>();
  const live = await liveDirs(ctx);
  for (const answer of answers) {
    let entry: ResolvedEntry;
    try {
      entry = await openOwnTrashEntry(ctx, answer);
    } catch (err) {
      if (!(err instanceof FsError) || err.kind !== 'integrity') throw err;
      items.push(refusedTrashItem(answer, err));
      continue;
    }
    let path: string | null = null;
    const parentId = entry.body.parent;
    if (parentId !== null) {
      if (!parents.has(parentId)) parents.set(parentId, live.get(parentId) ?? null);
      const parent = parents.get(parentId);
      const name = parent ? nameIn(parent, entry) : null;
      if (parent && name !== null)
        path = formatPath({ ...parent.path, elements: [...parent.path.elements, name] });
    }
    items.push({
      path,
      kind: entry.body.kind,
      version: entry.body.version,
      deletedAt: answer.deletedAt ?? entry.body.time,
      deletedBy: answer.deletedBy ?? entry.body.deleted?.by ?? entry.body.owner,
    });
  }
  return items;
}

/** A trash line for an entry that did not verify: only what the directory claims, and why. */
function refusedTrashItem(answer: TrashAnswer, err: FsError): TrashItem {
  let kind: 'file' | 'dir' = 'file';
  try {
    if (decodeDirEntryUnverified(fromBase64url(answer.envelope, 'envelope')).kind === 'dir')
      kind = 'dir';
  } catch {
    // not even an entry: shown as a file
  }
  return {
    path: null,
    kind,
    version: answer.version,
    deletedAt: answer.deletedAt ?? 0,
    deletedBy: answer.deletedBy ?? '?',
    refused: err.message,
  };
}

/**
 * The caller's live directories, by id (to name what is in the trash). An entry that does not
 * verify is passed over (what was deleted from below it is listed without a path) rather than
 * hiding the whole trash.
 */
async function liveDirs(ctx: AgentContext): Promise<Map<FileId, ResolvedEntry>> {
  const dirs = new Map<FileId, ResolvedEntry>();
  for await (const entry of walkTree(ctx, undefined, { skipRefused: true }))
    if (entry.body.kind === 'dir') dirs.set(entry.body.id, entry);
  return dirs;
}

interface VersionAnswer {
  version: number;
  envelope: string;
}

/**
 * The metadata of a trashed file's last live version, which the restoring version carries
 * unchanged: metadata names the version its chunks were sealed at (file-codec.ts), so no byte
 * of the content is sealed again. It must open under the file key (so the owner or a writer
 * made it, whatever the directory says about the envelope it came in).
 */
async function lastLiveMeta(ctx: FileContext, entry: ResolvedEntry): Promise<Uint8Array> {
  const fileId = entry.body.id;
  const { versions } = await ctx.directory.call<{ versions: VersionAnswer[] }>(
    'GET',
    routes.versions.replace(':id', fileId),
    undefined,
    ctx.session,
  );
  const live = versions
    .map((answer) => ({
      answer,
      body: decodeDirEntryUnverified(fromBase64url(answer.envelope, 'envelope')),
    }))
    .filter(({ body }) => body.deleted === null && body.kind === 'file' && body.meta.length > 0)
    .sort((a, b) => b.body.version - a.body.version)[0];
  if (live === undefined) {
    throw new FsError('integrity', 'the directory kept no readable version of this file', {
      op: 'restore',
    });
  }
  // Verified like any old version before its content is carried into a new one.
  const { body } = await verifyEntry(
    ctx,
    {
      envelope: live.answer.envelope,
      version: live.answer.version,
      deletedAt: null,
      deletedBy: null,
    },
    { parent: entry.body.parent, owner: entry.body.owner, id: fileId, historic: true },
  );
  return metaForCurrentKey(ctx, body, entry.key);
}

/**
 * The metadata of version `version` of a file, verified (signed as its rules require, the
 * version asked for, not a deletion) and opened under the file key.
 * @throws FsError `not-exist` when that version is not a readable one
 */
async function metaOfVersion(
  ctx: AgentContext,
  entry: ResolvedEntry,
  version: number,
  shown: string,
): Promise<Uint8Array> {
  const missing = () =>
    new FsError('not-exist', `${shown} has no readable version ${version}; see \`versions\``, {
      op: 'restore',
      path: shown,
    });
  if (!Number.isSafeInteger(version) || version < 1 || version >= entry.body.version) {
    throw missing();
  }
  let answer: EntryVersionResponse;
  try {
    answer = await ctx.directory.call<EntryVersionResponse>(
      'GET',
      routes.entryVersion.replace(':id', entry.body.id).replace(':version', String(version)),
      undefined,
      ctx.session,
    );
  } catch (err) {
    if (err instanceof FsError && err.kind === 'not-exist') throw missing();
    throw err;
  }
  const { body } = await verifyEntry(
    ctx,
    { envelope: answer.envelope, version: answer.version, deletedAt: null, deletedBy: null },
    { parent: entry.body.parent, owner: entry.body.owner, id: entry.body.id, historic: true },
  );
  if (body.version !== version) {
    throw new FsError('integrity', 'the directory returned another version', { op: 'restore' });
  }
  if (body.deleted !== null || body.kind !== 'file' || body.meta.length === 0) throw missing();
  return metaForCurrentKey(ctx, body, entry.key);
}

/** Writes the owner's next version of `entry` with `changes` (a restore or a revert). */
async function writeRestoring(
  ctx: AgentContext,
  entry: ResolvedEntry,
  changes: Partial<DirEntryBody>,
): Promise<void> {
  const now = Date.now();
  const version = entry.body.version + 1;
  // The owner signs the access list afresh, with the grants it had: the certificate it was
  // deleted with may be its folder's (which may have changed since) or signed by a key the
  // owner has replaced (it was verified with the entry). Its groups are expanded as they are
  // now: one may have lost members while the entry was in the trash, or be gone.
  const expanded = await expandGrants(
    ctx,
    decodeEntryAclUnverified(entry.body.aclCert).grants,
    groupLookup(ctx),
    'drop',
  );
  const body: DirEntryBody = {
    ...entry.body,
    version,
    prev: chainHash(entry.envelope),
    deleted: null,
    time: now,
    ...(await ownerAccess(ctx, entry, expanded, version)),
    ...changes,
  };
  await writeEntryVersion(ctx, body, entry.body.version);
}

/** Writes the restoring version of a trashed entry (optionally under a new name or version). */
async function undelete(
  ctx: FileContext,
  entry: ResolvedEntry,
  rename?: { parent: ResolvedEntry; name: EntryName },
  version?: { number: number; shown: string },
): Promise<void> {
  await writeRestoring(ctx, entry, {
    ...(entry.body.kind === 'file'
      ? {
          meta:
            version === undefined
              ? await lastLiveMeta(ctx, entry)
              : await metaOfVersion(ctx, entry, version.number, version.shown),
        }
      : {}),
    ...(rename
      ? {
          tag: lookupTag(rename.parent.key, rename.name),
          name: encryptName(rename.parent.key, entry.body.id, rename.name),
          label: encryptName(entry.key, entry.body.id, rename.name),
        }
      : {}),
  });
}

/** An entry of the trash as the directory listed it, not yet verified. */
interface TrashCandidate {
  answer: TrashAnswer;
  /** Its body as claimed: only to choose which entries to open (and verify). */
  claimed: DirEntryBody;
  deletedAt: number;
}

/** Trashed entries, unverified, by the folder they were in. */
type TrashByFolder = Map<FileId, TrashCandidate[]>;

/**
 * Finds the newest deleted entry of `path`'s name in its (live) folder in the caller's trash.
 * Only the entry found is verified (and, by the callers, what they go on to use of `byParent`):
 * verifying the whole trash for each restore made restoring n files cost n² verifications
 * (500 restores took 156 s). Choosing by claimed fields gives a lying directory nothing it did
 * not have: what is used is verified before anything is written, and the directory decides
 * what the trash lists anyway.
 * @throws FsError `permission` (another user's path), `not-exist`, `integrity`
 */
async function findInTrash(
  ctx: AgentContext,
  path: PathName,
  op: string,
): Promise<{
  name: EntryName;
  parent: ResolvedEntry;
  found: ResolvedEntry;
  byParent: TrashByFolder;
}> {
  const name = path.elements[path.elements.length - 1];
  if (name === undefined) throw new FsError('invalid', 'a root is never in the trash', { op });
  if (path.owner !== ctx.session.user) {
    throw new FsError('permission', `only ${path.owner} can ${op} their files`, {
      op,
      path: formatPath(path),
    });
  }
  const parent = await resolve(ctx, { owner: path.owner, elements: path.elements.slice(0, -1) });
  const byParent: TrashByFolder = new Map();
  for (const answer of await trashAnswers(ctx)) {
    let claimed: DirEntryBody;
    try {
      claimed = decodeDirEntryUnverified(fromBase64url(answer.envelope, 'envelope'));
    } catch {
      continue; // not an entry at all; never chosen, so never verified
    }
    const folder = claimed.parent;
    if (folder === null) continue;
    const item = { answer, claimed, deletedAt: answer.deletedAt ?? claimed.time };
    const list = byParent.get(folder);
    if (list === undefined) byParent.set(folder, [item]);
    else list.push(item);
  }
  let chosen: TrashCandidate | undefined;
  for (const item of byParent.get(parent.body.id) ?? []) {
    if (nameOf(parent, item.claimed) === name && item.deletedAt > (chosen?.deletedAt ?? -1)) {
      chosen = item;
    }
  }
  if (!chosen) {
    throw new FsError(
      'not-exist',
      `${formatPath(path)} is not in your trash (only its owner can ${op} a file)`,
      { op, path: formatPath(path) },
    );
  }
  // The same envelope, verified: its name and folder are the ones chosen by.
  const found = await openOwnTrashEntry(ctx, chosen.answer);
  return { name, parent, found, byParent };
}

/**
 * Deletes the newest deleted entry of `path` from the caller's trash for good (a folder with
 * everything in the trash below it), releasing its blocks first: it can no longer be restored.
 * @returns how many entries were purged
 */
export async function purgeFromTrash(ctx: AgentContext, path: PathName): Promise<number> {
  const { found, byParent } = await findInTrash(ctx, path, 'purge');
  // Deepest first, so no purged folder leaves children behind that point at it.
  const order: ResolvedEntry[] = [];
  const pending: ResolvedEntry[] = [found];
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    order.push(next);
    if (next.body.kind === 'dir')
      for (const { answer } of byParent.get(next.body.id) ?? [])
        pending.push(await openOwnTrashEntry(ctx, answer));
  }
  for (const entry of order.reverse()) await purgeForGood(ctx, entry);
  return order.length;
}

/**
 * Makes version `version` of the live file at `path` its newest (owner only): a new version
 * carrying that version's content, unchanged.
 */
async function revert(ctx: AgentContext, live: ResolvedEntry, version: number): Promise<void> {
  const shown = formatPath(live.path);
  if (live.body.owner !== ctx.session.user) {
    throw new FsError('permission', `only ${live.body.owner} (the owner) may restore ${shown}`, {
      op: 'restore',
      path: shown,
    });
  }
  if (live.body.kind !== 'file') {
    throw new FsError('is-dir', `${shown} is a folder: versions are kept per file`, {
      op: 'restore',
      path: shown,
    });
  }
  await writeRestoring(ctx, live, { meta: await metaOfVersion(ctx, live, version, shown) });
}

/**
 * Restores the most recently deleted entry at `path` from the caller's trash (a directory with
 * everything in the trash below it). With `as`, under that name in the same folder; with
 * `version`, a file comes back as that version of its content, and a live file is reverted to
 * it (the chosen version becomes the newest).
 * @returns how many entries came back (1 for a revert)
 * @throws FsError `not-exist` (nothing of that name in your trash; only owners restore),
 *   `exist` (a live entry has the name: restore `as` another)
 */
export async function restore(
  ctx: FileContext,
  path: PathName,
  options: { as?: EntryName; version?: number } = {},
): Promise<number> {
  const op = 'restore';
  if (options.version !== undefined && options.as === undefined) {
    let live: ResolvedEntry | undefined;
    try {
      live = await resolve(ctx, path);
    } catch (err) {
      if (!(err instanceof FsError) || err.kind !== 'not-exist') throw err;
    }
    if (live) {
      await revert(ctx, live, options.version);
      return 1;
    }
  }
  const { name, parent, found, byParent } = await findInTrash(ctx, path, op);
  if (options.version !== undefined && found.body.kind !== 'file') {
    throw new FsError('is-dir', `${formatPath(path)} is a folder: versions are kept per file`, {
      op,
      path: formatPath(path),
    });
  }
  const target = options.as ?? name;
  try {
    await resolve(ctx, { owner: path.owner, elements: [...path.elements.slice(0, -1), target] });
    throw new FsError(
      'exist',
      `${formatPath({ ...path, elements: [...path.elements.slice(0, -1), target] })} exists; restore under another name with --as NEWNAME`,
      { op },
    );
  } catch (err) {
    if (!(err instanceof FsError) || err.kind !== 'not-exist') throw err;
  }
  await undelete(
    ctx,
    found,
    options.as === undefined ? undefined : { parent, name: options.as },
    options.version === undefined
      ? undefined
      : { number: options.version, shown: formatPath(path) },
  );
  let restored = 1;
  if (found.body.kind === 'dir') {
    // Everything in the trash below it comes back too, folder by folder.
    const pending: FileId[] = [found.body.id];
    for (let dir = pending.pop(); dir !== undefined; dir = pending.pop()) {
      for (const { answer } of byParent.get(dir) ?? []) {
        const child = await openOwnTrashEntry(ctx, answer);
        await undelete(ctx, child);
        restored += 1;
        if (child.body.kind === 'dir') pending.push(child.body.id);
      }
    }
  }
  return restored;
}

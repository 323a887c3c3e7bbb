/**
 * The agent's view of the encrypted namespace: finding, verifying and decrypting entries, and
 * the directory verbs built on that (mkdir, list, rmdir). File contents arrive with the file
 * codec and replication.
 *
 * Every entry read from the directory is verified here before use: its signature must be by the
 * current key (from verified key logs) of its owner or of a writer its ACL names; its id, parent
 * and owner must be the ones we looked up; its name must decrypt under the parent's name key and
 * its lookup tag must match that name. A directory that forges, swaps or moves entries is caught.
 *
 * Keys: each directory has a random name key, wrapped (HPKE, purpose `name-key`) to its owner and
 * grantees in the entry's `keys` map, bound to the entry id and the recipient's user name.
 */
import { FsError } from '../interface/errors.js';
import type { AclGrant } from '../interface/grants.js';
import { parseEntryName, type EntryName, type UserName } from '../interface/names.js';
import { formatPath, type PathName } from '../interface/paths.js';
import { constantTimeEqual } from '../crypto/bytes.js';
import { decryptName, encryptName, lookupTag } from '../crypto/names.js';
import { newFileId, newSymmetricKey } from '../crypto/random.js';
import type { SecretBytes } from '../crypto/secret.js';
import { fromBase64url, toBase64url } from '../wire/base64.js';
import { decodeDirEntryUnverified, type DirEntryBody } from '../wire/dir-entry.js';
import { type EntryResponse, routes, type SharedEntriesResponse } from '../wire/directory-api.js';
import { signEntryAcl } from '../wire/entry-acl.js';
import { chainHash } from '../wire/key-log.js';
import { accessForNew, unwrapEntryKey, wrapTo } from './entry-access.js';
import { type AgentContext, verifyEntry } from './entry-verify.js';
import { writeEntryVersion } from './entry-writes.js';

export { type AgentContext, verifyEntry } from './entry-verify.js';

/** A verified entry and, when we may read it, its key. */
export interface ResolvedEntry {
  path: PathName;
  /** The decrypted name ('' for a root). */
  name: string;
  body: DirEntryBody;
  envelope: Uint8Array;
  /** The name key of a directory, or the file key of a file. */
  key: SecretBytes;
  /** Who signed this version (the owner or a writer), when the resolver verified it. */
  writer?: UserName;
}

const zeroTag = new Uint8Array(32);

/** The user's root directory, created on first use. */
export async function ensureRoot(ctx: AgentContext): Promise<ResolvedEntry> {
  const owner = ctx.session.user;
  try {
    return await rootOf(ctx, owner);
  } catch (err) {
    if (!(err instanceof FsError) || err.kind !== 'not-exist') throw err;
  }
  const id = newFileId();
  const nameKey = newSymmetricKey();
  const body: DirEntryBody = {
    id,
    parent: null,
    owner,
    version: 1,
    kind: 'dir',
    tag: zeroTag,
    name: new Uint8Array(0),
    label: new Uint8Array(0),
    meta: new Uint8Array(0),
    keys: await wrapTo(ctx, { id, kind: 'dir' }, nameKey, [owner]),
    acl: { r: [], w: [] },
    aclCert: signEntryAcl(ctx.session.identity.signing, {
      entry: id,
      owner,
      version: 1,
      r: [],
      w: [],
    }),
    deleted: null,
    prev: zeroTag,
    time: Date.now(),
  };
  let envelope: Uint8Array;
  try {
    envelope = await writeEntryVersion(ctx, body, null);
  } catch (err) {
    // Another device made the root first: use theirs.
    if (err instanceof FsError && err.kind === 'exist') return rootOf(ctx, owner);
    throw err;
  }
  return { path: { owner, elements: [] }, name: '', body, envelope, key: nameKey, writer: owner };
}

async function rootOf(ctx: AgentContext, owner: UserName): Promise<ResolvedEntry> {
  const answer = await ctx.directory.call<EntryResponse>(
    'GET',
    routes.root.replace(':user', owner),
    undefined,
    ctx.session,
  );
  const { body, envelope, writer } = await verifyEntry(ctx, answer, { parent: null, owner });
  if (body.kind !== 'dir' || !constantTimeEqual(body.tag, zeroTag)) {
    throw new FsError('integrity', 'the directory returned a malformed root', { op: 'entry.root' });
  }
  return {
    path: { owner, elements: [] },
    name: '',
    body,
    envelope,
    key: await unwrapEntryKey(ctx, body),
    writer,
  };
}

async function child(
  ctx: AgentContext,
  parent: ResolvedEntry,
  name: EntryName,
): Promise<ResolvedEntry> {
  const op = 'entry.lookup';
  if (parent.body.kind !== 'dir')
    throw new FsError('not-dir', `${formatPath(parent.path)} is not a directory`, {
      op,
      path: formatPath(parent.path),
    });
  const tag = lookupTag(parent.key, name);
  const answer = await ctx.directory.call<EntryResponse>(
    'GET',
    `${routes.lookup}?parent=${parent.body.id}&tag=${toBase64url(tag)}`,
    undefined,
    ctx.session,
  );
  const { body, envelope, writer } = await verifyEntry(ctx, answer, {
    parent: parent.body.id,
    owner: parent.body.owner,
    parentBody: parent.body,
  });
  if (!constantTimeEqual(body.tag, tag) || decryptName(parent.key, body.id, body.name) !== name) {
    throw new FsError('integrity', 'the directory returned an entry under the wrong name', { op });
  }
  const key = await unwrapEntryKey(ctx, body);
  // The label is what grantees who cannot read this folder see: it must say the same name.
  if (decryptName(key, body.id, body.label) !== name) {
    throw new FsError('integrity', 'this entry shows grantees another name than its own', { op });
  }
  const path = { owner: parent.path.owner, elements: [...parent.path.elements, name] };
  return { path, name, body, envelope, key, writer };
}

/**
 * What another user shared with the caller where the caller cannot read the folder it is in
 * (the top of each shared tree), verified, with keys and the names that the entries' labels
 * give. A grantee reaches these at `/OWNER/NAME`; nothing else of the owner's tree is visible.
 */
export async function sharedTops(ctx: AgentContext, owner?: UserName): Promise<ResolvedEntry[]> {
  const { tops, refused } = await sharedTopsTolerant(ctx, owner);
  if (refused[0] !== undefined) throw refused[0].error;
  return tops;
}

/** A shared top that did not verify: why, and what the directory claimed about it. */
interface RefusedTop {
  error: FsError;
  claimed: DirEntryBody;
  version: number;
}

/**
 * {@link sharedTops}, keeping the entries that verify apart from the errors of those that do
 * not, so that one tampered entry does not hide every other share (a caller looking for one
 * name reports the errors only when that name is not among the good ones).
 */
async function sharedTopsTolerant(
  ctx: AgentContext,
  owner?: UserName,
): Promise<{ tops: ResolvedEntry[]; refused: RefusedTop[] }> {
  const { entries } = await ctx.directory.call<SharedEntriesResponse>(
    'GET',
    routes.shared,
    undefined,
    ctx.session,
  );
  const tops: ResolvedEntry[] = [];
  const refused: RefusedTop[] = [];
  for (const answer of entries) {
    if (!answer.top) continue;
    const claimed = decodeDirEntryUnverified(fromBase64url(answer.envelope, 'envelope'));
    if (claimed.owner === ctx.session.user || (owner !== undefined && claimed.owner !== owner)) {
      continue;
    }
    try {
      const { body, envelope, writer } = await verifyEntry(ctx, answer, {
        parent: claimed.parent,
        owner: claimed.owner,
        id: claimed.id,
      });
      const key = await unwrapEntryKey(ctx, body);
      const name = parseEntryName(decryptName(key, body.id, body.label));
      tops.push({
        path: { owner: body.owner, elements: [name] },
        name,
        body,
        envelope,
        key,
        writer,
      });
    } catch (err) {
      if (!(err instanceof FsError) || err.kind !== 'integrity') throw err;
      refused.push({ error: err, claimed, version: answer.version });
    }
  }
  return { tops: sortTops(tops), refused };
}

function sortTops(tops: ResolvedEntry[]): ResolvedEntry[] {
  return tops.sort((a, b) =>
    a.path.owner !== b.path.owner
      ? a.path.owner < b.path.owner
        ? -1
        : 1
      : a.name < b.name
        ? -1
        : a.name > b.name
          ? 1
          : 0,
  );
}

/** The root of `owner`'s tree, or null when the caller may not read it (they see shares). */
async function readableRoot(ctx: AgentContext, owner: UserName): Promise<ResolvedEntry | null> {
  if (owner === ctx.session.user) return ensureRoot(ctx);
  try {
    return await rootOf(ctx, owner);
  } catch (err) {
    if (err instanceof FsError && err.kind === 'permission') return null;
    throw err;
  }
}

/** The shared entry `/owner/name` as the caller sees it. */
async function sharedTop(
  ctx: AgentContext,
  owner: UserName,
  name: EntryName,
): Promise<ResolvedEntry> {
  const wanted = name.normalize('NFC');
  const { tops, refused } = await sharedTopsTolerant(ctx, owner);
  const found = tops.filter((t) => t.name.normalize('NFC') === wanted);
  // An entry that does not verify may be the one asked for: say so rather than "not found".
  if (found.length === 0 && refused[0] !== undefined) throw refused[0].error;
  if (found.length === 0) throw new FsError('not-exist', 'no such entry', { op: 'resolve' });
  if (found.length > 1) {
    throw new FsError(
      'conflict',
      `${owner} shares ${found.length} entries named ${name} with you; ask ${owner} to rename one`,
      { op: 'resolve' },
    );
  }
  return found[0]!;
}

/**
 * Resolves a path to its verified entry. In another user's tree whose root the caller cannot
 * read, the first name is looked up among what that user shared with the caller.
 * @throws FsError `not-exist`, `not-dir`, `permission` (not shared with you), `integrity`
 */
export async function resolve(ctx: AgentContext, path: PathName): Promise<ResolvedEntry> {
  const notFound = () =>
    new FsError('not-exist', `no such file or directory: ${formatPath(path)}`, {
      op: 'resolve',
      path: formatPath(path),
    });
  try {
    const root = await readableRoot(ctx, path.owner);
    const [first, ...rest] = path.elements;
    if (root === null && first === undefined) {
      throw new FsError(
        'permission',
        `${path.owner} has not shared their whole tree with you; \`ls /${path.owner}\` shows what they share`,
        { op: 'resolve', path: formatPath(path) },
      );
    }
    let entry = root ?? (await sharedTop(ctx, path.owner, first!));
    for (const name of root === null ? rest : path.elements) entry = await child(ctx, entry, name);
    if (root === null) {
      entry = { ...entry, path: { owner: path.owner, elements: [...path.elements] } };
    }
    return entry;
  } catch (err) {
    if (err instanceof FsError && err.kind === 'not-exist') throw notFound();
    throw err;
  }
}

/**
 * The entry at `path` when it exists, else its parent folder (what a write needs), in one walk
 * for the caller's own tree: the parent is resolved once and the last name looked up under it.
 * Elsewhere (where shared entries are reached by their owner's name) it resolves as
 * {@link resolve} does.
 * @throws FsError `not-exist` (the parent), `not-dir`, `permission`, `integrity`
 */
export async function resolveForWrite(
  ctx: AgentContext,
  path: PathName,
): Promise<{ existing?: ResolvedEntry; parent?: ResolvedEntry }> {
  const name = path.elements.at(-1);
  const parentPath = { owner: path.owner, elements: path.elements.slice(0, -1) };
  if (name === undefined || path.owner !== ctx.session.user) {
    try {
      return { existing: await resolve(ctx, path) };
    } catch (err) {
      if (!(err instanceof FsError) || err.kind !== 'not-exist') throw err;
    }
    return { parent: await resolve(ctx, parentPath) };
  }
  const parent = await resolve(ctx, parentPath);
  if (parent.body.kind !== 'dir') return { parent };
  try {
    return { existing: await child(ctx, parent, name) };
  } catch (err) {
    if (err instanceof FsError && err.kind === 'not-exist') return { parent };
    throw err;
  }
}

/**
 * Makes a directory. @throws FsError `exist`, `not-exist` (parent), `not-dir`, `permission`
 */
export async function mkdir(
  ctx: AgentContext,
  path: PathName,
  grants: readonly AclGrant[] = [],
): Promise<ResolvedEntry> {
  const name = path.elements[path.elements.length - 1];
  if (name === undefined)
    throw new FsError('exist', `${formatPath(path)} is a root and always exists`, { op: 'mkdir' });
  const parent = await resolve(ctx, { owner: path.owner, elements: path.elements.slice(0, -1) });
  if (parent.body.kind !== 'dir')
    throw new FsError('not-dir', `${formatPath(parent.path)} is not a directory`, { op: 'mkdir' });
  const id = newFileId();
  const nameKey = newSymmetricKey();
  const body: DirEntryBody = {
    id,
    parent: parent.body.id,
    owner: parent.body.owner,
    version: 1,
    kind: 'dir',
    tag: lookupTag(parent.key, name),
    name: encryptName(parent.key, id, name),
    label: encryptName(nameKey, id, name),
    meta: new Uint8Array(0),
    ...(await accessForNew(ctx, parent.body, { id, kind: 'dir' }, nameKey, grants)),
    deleted: null,
    prev: zeroTag,
    time: Date.now(),
  };
  let envelope: Uint8Array;
  try {
    envelope = await writeEntryVersion(ctx, body, null);
  } catch (err) {
    if (err instanceof FsError && err.kind === 'exist')
      throw new FsError('exist', `${formatPath(path)} already exists`, {
        op: 'mkdir',
        path: formatPath(path),
      });
    throw err;
  }
  return { path, name, body, envelope, key: nameKey, writer: ctx.session.user };
}

/** One line of a listing. */
export interface ListedEntry {
  name: string;
  kind: 'file' | 'dir';
  version: number;
  owner: UserName;
  /** Who wrote the current version (the owner or an ACL writer), by the key that signed it. */
  writer: UserName | '?';
  /**
   * Set when the entry did not verify (a forged or rolled-back version, say): why. Its name,
   * kind and version are then only what the directory claims, and nothing else may be done
   * with it; the rest of the listing is verified as usual.
   */
  refused?: string;
}

/** Resolves a directory and fetches its children as the directory answers them (unverified). */
async function openDirectory(
  ctx: AgentContext,
  path: PathName,
  op: string,
): Promise<{ dir: ResolvedEntry; entries: EntryResponse[] }> {
  const dir = await resolve(ctx, path);
  if (dir.body.kind !== 'dir') {
    throw new FsError('not-dir', `${formatPath(path)} is not a directory`, {
      op,
      path: formatPath(path),
    });
  }
  const { entries } = await ctx.directory.call<{ entries: EntryResponse[] }>(
    'GET',
    routes.children.replace(':id', dir.body.id),
    undefined,
    ctx.session,
  );
  return { dir, entries };
}

/**
 * Lists a directory: verified entries with decrypted names, sorted by name.
 * @throws FsError `not-exist`, `not-dir`, `integrity`
 */
export async function list(ctx: AgentContext, path: PathName): Promise<ListedEntry[]> {
  if (path.elements.length === 0 && (await readableRoot(ctx, path.owner)) === null) {
    // Another user's tree: only what they shared with the caller, by the names it has. A
    // share that does not verify is listed as refused, by its id: its name is sealed under
    // the entry's own key, which is not opened for an entry that does not verify.
    const { tops, refused } = await sharedTopsTolerant(ctx, path.owner);
    return [
      ...tops.map((top) => ({
        name: top.name,
        kind: top.body.kind,
        version: top.body.version,
        owner: top.body.owner,
        writer: top.writer!,
      })),
      ...refused.map(({ error, claimed, version }): ListedEntry => ({
        name: `?${claimed.id.slice(0, 8)}`,
        kind: claimed.kind === 'dir' ? 'dir' : 'file',
        version,
        owner: path.owner,
        writer: '?',
        refused: error.message,
      })),
    ];
  }
  const { dir, entries } = await openDirectory(ctx, path, 'list');
  const listed: ListedEntry[] = [];
  for (const answer of entries) {
    try {
      const { body, writer } = await verifyEntry(ctx, answer, {
        parent: dir.body.id,
        owner: dir.body.owner,
        parentBody: dir.body,
      });
      const name = decryptName(dir.key, body.id, body.name);
      if (!constantTimeEqual(body.tag, lookupTag(dir.key, parseEntryName(name)))) {
        throw new FsError(
          'integrity',
          'an entry in this directory has a tag that does not match its name',
          { op: 'list' },
        );
      }
      listed.push({ name, kind: body.kind, version: body.version, owner: body.owner, writer });
    } catch (err) {
      // One entry that does not verify must not hide the others (a directory that wants to
      // hide them can, by leaving them out; it need not be helped). It is shown as refused.
      if (!(err instanceof FsError) || err.kind !== 'integrity') throw err;
      listed.push(refusedEntry(dir, answer, err));
    }
  }
  return listed.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/**
 * A listing's line for an entry of `dir` that did not verify: named as its claimed name
 * decrypts under the folder's key (the name is sealed to the entry's id, so it is a name that
 * was given in this folder, if perhaps an old one), or by its id when even that fails.
 */
function refusedEntry(dir: ResolvedEntry, answer: EntryResponse, err: FsError): ListedEntry {
  let claimed: DirEntryBody | undefined;
  try {
    claimed = decodeDirEntryUnverified(fromBase64url(answer.envelope, 'envelope'));
  } catch {
    // not even an entry
  }
  let name: string | undefined;
  if (claimed !== undefined) {
    try {
      name = parseEntryName(decryptName(dir.key, claimed.id, claimed.name));
    } catch {
      // sealed under another key, or not a name
    }
  }
  return {
    name: name ?? `?${claimed?.id.slice(0, 8) ?? 'unknown'}`,
    kind: claimed?.kind === 'dir' ? 'dir' : 'file',
    version: answer.version,
    owner: dir.body.owner,
    writer: '?',
    refused: err.message,
  };
}

/**
 * Opens an entry of the caller's own trash as the directory listed it: verified (signed by the
 * owner or a writer of its ACL, owned by the caller) and with its key. Its path is not known
 * (its parent may be gone too), so `path` is the owner's root and `name` is empty.
 * @throws FsError `integrity` when it does not verify
 */
export async function openOwnTrashEntry(
  ctx: AgentContext,
  answer: EntryResponse,
): Promise<ResolvedEntry> {
  const claimed = decodeDirEntryUnverified(fromBase64url(answer.envelope, 'envelope'));
  const { body, envelope } = await verifyEntry(ctx, answer, {
    parent: claimed.parent,
    owner: ctx.session.user,
    id: claimed.id,
    historic: true,
  });
  return {
    path: { owner: ctx.session.user, elements: [] },
    name: '',
    body,
    envelope,
    key: await unwrapEntryKey(ctx, body),
  };
}

/**
 * Every live entry of the tree under `start` (the caller's root by default), depth first,
 * verified and with its key, `start` first. Only entries the caller may read are visited.
 * @throws FsError `integrity` when the directory answers with anything that does not verify
 */
export async function* walkTree(
  ctx: AgentContext,
  start?: ResolvedEntry,
  options: {
    /**
     * Passes over an entry that does not verify (and, for a folder, what is below it) instead
     * of throwing: for walks that only show things (naming the trash). Never for a walk whose
     * result decides what may be released or changed.
     */
    skipRefused?: boolean;
  } = {},
): AsyncGenerator<ResolvedEntry> {
  const first = start ?? (await ensureRoot(ctx));
  if (first.body.kind !== 'dir') {
    yield first;
    return;
  }
  const pending: ResolvedEntry[] = [first];
  for (let dir = pending.pop(); dir !== undefined; dir = pending.pop()) {
    yield dir;
    const { entries } = await ctx.directory.call<{ entries: EntryResponse[] }>(
      'GET',
      routes.children.replace(':id', dir.body.id),
      undefined,
      ctx.session,
    );
    for (const answer of entries) {
      let entry: ResolvedEntry;
      try {
        entry = await walkedEntry(ctx, dir, answer);
      } catch (err) {
        if (options.skipRefused === true && err instanceof FsError && err.kind === 'integrity')
          continue;
        throw err;
      }
      if (entry.body.kind === 'dir') pending.push(entry);
      else yield entry;
    }
  }
}

/** A child of `dir` as a walk finds it: verified, named, with its key. @throws `integrity` */
async function walkedEntry(
  ctx: AgentContext,
  dir: ResolvedEntry,
  answer: EntryResponse,
): Promise<ResolvedEntry> {
  const { body, envelope, writer } = await verifyEntry(ctx, answer, {
    parent: dir.body.id,
    owner: dir.body.owner,
    parentBody: dir.body,
  });
  const name = parseEntryName(decryptName(dir.key, body.id, body.name));
  if (!constantTimeEqual(body.tag, lookupTag(dir.key, name))) {
    throw new FsError('integrity', 'an entry has a tag that does not match its name', {
      op: 'walk',
    });
  }
  return {
    path: { owner: dir.path.owner, elements: [...dir.path.elements, name] },
    name,
    body,
    envelope,
    key: await unwrapEntryKey(ctx, body),
    writer,
  };
}

/** Every live entry of the caller's own tree (see {@link walkTree}). */
export function walkOwnTree(ctx: AgentContext): AsyncGenerator<ResolvedEntry> {
  return walkTree(ctx);
}

/**
 * Removes an empty directory: a signed tombstone; it goes to the owner's trash.
 * @throws FsError `not-empty`, `not-dir`, `not-exist`, `permission`
 */
export async function rmdir(ctx: AgentContext, path: PathName): Promise<void> {
  if (path.elements.length === 0)
    throw new FsError('invalid', 'a root cannot be removed', { op: 'rmdir' });
  const { dir, entries } = await openDirectory(ctx, path, 'rmdir');
  if (entries.length > 0)
    throw new FsError('not-empty', `${formatPath(path)} is not empty`, {
      op: 'rmdir',
      path: formatPath(path),
    });
  await tombstone(ctx, dir);
}

/**
 * Removes a directory and everything under it, deepest first, each entry with its own signed
 * tombstone (so each goes to the owner's trash). Stops at the first failure: what was removed
 * stays in the trash, the rest stays in place.
 * @returns how many entries were removed, the directory included
 * @throws FsError `not-dir`, `not-exist`, `permission`
 */
export async function removeTree(ctx: AgentContext, path: PathName): Promise<number> {
  if (path.elements.length === 0)
    throw new FsError('invalid', 'a root cannot be removed', { op: 'rmdir' });
  const children = await list(ctx, path);
  // Nothing is removed at this level while an entry in it does not verify.
  const refused = children.find((child) => child.refused !== undefined);
  if (refused !== undefined) {
    throw new FsError('integrity', `${refused.name}: ${refused.refused}`, {
      op: 'rmdir',
      path: formatPath(path),
    });
  }
  let removed = 0;
  for (const child of children) {
    const childPath = {
      owner: path.owner,
      elements: [...path.elements, parseEntryName(child.name)],
    };
    if (child.kind === 'dir') removed += await removeTree(ctx, childPath);
    else {
      await tombstone(ctx, await resolve(ctx, childPath));
      removed += 1;
    }
  }
  await rmdir(ctx, path);
  return removed + 1;
}

/**
 * Writes the signed tombstone of an entry (its next version, marked deleted by the caller): the
 * entry moves to its owner's trash. A compare-and-swap on the version, like every update.
 */
export async function tombstone(ctx: AgentContext, entry: ResolvedEntry): Promise<void> {
  const now = Date.now();
  const body: DirEntryBody = {
    ...entry.body,
    version: entry.body.version + 1,
    prev: chainHash(entry.envelope),
    deleted: { at: now, by: ctx.session.user },
    time: now,
  };
  await writeEntryVersion(ctx, body, entry.body.version);
}

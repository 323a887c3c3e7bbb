/**
 * Sharing (DESIGN.md section 5): the owner grants and withdraws read and write rights per file
 * or folder, and grantees find what is shared with them.
 *
 * A change of rights is a new version of each entry it touches, signed by the owner, with a new
 * ACL certificate and the entry's key wrapped to exactly the owner and the grantees (each
 * grantee's key log is verified first; one that does not verify stops the change before
 * anything is written). A folder's change reaches everything in it, deepest first, so that an
 * entry that inherits its folder's certificate never points at one its folder no longer has.
 *
 * Withdrawing a grant removes the user's wrapped key and their right at the directory and at
 * peers; the key itself is not rotated here (the revocation issue does that), so a user who kept
 * the key from before could still decrypt versions they could read then.
 */
import type { Grant, Right } from '../interface/directory-store.js';
import { FsError } from '../interface/errors.js';
import { mergeGrants } from '../interface/grants.js';
import type { UserName } from '../interface/names.js';
import { formatPath, type PathName } from '../interface/paths.js';
import { toBase64url } from '../wire/base64.js';
import { type DirEntryBody, grantsOf, signDirEntry } from '../wire/dir-entry.js';
import { routes } from '../wire/directory-api.js';
import { openEntryAcl, signEntryAcl } from '../wire/entry-acl.js';
import { chainHash } from '../wire/key-log.js';
import { aclOfGrants, encryptionKeysOf, wrapTo } from './entry-access.js';
import {
  type AgentContext,
  resolve,
  type ResolvedEntry,
  sharedTops,
  walkTree,
} from './namespace.js';

/** What a share or unshare changed. */
export interface SharingChange {
  path: PathName;
  kind: 'file' | 'dir';
  /** Entries given a new version (the folder and everything under it, for a folder). */
  entries: number;
  /** The grants of `path` afterwards. */
  grants: Grant[];
}

/** Who may do what with an entry. */
export interface Permissions {
  path: PathName;
  kind: 'file' | 'dir';
  owner: UserName;
  version: number;
  /** Who signed the current version. */
  writer: UserName;
  grants: Grant[];
  /** Whether the grants were inherited from the folder it was created in. */
  inherited: boolean;
}

/** An entry shared with the caller by someone else. */
export interface SharedItem {
  owner: UserName;
  /** Its name, as its owner gave it. */
  name: string;
  /** Where the caller reaches it: `/owner/name` (a shared entry appears at its owner's top). */
  path: PathName;
  kind: 'file' | 'dir';
  right: Right;
  version: number;
}

function requireOwner(ctx: AgentContext, entry: ResolvedEntry, verb: string): void {
  if (entry.body.owner !== ctx.session.user) {
    throw new FsError(
      'permission',
      `only ${entry.body.owner} (the owner) may ${verb} ${formatPath(entry.path)}`,
      { op: verb, path: formatPath(entry.path) },
    );
  }
}

const sameGrants = (a: readonly Grant[], b: readonly Grant[]) =>
  a.length === b.length && a.every((g) => b.some((h) => h.user === g.user && h.right === g.right));

/** The entry and, for a folder, everything in it, deepest first (the entry itself last). */
async function entriesUnder(ctx: AgentContext, entry: ResolvedEntry): Promise<ResolvedEntry[]> {
  const all: ResolvedEntry[] = [];
  for await (const found of walkTree(ctx, entry)) all.push(found);
  return all.reverse();
}

/** Writes the owner's next version of `entry` with exactly `grants`. */
async function writeAccess(
  ctx: AgentContext,
  entry: ResolvedEntry,
  grants: readonly Grant[],
): Promise<void> {
  const owner = entry.body.owner;
  const version = entry.body.version + 1;
  const acl = aclOfGrants(grants);
  const users = [owner, ...acl.r, ...acl.w];
  const kept = Object.fromEntries(
    Object.entries(entry.body.keys).filter(([user]) => users.includes(user as UserName)),
  );
  const now = Date.now();
  const body: DirEntryBody = {
    ...entry.body,
    version,
    acl,
    aclCert: signEntryAcl(ctx.session.identity.signing, {
      entry: entry.body.id,
      owner,
      version,
      ...acl,
    }),
    keys: await wrapTo(ctx, { id: entry.body.id, kind: entry.body.kind }, entry.key, users, kept),
    prev: chainHash(entry.envelope),
    time: now,
  };
  await ctx.directory.call(
    'PUT',
    routes.entry.replace(':id', entry.body.id),
    {
      envelope: toBase64url(signDirEntry(ctx.session.identity.signing, body)),
      expectedVersion: entry.body.version,
    },
    ctx.session,
  );
}

/** Applies `change` to the grants of the entry at `path` and of everything in it. */
async function changeAccess(
  ctx: AgentContext,
  path: PathName,
  verb: 'share' | 'unshare',
  change: (grants: readonly Grant[]) => Grant[],
): Promise<SharingChange & { touched: boolean }> {
  const target = await resolve(ctx, path);
  requireOwner(ctx, target, verb);
  let entries = 0;
  let after: Grant[] = grantsOf(target.body);
  for (const entry of await entriesUnder(ctx, target)) {
    const before = grantsOf(entry.body);
    const next = change(before);
    if (entry.body.id === target.body.id) after = next;
    if (sameGrants(before, next)) continue;
    await writeAccess(ctx, entry, next);
    entries += 1;
  }
  return { path, kind: target.body.kind, entries, grants: after, touched: entries > 0 };
}

/**
 * Adds grants to a file or folder (owner only; a folder's grants go to everything in it). A
 * user who already has a right keeps the stronger one.
 * @throws FsError `permission` (not the owner), `not-exist`, `integrity` (a grantee's keys do not
 *   verify: nothing is shared), `invalid`
 */
export async function share(
  ctx: AgentContext,
  path: PathName,
  grants: readonly Grant[],
): Promise<SharingChange> {
  if (grants.length === 0) {
    throw new FsError('invalid', 'name at least one user and right, e.g. `bob r`', { op: 'share' });
  }
  const added = mergeGrants(grants, ctx.session.user);
  // Every grantee's key log is checked before the first version is written.
  await encryptionKeysOf(
    ctx,
    added.map((g) => g.user),
  );
  const change = await changeAccess(ctx, path, 'share', (current) =>
    mergeGrants([...current, ...added]),
  );
  return { path: change.path, kind: change.kind, entries: change.entries, grants: change.grants };
}

/**
 * Withdraws every right of `users` on a file or folder and everything in it (owner only).
 * @throws FsError `invalid` when none of them had a right there
 */
export async function unshare(
  ctx: AgentContext,
  path: PathName,
  users: readonly UserName[],
): Promise<SharingChange> {
  if (users.length === 0) {
    throw new FsError('invalid', 'name at least one user to unshare with', { op: 'unshare' });
  }
  const { touched, ...change } = await changeAccess(ctx, path, 'unshare', (current) =>
    current.filter((g) => !users.includes(g.user)),
  );
  if (!touched) {
    throw new FsError(
      'invalid',
      `${users.join(', ')} had no access to ${formatPath(path)}; \`perms\` shows who has`,
      { op: 'unshare', path: formatPath(path) },
    );
  }
  return change;
}

/** The owner, writer and grants of an entry the caller may read. */
export async function permissions(ctx: AgentContext, path: PathName): Promise<Permissions> {
  const entry = await resolve(ctx, path);
  const ownerKey = (await ctx.directory.keyLog(entry.body.owner)).identity.signingKey;
  const acl = openEntryAcl(entry.body.aclCert, ownerKey);
  return {
    path,
    kind: entry.body.kind,
    owner: entry.body.owner,
    version: entry.body.version,
    writer: entry.writer ?? entry.body.owner,
    grants: grantsOf(entry.body),
    inherited: acl.entry !== entry.body.id,
  };
}

/** The caller's right on an entry someone else owns. */
function rightOf(body: DirEntryBody, user: UserName): Right {
  return body.acl.w.includes(user) ? 'w' : 'r';
}

/**
 * Everything shared with the caller, by owner then name: the top of each shared tree (what is
 * inside a shared folder is reached through it).
 */
export async function sharedWithMe(ctx: AgentContext): Promise<SharedItem[]> {
  return (await sharedTops(ctx)).map((top) => ({
    owner: top.body.owner,
    name: top.name,
    path: top.path,
    kind: top.body.kind,
    right: rightOf(top.body, ctx.session.user),
    version: top.body.version,
  }));
}

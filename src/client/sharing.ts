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
 *
 * Grants may name the owner's groups (`@team`): `share` and `unshare` edit the grants as given,
 * which the certificate keeps, and every version's readers and writers are what they come to
 * with each group expanded to its members (entry-access.ts). Withdrawing a user's own grant
 * leaves what they get through a group; the answer says so.
 */
import type { Grant, Right } from '../interface/directory-store.js';
import { FsError } from '../interface/errors.js';
import { type AclGrant, mergeGrants } from '../interface/grants.js';
import { type Grantee, type GroupRef, groupNameOf, isGroupRef } from '../interface/groups.js';
import type { UserName } from '../interface/names.js';
import { formatPath, type PathName } from '../interface/paths.js';
import { type DirEntryBody, grantsOf } from '../wire/dir-entry.js';
import { openEntryAcl, sameUsers } from '../wire/entry-acl.js';
import { chainHash } from '../wire/key-log.js';
import { encryptionKeysOf, expandGrants, ownerAccess, ownGrantsOf } from './entry-access.js';
import { type GroupLookup, groupLookup } from './group-records.js';
import { rekeyFile } from './rekey.js';
import type { BlockTransport } from './files.js';
import {
  type AgentContext,
  resolve,
  type ResolvedEntry,
  sharedTops,
  walkTree,
} from './namespace.js';
import { writeEntryVersion } from './entry-writes.js';

/** A user named in `unshare` who still has access through the owner's groups. */
export interface StillThrough {
  user: UserName;
  groups: GroupRef[];
}

/** What a share or unshare changed. */
export interface SharingChange {
  path: PathName;
  kind: 'file' | 'dir';
  /** Entries given a new version (the folder and everything under it, for a folder). */
  entries: number;
  /** The grants of `path` afterwards, as given (users and groups), writers first. */
  grants: AclGrant[];
  /** `unshare` only: users it named who still have access to `path` through a group. */
  stillThrough?: StillThrough[];
}

/** A grant as `perms` shows it: a group's grant comes with its members, when known. */
export interface PermissionGrant extends AclGrant {
  /** A group's current members; only its owner can read a group, so only for the owner. */
  members?: UserName[];
}

/** Who may do what with an entry. */
export interface Permissions {
  path: PathName;
  kind: 'file' | 'dir';
  owner: UserName;
  version: number;
  /** Who signed the current version. */
  writer: UserName;
  /** The grants as the owner gave them (users and the owner's groups), writers first. */
  grants: PermissionGrant[];
  /** Who may read and write it: the users the grants came to, groups expanded. */
  users: Grant[];
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

/**
 * What sharing needs: the agent context, and for replacing the key of a file a user loses access
 * to, the block transport (without it, or above `eagerRekeyMaxBytes`, the content's old key is
 * carried under the new one instead of the content being sealed again: rekey.ts).
 */
export interface SharingContext extends AgentContext {
  blocks?: BlockTransport;
  eagerRekeyMaxBytes?: number;
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

const sameGrants = (a: readonly AclGrant[], b: readonly AclGrant[]) =>
  a.length === b.length && a.every((g) => b.some((h) => h.user === g.user && h.right === g.right));

const bytewise = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** Grants in the order they are shown: writers first, then readers, each by name. */
export function shownGrants<G extends AclGrant>(grants: readonly G[]): G[] {
  return [...grants].sort((a, b) =>
    a.right !== b.right ? (a.right === 'w' ? -1 : 1) : bytewise(a.user, b.user),
  );
}

/** The entry and, for a folder, everything in it, deepest first (the entry itself last). */
export async function entriesUnder(
  ctx: AgentContext,
  entry?: ResolvedEntry,
): Promise<ResolvedEntry[]> {
  const all: ResolvedEntry[] = [];
  for await (const found of walkTree(ctx, entry)) all.push(found);
  return all.reverse();
}

/**
 * Gives the caller's own `entry` exactly `grants` (groups expanded to their members as
 * `lookup` reads them): a new version signed by the owner, with a new certificate and the key
 * wrapped to exactly the owner and the users, unless both the grants and the users it comes to
 * are what the entry has already.
 * @returns whether a version was written
 * @throws FsError `not-exist` (a group the caller does not have), `invalid` (too many users),
 *   `integrity` (a new user's key log does not verify), `conflict` (the entry changed meanwhile)
 */
export async function applyGrants(
  ctx: SharingContext,
  entry: ResolvedEntry,
  grants: readonly AclGrant[],
  lookup: GroupLookup,
): Promise<boolean> {
  const expanded = await expandGrants(ctx, grants, lookup);
  const { acl } = expanded;
  if (
    sameGrants(ownGrantsOf(ctx, entry.body), expanded.grants) &&
    sameUsers(acl.r, entry.body.acl.r) &&
    sameUsers(acl.w, entry.body.acl.w)
  ) {
    return false;
  }
  const version = entry.body.version + 1;
  // A user who loses access must not read what is written next: a file's key is replaced
  // (rekey.ts), and then wrapped afresh to exactly the users who keep access.
  const kept = new Set<string>([...acl.r, ...acl.w]);
  const removed = [...entry.body.acl.r, ...entry.body.acl.w].filter((u) => !kept.has(u));
  const rekey =
    removed.length > 0 && entry.body.kind === 'file' && entry.body.meta.length > 0
      ? await rekeyFile(ctx, entry, version, ctx.eagerRekeyMaxBytes)
      : undefined;
  const body: DirEntryBody = {
    ...entry.body,
    version,
    ...(rekey === undefined
      ? await ownerAccess(ctx, entry, expanded, version)
      : {
          ...(await ownerAccess(
            ctx,
            { body: { ...entry.body, keys: {} }, key: rekey.key },
            expanded,
            version,
          )),
          meta: rekey.meta,
          label: rekey.label,
        }),
    prev: chainHash(entry.envelope),
    time: Date.now(),
  };
  await writeEntryVersion(ctx, body, entry.body.version);
  return true;
}

/** The entry at `path`, which the caller must own to `verb` it. */
async function ownTarget(
  ctx: AgentContext,
  path: PathName,
  verb: 'share' | 'unshare',
): Promise<ResolvedEntry> {
  const target = await resolve(ctx, path);
  requireOwner(ctx, target, verb);
  return target;
}

/** Applies `change` to the grants of `target` (at `path`) and of everything in it. */
async function changeAccess(
  ctx: SharingContext,
  path: PathName,
  target: ResolvedEntry,
  change: (grants: readonly AclGrant[]) => AclGrant[],
  lookup: GroupLookup,
): Promise<SharingChange> {
  let entries = 0;
  let after = ownGrantsOf(ctx, target.body);
  for (const entry of await entriesUnder(ctx, target)) {
    const next = change(ownGrantsOf(ctx, entry.body));
    if (entry.body.id === target.body.id) after = next;
    if (await applyGrants(ctx, entry, next, lookup)) entries += 1;
  }
  return { path, kind: target.body.kind, entries, grants: shownGrants(after) };
}

/** Which of `users` `grants` reach through a group, and through which groups. */
async function throughGroups(
  users: readonly UserName[],
  grants: readonly AclGrant[],
  lookup: GroupLookup,
): Promise<StillThrough[]> {
  const found: StillThrough[] = [];
  for (const user of users) {
    const groups: GroupRef[] = [];
    for (const grant of grants) {
      if (!isGroupRef(grant.user)) continue;
      const group = await lookup.get(groupNameOf(grant.user));
      if (group?.members.includes(user)) groups.push(grant.user);
    }
    if (groups.length > 0) found.push({ user, groups });
  }
  return found;
}

/**
 * Adds grants to a file or folder (owner only; a folder's grants go to everything in it). A
 * user or group who already has a right keeps the stronger one. A grant may name one of the
 * caller's groups, `@team`: its members get the right, and follow the group as it changes.
 * @throws FsError `permission` (not the owner), `not-exist` (the path, or a group the caller
 *   does not have), `integrity` (a grantee's keys do not verify: nothing is shared), `invalid`
 */
export async function share(
  ctx: SharingContext,
  path: PathName,
  grants: readonly AclGrant[],
): Promise<SharingChange> {
  if (grants.length === 0) {
    throw new FsError('invalid', 'name at least one user and right, e.g. `bob r`', { op: 'share' });
  }
  const added = mergeGrants(grants, ctx.session.user);
  const target = await ownTarget(ctx, path, 'share');
  const lookup = groupLookup(ctx);
  // Every group named must exist, and every user reached have a key log that verifies, before
  // the first version is written.
  const { acl } = await expandGrants(ctx, added, lookup);
  await encryptionKeysOf(ctx, [...acl.r, ...acl.w]);
  return changeAccess(ctx, path, target, (current) => mergeGrants([...current, ...added]), lookup);
}

/**
 * Withdraws the grants of `grantees` (users, or the caller's groups, `@team`) on a file or
 * folder and everything in it (owner only). A user withdrawn who still has access through a
 * group keeps it; `stillThrough` names them and the groups.
 * @throws FsError `invalid` when none of them had a grant there (saying so when a user named
 *   has access only through a group)
 */
export async function unshare(
  ctx: SharingContext,
  path: PathName,
  grantees: readonly Grantee[],
): Promise<SharingChange> {
  if (grantees.length === 0) {
    throw new FsError('invalid', 'name at least one user to unshare with', { op: 'unshare' });
  }
  const target = await ownTarget(ctx, path, 'unshare');
  const lookup = groupLookup(ctx);
  const users = grantees.filter((g): g is UserName => !isGroupRef(g));
  const change = await changeAccess(
    ctx,
    path,
    target,
    (current) => current.filter((g) => !grantees.includes(g.user)),
    lookup,
  );
  const stillThrough = await throughGroups(users, change.grants, lookup);
  if (change.entries === 0) {
    const shown = formatPath(path);
    const only = stillThrough
      .map(({ user, groups }) => `${user} has access only through ${groups.join(', ')}`)
      .join('; ');
    throw new FsError(
      'invalid',
      only === ''
        ? `${grantees.join(', ')} had no access to ${shown}; \`perms\` shows who has`
        : `${only}: unshare ${shown} from the group, or remove ${users.length === 1 ? 'them' : 'the users'} from it with \`group remove\``,
      { op: 'unshare', path: shown },
    );
  }
  return stillThrough.length === 0 ? change : { ...change, stillThrough };
}

/**
 * The owner, writer and grants of an entry the caller may read. The owner also sees the
 * current members of each group the grants name.
 */
export async function permissions(ctx: AgentContext, path: PathName): Promise<Permissions> {
  const entry = await resolve(ctx, path);
  const ownerKey = (await ctx.directory.keyLog(entry.body.owner)).identity.signingKey;
  const acl = openEntryAcl(entry.body.aclCert, ownerKey);
  const mine = entry.body.owner === ctx.session.user;
  const lookup = groupLookup(ctx);
  const grants: PermissionGrant[] = [];
  for (const grant of acl.grants) {
    const group =
      mine && isGroupRef(grant.user) ? await lookup.get(groupNameOf(grant.user)) : undefined;
    grants.push(group === undefined ? { ...grant } : { ...grant, members: [...group.members] });
  }
  return {
    path,
    kind: entry.body.kind,
    owner: entry.body.owner,
    version: entry.body.version,
    writer: entry.writer ?? entry.body.owner,
    grants: shownGrants(grants),
    users: grantsOf(entry.body),
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

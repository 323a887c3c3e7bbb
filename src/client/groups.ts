/**
 * Groups (issue 6, point 1): a user's named lists of users, `@team`, that stand where a user
 * stands in a grant (`touch notes.txt @team r`, `share docs @team w`). Only the owner reads and
 * changes their groups; the directory keeps each as a record the owner signs (wire/group.ts).
 *
 * A grant to a group is kept as given in each entry's certificate, whose readers and writers
 * are the members when it was signed (entry-access.ts). So changing a group's members changes
 * every entry of the owner's tree whose certificate names it: each gets a new version signed by
 * the owner, with the key wrapped to the members now (a new member reads at once; a removed one
 * loses the entry at the directory and at peers, and their wrapped key is gone from the new
 * version). The group record is saved first, then the entries, deepest first (as `share` does,
 * so an entry that carries its folder's certificate never names one its folder lost). If that
 * is interrupted, running the same command again finishes it: the entries are brought to the
 * group as it is, whatever changed.
 *
 * As with `unshare`, a removed member's key is not rotated here (the revocation issue does that):
 * what they could read before, they may have kept.
 */
import { FsError } from '../interface/errors.js';
import type { AclGrant } from '../interface/grants.js';
import { type GroupName, groupRef, maxGroupMembers } from '../interface/groups.js';
import type { UserName } from '../interface/names.js';
import { toBase64url } from '../wire/base64.js';
import { type PutGroupResponse, routes } from '../wire/directory-api.js';
import { signGroup } from '../wire/group.js';
import { encryptionKeysOf, ownGrantsOf } from './entry-access.js';
import {
  forgetGroup,
  type Group,
  groupLookup,
  type GroupLookup,
  noteGroup,
  readOwnGroups,
} from './group-records.js';
import type { AgentContext } from './namespace.js';
import { applyGrants, entriesUnder } from './sharing.js';

export type { Group } from './group-records.js';

/** A change to a group's members. */
export type GroupChange =
  /** Makes the group with these members; `exist` when it exists. */
  | { create: readonly UserName[] }
  /** Makes the group or replaces its members with these. */
  | { set: readonly UserName[] }
  | { add: readonly UserName[] }
  | { remove: readonly UserName[] };

/** What saving a group did. */
export interface GroupSaved extends Group {
  /** Whether the group was made now. */
  created: boolean;
  /** Entries given a new version, because their grants name the group. */
  entries: number;
}

/** What deleting a group did. */
export interface GroupDeleted {
  name: GroupName;
  /** Entries the group's grants were removed from (with `force`). */
  entries: number;
}

/**
 * The caller's groups, by name, each verified (signed by the caller's own key).
 * @throws FsError `integrity` when the directory answers with anything that does not verify
 */
export function listGroups(ctx: AgentContext): Promise<Group[]> {
  return readOwnGroups(ctx);
}

/**
 * One of the caller's groups, verified.
 * @throws FsError `not-exist`, `integrity`
 */
export async function getGroup(ctx: AgentContext, name: GroupName): Promise<Group> {
  const group = (await readOwnGroups(ctx)).find((g) => g.name === name);
  if (group === undefined) throw noGroup(name, 'group.get');
  return group;
}

function noGroup(name: GroupName, op: string): FsError {
  return new FsError(
    'not-exist',
    `you have no group @${name}; make it with \`group create ${name} USER ...\``,
    { op },
  );
}

/** The members after `change`, and what `change` needs of the group as it is. */
function membersAfter(
  current: Group | undefined,
  change: GroupChange,
  name: GroupName,
  op: string,
): UserName[] {
  if ('create' in change) {
    if (current !== undefined) {
      throw new FsError(
        'exist',
        `you already have @${name}; change its members with \`group add\` or \`group remove\``,
        { op },
      );
    }
    return [...change.create];
  }
  if ('set' in change) return [...change.set];
  if (current === undefined) throw noGroup(name, op);
  if ('add' in change) return [...current.members, ...change.add];
  const missing = change.remove.filter((user) => !current.members.includes(user));
  if (missing.length > 0) {
    throw new FsError(
      'invalid',
      `${missing.join(', ')} ${missing.length === 1 ? 'is' : 'are'} not in @${name}`,
      { op },
    );
  }
  return current.members.filter((user) => !change.remove.includes(user));
}

/**
 * Brings every entry of the caller's tree whose grants name `@name` to `grants(current)` (by
 * default, as they are: each group expanded to its members now).
 * @returns how many entries got a new version, and how many name the group
 */
async function reapply(
  ctx: AgentContext,
  name: GroupName,
  lookup: GroupLookup,
  grants: (current: readonly AclGrant[]) => AclGrant[] = (current) => [...current],
  dryRun = false,
): Promise<{ changed: number; using: number }> {
  const ref = groupRef(name);
  let changed = 0;
  let using = 0;
  // Deepest first: a folder's new certificate comes after what carries its old one.
  for (const entry of await entriesUnder(ctx)) {
    const current = ownGrantsOf(ctx, entry.body);
    if (!current.some((g) => g.user === ref)) continue;
    using += 1;
    if (!dryRun && (await applyGrants(ctx, entry, grants(current), lookup))) changed += 1;
  }
  return { changed, using };
}

/**
 * Creates a group or changes its members, then gives every entry shared with the group a new
 * version with the members it has now (module comment).
 * @throws FsError `exist` (create: it exists), `not-exist` (no such group to change, or a member
 *   who is no user), `invalid` (the owner as a member, a member removed who is not in it, too
 *   many members), `integrity` (a new member's key log does not verify: nothing was changed),
 *   `conflict` (the group changed meanwhile, from another device: run it again)
 */
export async function saveGroup(
  ctx: AgentContext,
  name: GroupName,
  change: GroupChange,
): Promise<GroupSaved> {
  const op = 'group.save';
  const me = ctx.session.user;
  const current = (await readOwnGroups(ctx)).find((g) => g.name === name);
  const members = [...new Set(membersAfter(current, change, name, op))].sort();
  if (members.includes(me)) {
    throw new FsError('invalid', `you own @${name} and so are never one of its members`, { op });
  }
  if (members.length > maxGroupMembers) {
    throw new FsError('invalid', `a group has at most ${maxGroupMembers} members`, { op });
  }
  const same =
    current !== undefined &&
    current.members.length === members.length &&
    current.members.every((user, i) => user === members[i]);
  let group: Group = current ?? { name, version: 0, members: [], time: 0 };
  if (!same) {
    // Every new member's key log must verify before the group names them.
    const added = members.filter((user) => !(current?.members ?? []).includes(user));
    await encryptionKeysOf(ctx, added);
    const next = { name, version: group.version + 1, members, time: Date.now() };
    const envelope = signGroup(ctx.session.identity.signing, { owner: me, ...next });
    await ctx.directory.call<PutGroupResponse>(
      'PUT',
      routes.group.replace(':name', name),
      { envelope: toBase64url(envelope), expectedVersion: group.version },
      ctx.session,
    );
    group = next;
    noteGroup(ctx, group);
  }
  // Even when the members did not change, entries are brought to the group as it is: that
  // finishes a change that was interrupted. This group as just signed, not as read back.
  const others = groupLookup(ctx);
  const saved = group;
  const lookup: GroupLookup = {
    get: (n) => (n === name ? Promise.resolve(saved) : others.get(n)),
  };
  const { changed } = await reapply(ctx, name, lookup);
  return { ...group, created: current === undefined, entries: changed };
}

/**
 * Deletes a group. A group that entries are still shared with is kept (`invalid`, saying how
 * many), unless `force`: then it is first removed from the grants of every such entry (whose
 * members lose what they had through it), and deleted after.
 * @throws FsError `not-exist`, `invalid` (still in use, without `force`)
 */
export async function deleteGroup(
  ctx: AgentContext,
  name: GroupName,
  options: { force?: boolean } = {},
): Promise<GroupDeleted> {
  const op = 'group.delete';
  const ref = groupRef(name);
  await getGroup(ctx, name);
  const lookup = groupLookup(ctx);
  const { using } = await reapply(ctx, name, lookup, undefined, true);
  if (using > 0 && options.force !== true) {
    throw new FsError(
      'invalid',
      `${using} ${using === 1 ? 'entry is' : 'entries are'} shared with @${name}; unshare ${using === 1 ? 'it' : 'them'} first, or delete with --force to take @${name} off ${using === 1 ? 'it' : 'them'}`,
      { op },
    );
  }
  const { changed } =
    using === 0
      ? { changed: 0 }
      : await reapply(ctx, name, lookup, (current) => current.filter((g) => g.user !== ref));
  await ctx.directory.call('DELETE', routes.group.replace(':name', name), undefined, ctx.session);
  forgetGroup(ctx, name);
  return { name, entries: changed };
}

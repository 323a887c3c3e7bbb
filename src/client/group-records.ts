/**
 * The caller's groups as the directory keeps them, verified: each record must be signed by the
 * caller's own current key, name the caller as owner and be the group and version the directory
 * says it is (wire/group.ts). A directory that forges or edits a group is refused with an
 * `integrity` error; one that withholds a group makes a change that names it fail.
 *
 * Rollback: the directory could hand out an older version of a group (one that still lists a
 * member the owner removed), so that the next entry shared with the group is wrapped to them.
 * A directory client remembers the newest version of each group it has seen and refuses an
 * older one, unless it is newer in time (the group was deleted and made again, from version 1).
 * This memory lasts as long as the client (a peer's), not across restarts.
 *
 * Security-sensitive: group members become readers and writers of every entry shared with
 * the group, so nothing here may trust what it has not verified.
 */
import { FsError } from '../interface/errors.js';
import type { GroupName } from '../interface/groups.js';
import type { UserName } from '../interface/names.js';
import { fromBase64url, toBase64url } from '../wire/base64.js';
import { type GroupsResponse, maxGroupBytes, routes } from '../wire/directory-api.js';
import { openGroup, signGroup } from '../wire/group.js';
import type { DirectoryClient } from './directory-client.js';
import type { AgentContext } from './entry-verify.js';

/** One of the caller's groups, verified. */
export interface Group {
  name: GroupName;
  version: number;
  /** Sorted; never the owner. */
  members: readonly UserName[];
  /** When its owner signed this version (ms). */
  time: number;
}

/** The newest version (and its time) of each group seen, per directory client. */
const seen = new WeakMap<DirectoryClient, Map<string, { version: number; time: number }>>();

function pinsOf(directory: DirectoryClient): Map<string, { version: number; time: number }> {
  let pins = seen.get(directory);
  if (!pins) {
    pins = new Map();
    seen.set(directory, pins);
  }
  return pins;
}

const pinKey = (ctx: AgentContext, name: GroupName) => `${ctx.session.user}\0${name}`;

/** Remembers `group` as the newest seen, unless a newer one was. */
export function noteGroup(ctx: AgentContext, group: Group): void {
  const pins = pinsOf(ctx.directory);
  const pin = pins.get(pinKey(ctx, group.name));
  if (pin === undefined || group.version > pin.version || group.time > pin.time) {
    pins.set(pinKey(ctx, group.name), { version: group.version, time: group.time });
  }
}

/** Forgets a group this device deleted (it may be made again, from version 1). */
export function forgetGroup(ctx: AgentContext, name: GroupName): void {
  pinsOf(ctx.directory).delete(pinKey(ctx, name));
}

function verified(ctx: AgentContext, answer: GroupsResponse['groups'][number]): Group {
  const op = 'group.verify';
  const envelope = fromBase64url(answer.envelope, 'envelope', { maxBytes: maxGroupBytes });
  // Only the owner reads a group, so the key is the caller's own, not the directory's word.
  const body = openGroup(envelope, ctx.session.identity.signing.publicKey);
  if (
    body.owner !== ctx.session.user ||
    body.name !== answer.name ||
    body.version !== answer.version
  ) {
    throw new FsError('integrity', 'the directory returned a group under another name', { op });
  }
  const pin = pinsOf(ctx.directory).get(pinKey(ctx, body.name));
  if (pin !== undefined && body.version < pin.version && body.time <= pin.time) {
    throw new FsError(
      'integrity',
      `the directory returned an older version of @${body.name} (${body.version}) than this device saw (${pin.version})`,
      { op },
    );
  }
  const group = { name: body.name, version: body.version, members: body.members, time: body.time };
  noteGroup(ctx, group);
  return group;
}

/**
 * The caller's groups, by name, each verified.
 * @throws FsError `integrity` when the directory answers with anything that does not verify
 */
export async function readOwnGroups(ctx: AgentContext): Promise<Group[]> {
  const { groups } = await ctx.directory.call<GroupsResponse>(
    'GET',
    routes.groups,
    undefined,
    ctx.session,
  );
  return groups.map((answer) => verified(ctx, answer));
}

/** Members of the caller's groups, read from the directory once per lookup. */
export interface GroupLookup {
  /** The group's verified record, or undefined when the caller has no group of that name. */
  get(name: GroupName): Promise<Group | undefined>;
}

/**
 * A lookup for one change: the groups are read (and verified) on first use and kept, so every
 * entry the change touches sees the same members.
 */
export function groupLookup(ctx: AgentContext): GroupLookup {
  let groups: Promise<Map<GroupName, Group>> | undefined;
  return {
    async get(name) {
      groups ??= readOwnGroups(ctx).then((list) => new Map(list.map((g) => [g.name, g])));
      return (await groups).get(name);
    },
  };
}

/**
 * After a revocation (client/revocation.ts): signs again with the caller's current key each of
 * their groups still signed by an identity their key log has since replaced, with the same
 * members, as the next version. A group nobody of the caller's identities signed is left as
 * it is (reading it stays an `integrity` error). Like the rest of a revocation, this trusts
 * what the replaced key signed before it was replaced; a change that lost a race is left for
 * the next run.
 * @returns how many groups were signed again
 */
export async function resignOwnGroups(ctx: AgentContext): Promise<number> {
  const { groups } = await ctx.directory.call<GroupsResponse>(
    'GET',
    routes.groups,
    undefined,
    ctx.session,
  );
  let resigned = 0;
  for (const answer of groups) {
    const envelope = fromBase64url(answer.envelope, 'envelope', { maxBytes: maxGroupBytes });
    try {
      openGroup(envelope, ctx.session.identity.signing.publicKey);
      continue;
    } catch {
      // signed by a replaced key, or by no key of ours
    }
    const old = (ctx.session.previous ?? [])
      .map((identity) => {
        try {
          return openGroup(envelope, identity.signing.publicKey);
        } catch {
          return undefined;
        }
      })
      .find((body) => body !== undefined);
    if (
      old === undefined ||
      old.owner !== ctx.session.user ||
      old.name !== answer.name ||
      old.version !== answer.version
    ) {
      continue;
    }
    const next = { ...old, version: old.version + 1, time: Date.now() };
    try {
      await ctx.directory.call(
        'PUT',
        routes.group.replace(':name', old.name),
        {
          envelope: toBase64url(signGroup(ctx.session.identity.signing, next)),
          expectedVersion: old.version,
        },
        ctx.session,
      );
    } catch (err) {
      if (err instanceof FsError && err.kind === 'conflict') continue;
      throw err;
    }
    noteGroup(ctx, next);
    resigned += 1;
  }
  return resigned;
}

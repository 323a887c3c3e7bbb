/**
 * Who holds an entry's key and who may read or write it: the `keys`, `acl` and `aclCert` fields
 * of a version, built by the agent that writes it.
 *
 * Keys are wrapped (HPKE) to each user's current encryption key, read from their key log, which
 * the directory client verifies (signatures, chain, and the head this device saw before). If a
 * user's log does not verify, nothing is wrapped for anyone: a directory substituting a key
 * gets a refusal, never a key wrapped to it.
 *
 * Inheritance: a file or folder created in a folder gets the folder's grants. The owner signs a
 * new certificate for it (adding any grants given at creation); a writer cannot sign one, so
 * the new entry carries the folder's certificate as it is (readers check it is the folder's).
 *
 * Groups: a grant may name one of the owner's groups (`@team`). The certificate keeps the grants
 * as given and lists, as readers and writers, the users they come to with each group expanded
 * to its current members (a user granted directly and through a group gets the stronger
 * right); only the owner's agent expands, from group records it verifies (group-records.ts).
 */
import type { Grant, Right } from '../interface/directory-store.js';
import { FsError } from '../interface/errors.js';
import { type AclGrant, mergeGrants } from '../interface/grants.js';
import { groupNameOf, isGroupRef } from '../interface/groups.js';
import type { FileId } from '../interface/ids.js';
import type { UserName } from '../interface/names.js';
import { utf8 } from '../crypto/bytes.js';
import type { SecretBytes } from '../crypto/secret.js';
import { unwrapKey, wrapKey } from '../crypto/wrap.js';
import type { DirEntryBody } from '../wire/dir-entry.js';
import { maxAclUsers, openEntryAcl, signEntryAcl } from '../wire/entry-acl.js';
import type { AgentContext } from './entry-verify.js';
import { type GroupLookup, groupLookup } from './group-records.js';

/** The access fields of one entry version. */
export interface EntryAccess {
  keys: Record<string, Uint8Array>;
  acl: { r: UserName[]; w: UserName[] };
  aclCert: Uint8Array;
}

const keyContext = (id: FileId, user: UserName) => utf8(`peervault/v1/entry-key\0${id}\0${user}`);
const purposeOf = (kind: 'file' | 'dir') => (kind === 'dir' ? 'name-key' : 'file-key');

/** Splits grants into the two ACL lists (sorted, as certificates keep them). */
export function aclOfGrants(grants: readonly Grant[]): { r: UserName[]; w: UserName[] } {
  return {
    r: grants
      .filter((g) => g.right === 'r')
      .map((g) => g.user)
      .sort(),
    w: grants
      .filter((g) => g.right === 'w')
      .map((g) => g.user)
      .sort(),
  };
}

/**
 * The current encryption keys of `users`, each from a verified key log. All are checked before
 * any is used, so one bad log stops the whole change.
 * @throws FsError `integrity` naming the user whose keys do not verify
 */
export async function encryptionKeysOf(
  ctx: AgentContext,
  users: readonly UserName[],
): Promise<Map<UserName, Uint8Array>> {
  const keys = new Map<UserName, Uint8Array>();
  for (const user of new Set(users)) {
    // The caller's own current key is the session's: a key change made elsewhere ends this
    // session, so nothing wrapped here to an old key could be stored.
    if (user === ctx.session.user) {
      keys.set(user, ctx.session.identity.encryption.publicKey);
      continue;
    }
    try {
      // Fetched afresh: a key is about to be wrapped to it.
      keys.set(user, (await ctx.directory.keyLog(user, { fresh: true })).identity.encryptionKey);
    } catch (err) {
      if (err instanceof FsError && err.kind === 'integrity') {
        const detail = err.message === 'integrity check failed' ? '' : ` (${err.message})`;
        throw new FsError(
          'integrity',
          `refused: ${user}'s keys at the directory do not match ${user}'s signed key log${detail}. ` +
            `Nothing was shared and no key was wrapped. The directory may be under attack: tell ` +
            `your administrator, and ask ${user} to compare key fingerprints with you.`,
          { op: 'share.keys' },
        );
      }
      throw err;
    }
  }
  return keys;
}

/** Wraps `key` to `users`, keeping the wraps `existing` already has for them. */
export async function wrapTo(
  ctx: AgentContext,
  entry: { id: FileId; kind: 'file' | 'dir' },
  key: SecretBytes,
  users: readonly UserName[],
  existing: Readonly<Record<string, Uint8Array>> = {},
): Promise<Record<string, Uint8Array>> {
  const needed = users.filter((user) => !Object.hasOwn(existing, user));
  const publicKeys = await encryptionKeysOf(ctx, needed);
  const keys: Record<string, Uint8Array> = {};
  for (const user of new Set(users)) {
    // Own keys only: a user may be called `constructor`.
    keys[user] = Object.hasOwn(existing, user)
      ? existing[user]!
      : await wrapKey(
          publicKeys.get(user)!,
          key,
          purposeOf(entry.kind),
          keyContext(entry.id, user),
        );
  }
  return keys;
}

/**
 * Opens the caller's wrapped copy of an entry's key.
 * @throws FsError `permission` when the entry holds none for the caller
 */
export async function unwrapEntryKey(ctx: AgentContext, body: DirEntryBody): Promise<SecretBytes> {
  const wrapped = Object.hasOwn(body.keys, ctx.session.user)
    ? body.keys[ctx.session.user]
    : undefined;
  if (!wrapped) {
    throw new FsError('permission', 'this entry is not shared with you', { op: 'entry.key' });
  }
  const context = keyContext(body.id, ctx.session.user);
  try {
    return await unwrapKey(ctx.session.identity.encryption, wrapped, purposeOf(body.kind), context);
  } catch (err) {
    // Wrapped before a revocation of ours: a replaced identity (kept sealed with the current
    // one) still opens it. Newest first, since recent wraps are the likely ones.
    for (const old of [...(ctx.session.previous ?? [])].reverse()) {
      try {
        return await unwrapKey(old.encryption, wrapped, purposeOf(body.kind), context);
      } catch {
        // not this one
      }
    }
    throw err;
  }
}

/**
 * The grants of one of the caller's own entries as they were given (groups included), from
 * its certificate, verified under the caller's key.
 * @throws FsError `integrity` when the certificate is not the caller's
 */
export function ownGrantsOf(ctx: AgentContext, body: DirEntryBody): AclGrant[] {
  return [...openEntryAcl(body.aclCert, ctx.session.identity.signing.publicKey).grants];
}

/** The readers and writers `grants` come to, and the grants that came to them. */
export interface ExpandedGrants {
  /** The grants kept (without groups that no longer exist, with `missing: 'drop'`). */
  grants: AclGrant[];
  acl: { r: UserName[]; w: UserName[] };
}

/**
 * What the caller's `grants` come to: every group replaced by its current members, each user
 * with the strongest right any grant gives them. Owner only (the groups are the caller's).
 * @param missing what a grant to a group the caller does not have does: `refuse` (the default:
 *   `not-exist`), or `drop` (the grant is left out: nobody is in a group that is gone)
 * @throws FsError `not-exist` (no such group), `invalid` (more than {@link maxAclUsers} users),
 *   `integrity` (a group record does not verify)
 */
export async function expandGrants(
  ctx: AgentContext,
  grants: readonly AclGrant[],
  lookup: GroupLookup = groupLookup(ctx),
  missing: 'refuse' | 'drop' = 'refuse',
): Promise<ExpandedGrants> {
  const kept: AclGrant[] = [];
  const rights = new Map<UserName, Right>();
  const give = (user: UserName, right: Right) =>
    rights.set(user, rights.get(user) === 'w' ? 'w' : right);
  for (const grant of grants) {
    if (!isGroupRef(grant.user)) {
      give(grant.user, grant.right);
      kept.push(grant);
      continue;
    }
    const group = await lookup.get(groupNameOf(grant.user));
    if (group === undefined) {
      if (missing === 'drop') continue;
      throw new FsError(
        'not-exist',
        `you have no group ${grant.user}; make it with \`group create ${groupNameOf(grant.user)} USER ...\``,
        { op: 'share' },
      );
    }
    for (const member of group.members) give(member, grant.right);
    kept.push(grant);
  }
  if (rights.size > maxAclUsers) {
    throw new FsError(
      'invalid',
      `these grants come to ${rights.size} users; an entry may be shared with at most ${maxAclUsers}`,
      { op: 'share' },
    );
  }
  return {
    grants: kept,
    acl: aclOfGrants([...rights].map(([user, right]) => ({ user, right }))),
  };
}

/**
 * The access fields of the owner's version `version` of `entry` with `expanded` (from
 * {@link expandGrants}): a certificate for this entry, and the key wrapped to exactly the owner
 * and the users (wraps the entry already holds for them are kept; each new one is wrapped to a
 * key from a verified key log).
 * @throws FsError `integrity` when a new user's key log does not verify
 */
export async function ownerAccess(
  ctx: AgentContext,
  entry: { body: DirEntryBody; key: SecretBytes },
  expanded: ExpandedGrants,
  version: number,
): Promise<EntryAccess> {
  const { body } = entry;
  const { acl } = expanded;
  const users = [body.owner, ...acl.r, ...acl.w];
  const kept = Object.fromEntries(
    Object.entries(body.keys).filter(([user]) => users.includes(user as UserName)),
  );
  return {
    acl,
    aclCert: signEntryAcl(ctx.session.identity.signing, {
      entry: body.id,
      owner: body.owner,
      version,
      ...acl,
      grants: expanded.grants,
    }),
    keys: await wrapTo(ctx, { id: body.id, kind: body.kind }, entry.key, users, kept),
  };
}

/**
 * The access of a new entry created in `parent` by the caller: the folder's grants, plus
 * `grants` (owner only; they may name the owner's groups, `@team`).
 * @throws FsError `permission` when a non-owner gives grants; `invalid` for a grant to the
 *   owner; `not-exist` for a group the owner does not have
 */
export async function accessForNew(
  ctx: AgentContext,
  parent: DirEntryBody,
  entry: { id: FileId; kind: 'file' | 'dir' },
  key: SecretBytes,
  grants: readonly AclGrant[],
): Promise<EntryAccess> {
  const owner = parent.owner;
  const me = ctx.session.user;
  if (me !== owner) {
    if (grants.length > 0) {
      throw new FsError('permission', `only ${owner} (the owner) may share in this folder`, {
        op: 'share',
      });
    }
    const acl = { r: [...parent.acl.r], w: [...parent.acl.w] };
    return {
      acl,
      aclCert: parent.aclCert,
      keys: await wrapTo(ctx, entry, key, [owner, ...acl.r, ...acl.w]),
    };
  }
  // The folder's grants as given (its groups, not only the users they came to), from its
  // certificate: the owner's, so it verifies under the caller's key.
  const given = mergeGrants([...ownGrantsOf(ctx, parent), ...grants], owner);
  const expanded = await expandGrants(ctx, given);
  const { acl } = expanded;
  return {
    acl,
    aclCert: signEntryAcl(ctx.session.identity.signing, {
      entry: entry.id,
      owner,
      version: 1,
      ...acl,
      grants: expanded.grants,
    }),
    keys: await wrapTo(ctx, entry, key, [owner, ...acl.r, ...acl.w]),
  };
}

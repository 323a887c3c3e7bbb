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
 */
import type { Grant } from '../interface/directory-store.js';
import { FsError } from '../interface/errors.js';
import { mergeGrants } from '../interface/grants.js';
import type { FileId } from '../interface/ids.js';
import type { UserName } from '../interface/names.js';
import { utf8 } from '../crypto/bytes.js';
import type { SecretBytes } from '../crypto/secret.js';
import { unwrapKey, wrapKey } from '../crypto/wrap.js';
import { type DirEntryBody, grantsOf } from '../wire/dir-entry.js';
import { signEntryAcl } from '../wire/entry-acl.js';
import type { AgentContext } from './entry-verify.js';

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
  return unwrapKey(
    ctx.session.identity.encryption,
    wrapped,
    purposeOf(body.kind),
    keyContext(body.id, ctx.session.user),
  );
}

/**
 * The access of a new entry created in `parent` by the caller: the folder's grants, plus
 * `grants` (owner only).
 * @throws FsError `permission` when a non-owner gives grants; `invalid` for a grant to the owner
 */
export async function accessForNew(
  ctx: AgentContext,
  parent: DirEntryBody,
  entry: { id: FileId; kind: 'file' | 'dir' },
  key: SecretBytes,
  grants: readonly Grant[],
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
  const acl = aclOfGrants(mergeGrants([...grantsOf(parent), ...grants], owner));
  return {
    acl,
    aclCert: signEntryAcl(ctx.session.identity.signing, {
      entry: entry.id,
      owner,
      version: 1,
      ...acl,
    }),
    keys: await wrapTo(ctx, entry, key, [owner, ...acl.r, ...acl.w]),
  };
}

/**
 * The seed's grant grammar, parsed once at the boundary: `USER r|w|rw ...` pairs, as in
 * `touch team5.txt bob r carol w`. `r` reads; `w` writes and therefore reads, so `rw` is `w`.
 * A user named twice keeps the stronger right. A group of the owner's, `@team`, may stand where
 * a user stands (src/interface/groups.ts): `touch notes.txt @team r carol w`.
 */
import { FsError } from './errors.js';
import type { Right } from './directory-store.js';
import { type Grantee, parseGrantee } from './groups.js';
import type { UserName } from './names.js';

/**
 * A grant as the owner gave it: `user` is a user name or one of the owner's groups (`@team`).
 * The ACL certificate keeps these as given; who may actually read and write (the effective
 * users, a `Grant` each) follows from them with each group expanded to its members.
 */
export interface AclGrant {
  user: Grantee;
  right: Right;
}

/** Parses one right word. @throws FsError `invalid` */
export function parseRight(raw: string): Right {
  const word = raw.toLowerCase();
  if (word === 'r') return 'r';
  if (word === 'w' || word === 'rw' || word === 'wr') return 'w';
  throw new FsError('invalid', `unknown right "${raw}": use r (read), w or rw (write and read)`, {
    op: 'grant.parse',
  });
}

/**
 * Merges grants: one per user (or group), the stronger right kept, in first-mention order.
 * @throws FsError `invalid` when `owner` is named (the owner always has every right)
 */
export function mergeGrants<G extends Grantee>(
  grants: readonly { user: G; right: Right }[],
  owner?: UserName,
): { user: G; right: Right }[] {
  const merged = new Map<G, Right>();
  for (const { user, right } of grants) {
    if (user === owner) {
      throw new FsError('invalid', `${user} owns this and always has every right`, {
        op: 'grant.parse',
      });
    }
    merged.set(user, merged.get(user) === 'w' ? 'w' : right);
  }
  return [...merged].map(([user, right]) => ({ user, right }));
}

/**
 * Parses `USER RIGHT [USER RIGHT ...]` words; a USER may be a group, `@team`.
 * @throws FsError `invalid` with what to type instead
 */
export function parseGrantWords(words: readonly string[]): AclGrant[] {
  if (words.length % 2 !== 0) {
    throw new FsError('invalid', 'grants come in pairs: USER r|w|rw, for example `bob r carol w`', {
      op: 'grant.parse',
    });
  }
  const grants: AclGrant[] = [];
  for (let i = 0; i < words.length; i += 2) {
    grants.push({ user: parseGrantee(words[i]!), right: parseRight(words[i + 1]!) });
  }
  return mergeGrants(grants);
}

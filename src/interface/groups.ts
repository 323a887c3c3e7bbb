/**
 * Groups (issue 6, point 1): a user's named list of users, `@team`, that may stand where a user
 * stands in a grant. A group belongs to one user (its owner), who alone reads and changes it;
 * a grant to `@team` on an entry means the owner's group `team`, never anyone else's.
 *
 * Group names follow the rules of user names (so they are ASCII, lower case and cannot be told
 * apart only by case or by look-alike characters); written in a grant they take an `@` in front,
 * which no user name has, so a grantee word is a user or a group without ambiguity.
 */
import { FsError } from './errors.js';
import { parseUserName, type UserName } from './names.js';

declare const groupNameBrand: unique symbol;
declare const groupRefBrand: unique symbol;

/** A group's name without the `@`: `team`. Same characters as a user name. */
export type GroupName = string & { readonly [groupNameBrand]: true };

/** A group as a grant names it: `@team`. */
export type GroupRef = `@${string}` & { readonly [groupRefBrand]: true };

/** Who a grant names: a user, or one of the entry owner's groups. */
export type Grantee = UserName | GroupRef;

/** Most members one group may have (the owner is never one of them). */
export const maxGroupMembers = 256;

/**
 * Validates a group name, with or without its `@`.
 * @throws FsError `invalid`
 */
export function parseGroupName(raw: string): GroupName {
  const bare = raw.startsWith('@') ? raw.slice(1) : raw;
  try {
    return parseUserName(bare) as string as GroupName;
  } catch {
    throw new FsError(
      'invalid',
      `"${raw}" is not a group name: @ and 1-32 characters of a-z, 0-9, "_" or "-", starting with a letter`,
      { op: 'group-name.parse' },
    );
  }
}

/** `team` as a grant writes it: `@team`. */
export function groupRef(name: GroupName): GroupRef {
  return `@${name}` as GroupRef;
}

/** Whether a grantee is a group. */
export function isGroupRef(grantee: string): grantee is GroupRef {
  return grantee.startsWith('@');
}

/** The group a {@link GroupRef} names: `@team` → `team`. */
export function groupNameOf(ref: GroupRef): GroupName {
  return ref.slice(1) as GroupName;
}

/**
 * Validates a grantee word: a user name, or `@` and a group name.
 * @throws FsError `invalid` (op `user-name.parse` for a word that is neither)
 */
export function parseGrantee(raw: string): Grantee {
  return raw.startsWith('@') ? groupRef(parseGroupName(raw)) : parseUserName(raw);
}

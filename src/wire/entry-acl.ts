/**
 * ACL certificates: the owner's signature on who may read and write an entry (DESIGN.md
 * section 5), and the rule that decides whether a signed entry version is allowed.
 *
 * Every entry version carries one (`aclCert`). A version signed by the owner may carry a new
 * certificate; a version signed by anyone else must carry the certificate of the version before
 * it, byte for byte, and its signer must be a writer that certificate names. So a writer can
 * write but never change who has access, and a write by anyone the owner did not list is
 * refused by every reader, whatever the directory says.
 *
 * A certificate names the entry it was issued for. A file or folder that a writer creates in a
 * shared folder inherits that folder's certificate (it cannot sign a new one), so a certificate
 * naming another entry is accepted only when it is the parent's current certificate, byte for
 * byte: the reader checks that against the parent it resolved.
 *
 * `entry-acl/v1` body (canonical CBOR map; docs/formats.md):
 *   { entry: text (file id), owner: text, version: uint (the entry version it was issued at),
 *     r: [user], w: [user], grants: [[who, right]] }
 * signed by the owner's current identity key. `grants` are the grants as the owner gave them,
 * where `who` is a user or one of the owner's groups (`@team`); `r` and `w` are the users they
 * came to when the owner signed, each group expanded to its members then (the owner's agent
 * signs a new certificate when a group changes, client/groups.ts). Everything that verifies
 * access (readers, peers, the directory) uses `r` and `w` only; `grants` is what the owner's
 * agent edits (`share`, `unshare`), re-expands and shows (`perms`).
 */
import { FsError, integrityError } from '../interface/errors.js';
import type { AclGrant } from '../interface/grants.js';
import { type Grantee, isGroupRef, parseGrantee } from '../interface/groups.js';
import { type FileId, parseFileId } from '../interface/ids.js';
import { parseUserName, type UserName } from '../interface/names.js';
import { constantTimeEqual } from '../crypto/bytes.js';
import { type CborMap, type CborValue, field, isMap } from '../crypto/canonical.js';
import type { SigningKeyPair } from '../crypto/keys.js';
import { claimedSigner, signMessage, verifyMessage } from '../crypto/sign.js';

/** Most users one ACL may name (readers and writers together). */
export const maxAclUsers = 256;

/** What a certificate says. */
export interface EntryAcl {
  /** The entry it was issued for. */
  entry: FileId;
  owner: UserName;
  /** The version of `entry` it was issued at. */
  version: number;
  /** Readers (a writer is never also listed here). */
  r: readonly UserName[];
  /** Writers (who also read). */
  w: readonly UserName[];
  /**
   * The grants as given (users and the owner's groups), one per grantee, sorted by grantee;
   * `r` and `w` are what they came to when the certificate was signed.
   */
  grants: readonly AclGrant[];
}

/**
 * What {@link signEntryAcl} takes. Without `grants`, the certificate says that the users of `r`
 * and `w` were granted directly (a certificate that names no group).
 */
export type EntryAclInput = Omit<EntryAcl, 'grants'> & { grants?: readonly AclGrant[] };

const bodyKeys = ['entry', 'owner', 'version', 'r', 'w', 'grants'];

const bytewise = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** Direct grants of exactly `r` and `w` (a certificate that names no group). */
function directGrants(r: readonly UserName[], w: readonly UserName[]): AclGrant[] {
  return [
    ...w.map((user) => ({ user, right: 'w' as const })),
    ...r.filter((u) => !w.includes(u)).map((user) => ({ user, right: 'r' as const })),
  ];
}

/**
 * Whether `grants` can have come to `r` and `w`: a user granted directly has at least that
 * right; a writer was granted `w` directly or through some group; anyone with a right was
 * granted directly or through some group. (What a group held when the owner signed is not
 * known here, so this is as far as a reader can check; the owner's signature covers the rest.)
 */
function grantsAgree(
  grants: readonly AclGrant[],
  r: readonly UserName[],
  w: readonly UserName[],
): boolean {
  const direct = new Map<UserName, 'r' | 'w'>();
  let groupRead = false;
  let groupWrite = false;
  for (const grant of grants) {
    if (!isGroupRef(grant.user)) direct.set(grant.user, grant.right);
    else if (grant.right === 'w') groupWrite = true;
    else groupRead = true;
  }
  for (const [user, right] of direct) {
    if (!w.includes(user) && (right === 'w' || !r.includes(user))) return false;
  }
  if (!groupWrite && w.some((u) => direct.get(u) !== 'w')) return false;
  if (!groupRead && !groupWrite && r.some((u) => !direct.has(u))) return false;
  return true;
}

function grantList(value: CborValue | undefined, op: string): AclGrant[] {
  if (!Array.isArray(value) || value.length > maxAclUsers) throw integrityError(op);
  const grants = (value as readonly CborValue[]).map((item): AclGrant => {
    if (!Array.isArray(item) || item.length !== 2) throw integrityError(op);
    const [who, right] = item as readonly CborValue[];
    if (typeof who !== 'string' || (right !== 'r' && right !== 'w')) throw integrityError(op);
    return { user: parseGrantee(who), right };
  });
  // Strictly increasing: sorted and one grant per grantee, so one set of grants has one encoding.
  if (grants.some((g, i) => i > 0 && bytewise(grants[i - 1]!.user, g.user) >= 0)) {
    throw integrityError(op);
  }
  return grants;
}

function userList(value: CborValue | undefined, op: string): UserName[] {
  if (!Array.isArray(value) || value.length > maxAclUsers) throw integrityError(op);
  const users = value.map((item) => {
    if (typeof item !== 'string') throw integrityError(op);
    return parseUserName(item);
  });
  if (new Set(users).size !== users.length) throw integrityError(op);
  return users;
}

function exactKeys(map: CborMap, op: string): void {
  const present = Object.keys(map);
  if (present.length !== bodyKeys.length || !bodyKeys.every((k) => Object.hasOwn(map, k))) {
    throw integrityError(op);
  }
}

/**
 * Signs an ACL certificate (the owner's agent). Readers and writers are sorted, and a user
 * listed as both is kept as a writer only; grants are sorted, one per grantee with the stronger
 * right kept; so equal ACLs give equal bodies.
 * @throws FsError `invalid` when the ACL names too many users or the owner, or its grants do
 *   not agree with its readers and writers
 */
export function signEntryAcl(owner: SigningKeyPair, acl: EntryAclInput): Uint8Array {
  const writers = [...new Set(acl.w)].sort();
  const readers = [...new Set(acl.r)].filter((u) => !writers.includes(u)).sort();
  const strongest = new Map<Grantee, 'r' | 'w'>();
  for (const { user, right } of acl.grants ?? directGrants(readers, writers)) {
    strongest.set(user, strongest.get(user) === 'w' ? 'w' : right);
  }
  const grants = [...strongest]
    .map(([user, right]) => ({ user, right }))
    .sort((a, b) => bytewise(a.user, b.user));
  if (readers.length + writers.length > maxAclUsers || grants.length > maxAclUsers) {
    throw new FsError('invalid', `a file may be shared with at most ${maxAclUsers} users`, {
      op: 'acl.sign',
    });
  }
  if (
    readers.includes(acl.owner) ||
    writers.includes(acl.owner) ||
    grants.some((g) => g.user === acl.owner)
  ) {
    throw new FsError('invalid', 'the owner always has every right; do not list them', {
      op: 'acl.sign',
    });
  }
  if (!grantsAgree(grants, readers, writers)) {
    throw new FsError('invalid', 'the grants do not agree with the readers and writers', {
      op: 'acl.sign',
    });
  }
  return signMessage(owner, 'entry-acl', {
    entry: acl.entry,
    owner: acl.owner,
    version: acl.version,
    r: readers,
    w: writers,
    grants: grants.map((g) => [g.user, g.right]),
  });
}

/**
 * Verifies a certificate as signed by `ownerKey` and decodes it.
 * @throws FsError `integrity` when it is malformed or signed by anyone else
 */
export function openEntryAcl(envelope: Uint8Array, ownerKey: Uint8Array): EntryAcl {
  const op = 'acl.open';
  const { body } = verifyMessage(envelope, 'entry-acl', [ownerKey]);
  if (!isMap(body)) throw integrityError(op);
  exactKeys(body, op);
  try {
    const acl: EntryAcl = {
      entry: parseFileId(field.text(body, 'entry', op)),
      owner: parseUserName(field.text(body, 'owner', op)),
      version: field.uint(body, 'version', op),
      r: userList(body['r'], op),
      w: userList(body['w'], op),
      grants: grantList(body['grants'], op),
    };
    if (
      acl.r.some((u) => acl.w.includes(u) || u === acl.owner) ||
      acl.w.includes(acl.owner) ||
      acl.grants.some((g) => g.user === acl.owner) ||
      !grantsAgree(acl.grants, acl.r, acl.w)
    ) {
      throw integrityError(op);
    }
    return acl;
  } catch (err) {
    if (err instanceof FsError && err.kind === 'invalid') throw integrityError(op);
    throw err;
  }
}

/**
 * Decodes a certificate WITHOUT checking whose key signed it (its own signature must still
 * hold). Only for a certificate already accepted as part of a verified entry version, when
 * the owner's key that signed it may have been replaced since (an old or trashed version, a
 * revocation re-signing what the old key signed); never to decide who may do what.
 * @throws FsError `integrity` when it is malformed
 */
export function decodeEntryAclUnverified(envelope: Uint8Array): EntryAcl {
  return openEntryAcl(envelope, claimedSigner(envelope, 'entry-acl'));
}

/** What an entry version says about its own authority (the fields of `dir-entry` it uses). */
export interface AclClaim {
  id: FileId;
  parent: FileId | null;
  owner: UserName;
  version: number;
  acl: { r: readonly UserName[]; w: readonly UserName[] };
  aclCert: Uint8Array;
}

/** Whether two user lists hold the same users (order aside). */
export function sameUsers(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((user) => b.includes(user));
}

/**
 * Checks the part of the rule that one version shows on its own: its certificate is signed by
 * its owner, matches its `acl` field, and names this entry or is inherited (then the caller
 * must compare it with the parent's, see {@link isInheritedAcl}); its signer is the owner or a
 * writer the certificate names.
 * @param signer the user whose current key signed the version
 * @throws FsError `integrity`
 */
export function checkEntryAuthority(
  claim: AclClaim,
  signer: UserName,
  ownerKey: Uint8Array,
): EntryAcl {
  const op = 'acl.check';
  const acl = openEntryAcl(claim.aclCert, ownerKey);
  if (
    acl.owner !== claim.owner ||
    !sameUsers(acl.r, claim.acl.r) ||
    !sameUsers(acl.w, claim.acl.w)
  ) {
    throw new FsError('integrity', 'the entry does not carry its owner-signed access list', { op });
  }
  if (signer !== claim.owner && !acl.w.includes(signer)) {
    throw new FsError('integrity', `${signer} wrote this entry but may not write it`, { op });
  }
  return acl;
}

/** Whether a version's certificate was issued for another entry (its parent's, inherited). */
export function isInheritedAcl(claim: AclClaim, acl: EntryAcl): boolean {
  return acl.entry !== claim.id;
}

/**
 * The chain rule between a version signed by a non-owner and the version before it: same
 * certificate, and the signer a writer in it. (`prev` is checked by the caller, which has the
 * envelope.)
 * @throws FsError `integrity`
 */
export function checkWriterFollows(
  next: AclClaim,
  signer: UserName,
  before: AclClaim,
  ownerKey: Uint8Array,
): void {
  const op = 'acl.chain';
  const previous = openEntryAcl(before.aclCert, ownerKey);
  if (!previous.w.includes(signer) || !constantTimeEqual(next.aclCert, before.aclCert)) {
    throw new FsError(
      'integrity',
      `${signer} wrote this version but the version before it did not let them write`,
      { op },
    );
  }
}

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
 *     r: [user], w: [user] }
 * signed by the owner's current identity key.
 */
import { FsError, integrityError } from '../interface/errors.js';
import { type FileId, parseFileId } from '../interface/ids.js';
import { parseUserName, type UserName } from '../interface/names.js';
import { constantTimeEqual } from '../crypto/bytes.js';
import { type CborMap, type CborValue, field, isMap } from '../crypto/canonical.js';
import type { SigningKeyPair } from '../crypto/keys.js';
import { signMessage, verifyMessage } from '../crypto/sign.js';

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
}

const bodyKeys = ['entry', 'owner', 'version', 'r', 'w'];

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
 * listed as both is kept as a writer only, so equal ACLs give equal bodies.
 * @throws FsError `invalid` when the ACL names too many users or the owner.
 */
export function signEntryAcl(owner: SigningKeyPair, acl: EntryAcl): Uint8Array {
  const writers = [...new Set(acl.w)].sort();
  const readers = [...new Set(acl.r)].filter((u) => !writers.includes(u)).sort();
  if (readers.length + writers.length > maxAclUsers) {
    throw new FsError('invalid', `a file may be shared with at most ${maxAclUsers} users`, {
      op: 'acl.sign',
    });
  }
  if (readers.includes(acl.owner) || writers.includes(acl.owner)) {
    throw new FsError('invalid', 'the owner always has every right; do not list them', {
      op: 'acl.sign',
    });
  }
  return signMessage(owner, 'entry-acl', {
    entry: acl.entry,
    owner: acl.owner,
    version: acl.version,
    r: readers,
    w: writers,
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
    };
    if (acl.r.some((u) => acl.w.includes(u) || u === acl.owner) || acl.w.includes(acl.owner)) {
      throw integrityError(op);
    }
    return acl;
  } catch (err) {
    if (err instanceof FsError && err.kind === 'invalid') throw integrityError(op);
    throw err;
  }
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

/**
 * Domain-separation labels: one distinct label for every purpose a key, a MAC or a signature
 * serves, so that a value made for one purpose can never be accepted for another.
 *
 * Every label is ASCII, contains no NUL, and carries the format version. Where a label is
 * combined with other bytes it is followed by a 0x00 separator (see {@link labelBytes}), so no
 * label can be confused with a longer one that shares its prefix. Changing a label is a format
 * change: add a new one with a new version instead.
 */
import { utf8 } from './bytes.js';

/** Labels for keys, associated data and hashes. */
export const labels = {
  /** HKDF info prefix for the per-chunk key (chunk.ts). */
  chunkKey: 'peervault/v1/chunk-key',
  /** Associated-data prefix of a sealed chunk (chunk.ts). */
  chunkAd: 'peervault/v1/chunk',
  /** HKDF info for the name-encryption subkey of a name key (names.ts). */
  nameEncryptKey: 'peervault/v1/name-key/encrypt',
  /** HKDF info for the lookup-tag subkey of a name key (names.ts). */
  nameTagKey: 'peervault/v1/name-key/tag',
  /** Associated-data prefix of an encrypted name (names.ts). */
  nameAd: 'peervault/v1/name',
  /** Associated-data prefix of a password-sealed blob (password-seal.ts). */
  passwordSeal: 'peervault/v1/password-seal',
  /** HPKE `info` prefix for key wrapping; the wrap purpose follows (wrap.ts). */
  wrap: 'peervault/v1/wrap',
  /** Prefix of every signed message (sign.ts). */
  signature: 'peervault/v1/signature',
  /** Hash prefix of an identity fingerprint (identity.ts). */
  fingerprint: 'peervault/v1/fingerprint',
  /** Hash prefix of a key id inside wrapped blobs (wrap.ts). */
  keyId: 'peervault/v1/key-id',
  /** HKDF info of the key that seals private keys under an OPAQUE export key (export-key-seal.ts). */
  exportKeySeal: 'peervault/v1/export-key-seal',
  /** HKDF info of the key that binds a device key to an OPAQUE login (session.ts in wire/). */
  sessionBinding: 'peervault/v1/session-binding',
  /** Hash prefix of key-log and entry chain hashes (wire/). */
  chainHash: 'peervault/v1/chain-hash',
  /** Hash prefix of a storage-audit proof: SHA-256(label || nonce || block) (peer/). */
  challenge: 'peervault/v1/challenge',
  /** HKDF info of the key that seals a file version's metadata (client/file-codec). */
  metaKey: 'peervault/v1/meta-key',
  /** Associated-data prefix of sealed file metadata (client/file-codec). */
  metaAd: 'peervault/v1/meta',
  /** Hash prefix of rendezvous placement scores (peer/placement). */
  placement: 'peervault/v1/placement',
  /** Hash prefix of a record of the directory's audit log (wire/audit-log). */
  auditRecord: 'peervault/v1/audit-record',
} as const;

/** Every kind of signed message. A signature made for one type never verifies as another. */
export const signedTypes = [
  'key-log-entry', // a user's key log: new keys, revocations (directory, revocation issues)
  'peer-record', // a peer's registration in the directory's peer registry
  'dir-entry', // a version of a file or directory entry
  'capability', // a short-lived grant to put or get named blocks
  'request', // a signed request to the directory (device key, nonce, time)
  'test', // used by tests only; never accepted by a service
  'peer-list', // the directory's signed list of live peers
  'block-release', // an owner's release of blocks no retained version uses (garbage collection)
  'entry-acl', // an owner's certificate of who may read and write an entry (sharing)
  'group', // an owner's list of the members of one of their groups, `@team` (sharing)
  'key-proof', // a new key's signature on the revocation that introduces it (key log)
  'audit-checkpoint', // the directory's signature on the head of its audit log
] as const;

/** One of {@link signedTypes}. */
export type SignedType = (typeof signedTypes)[number];

/** Purposes of HPKE key wrapping; each becomes part of the HPKE `info`. */
export const wrapPurposes = ['file-key', 'name-key', 'private-keys', 'test'] as const;

/** One of {@link wrapPurposes}. */
export type WrapPurpose = (typeof wrapPurposes)[number];

/** A label as bytes, followed by the 0x00 separator. */
export function labelBytes(label: string): Uint8Array {
  const bytes = utf8(label);
  const out = new Uint8Array(bytes.length + 1);
  out.set(bytes, 0);
  return out;
}

/**
 * Directory entries: one signed version of a file or directory.
 *
 * The directory stores these envelopes and reads their plaintext routing fields (ids, owner,
 * version, tag, ACL user names, deletion state) to index them and to check what it can check;
 * names, metadata and keys are ciphertext it cannot read. Readers verify the signature and the
 * chain themselves (the directory is not trusted for integrity).
 *
 * Body of a `dir-entry/v2` message (canonical CBOR map; docs/formats.md):
 *   { id: text (file id), parent: text | null, owner: text, version: uint (from 1),
 *     kind: "file" | "dir", tag: bytes(32), name: bytes (encrypted name, empty for a root),
 *     label: bytes (the same name sealed under the entry's own key, so that a grantee who
 *     cannot read the parent still sees it; empty for a root),
 *     meta: bytes (encrypted metadata and manifest), keys: { user: bytes (wrapped key) },
 *     acl: { r: [user], w: [user] }, aclCert: bytes (the owner's `entry-acl` certificate of
 *     that ACL, wire/entry-acl.ts), deleted: null | { at: uint, by: user },
 *     prev: bytes(32) (zeros for version 1, else chainHash of the previous version's envelope),
 *     time: uint (ms) }
 */
import { FsError, integrityError } from '../interface/errors.js';
import type { Grant } from '../interface/directory-store.js';
import { type FileId, parseFileId } from '../interface/ids.js';
import { parseUserName, type UserName } from '../interface/names.js';
import {
  type CborMap,
  type CborValue,
  decodeCanonical,
  field,
  isMap,
} from '../crypto/canonical.js';
import type { SigningKeyPair } from '../crypto/keys.js';
import { signMessage, verifyMessage } from '../crypto/sign.js';

/** Limits that keep one entry small (the directory refuses larger ones). */
export const entryLimits = {
  nameBytes: 512,
  metaBytes: 2 * 1024 * 1024,
  wrappedKeyBytes: 1024,
  grantees: 256,
  // 256 users in `r` and `w`, and up to 256 grants beside them (groups and users).
  aclCertBytes: 32 * 1024,
} as const;

/** A decoded entry version. */
export interface DirEntryBody {
  id: FileId;
  parent: FileId | null;
  owner: UserName;
  version: number;
  kind: 'file' | 'dir';
  tag: Uint8Array;
  name: Uint8Array;
  label: Uint8Array;
  meta: Uint8Array;
  keys: Readonly<Record<string, Uint8Array>>;
  acl: { r: readonly UserName[]; w: readonly UserName[] };
  aclCert: Uint8Array;
  deleted: { at: number; by: UserName } | null;
  prev: Uint8Array;
  time: number;
}

const bodyKeys = [
  'id',
  'parent',
  'owner',
  'version',
  'kind',
  'tag',
  'name',
  'label',
  'meta',
  'keys',
  'acl',
  'aclCert',
  'deleted',
  'prev',
  'time',
];

function exactKeys(map: CborMap, keys: readonly string[], op: string): void {
  const present = Object.keys(map);
  if (present.length !== keys.length || !keys.every((k) => Object.hasOwn(map, k))) {
    throw integrityError(op);
  }
}

function userList(value: CborValue | undefined, op: string): UserName[] {
  if (!Array.isArray(value) || value.length > entryLimits.grantees) throw integrityError(op);
  const users = value.map((item) => {
    if (typeof item !== 'string') throw integrityError(op);
    return parseUserName(item);
  });
  if (new Set(users).size !== users.length) throw integrityError(op);
  return users;
}

/**
 * Decodes and validates an entry body (after its signature was checked).
 * @throws FsError `integrity` when any field is missing, extra, of the wrong type or too large.
 */
export function decodeDirEntryBody(body: CborValue): DirEntryBody {
  const op = 'dir-entry.decode';
  if (!isMap(body)) throw integrityError(op);
  exactKeys(body, bodyKeys, op);
  try {
    const kind = field.text(body, 'kind', op);
    if (kind !== 'file' && kind !== 'dir') throw integrityError(op);
    const parent = body['parent'];
    const keysMap = body['keys'];
    if (keysMap === undefined || !isMap(keysMap)) throw integrityError(op);
    const keys: Record<string, Uint8Array> = {};
    const keyUsers = Object.keys(keysMap);
    if (keyUsers.length > entryLimits.grantees) throw integrityError(op);
    for (const user of keyUsers) {
      const wrapped = keysMap[user];
      if (!(wrapped instanceof Uint8Array) || wrapped.length > entryLimits.wrappedKeyBytes) {
        throw integrityError(op);
      }
      keys[parseUserName(user)] = wrapped;
    }
    const acl = body['acl'];
    if (acl === undefined || !isMap(acl)) throw integrityError(op);
    exactKeys(acl, ['r', 'w'], op);
    const deleted = body['deleted'];
    let deletion: DirEntryBody['deleted'] = null;
    if (deleted !== null) {
      if (deleted === undefined || !isMap(deleted)) throw integrityError(op);
      exactKeys(deleted, ['at', 'by'], op);
      deletion = {
        at: field.uint(deleted, 'at', op),
        by: parseUserName(field.text(deleted, 'by', op)),
      };
    }
    const name = field.bytes(body, 'name', op);
    const label = field.bytes(body, 'label', op);
    const aclCert = field.bytes(body, 'aclCert', op);
    if (label.length > entryLimits.nameBytes || aclCert.length > entryLimits.aclCertBytes) {
      throw integrityError(op);
    }
    const meta = field.bytes(body, 'meta', op);
    if (name.length > entryLimits.nameBytes || meta.length > entryLimits.metaBytes) {
      throw integrityError(op);
    }
    const version = field.uint(body, 'version', op);
    if (version < 1) throw integrityError(op);
    return {
      id: parseFileId(field.text(body, 'id', op)),
      parent: parent === null ? null : parseFileId(field.text(body, 'parent', op)),
      owner: parseUserName(field.text(body, 'owner', op)),
      version,
      kind,
      tag: field.bytes(body, 'tag', op, 32),
      name,
      label,
      meta,
      keys,
      acl: { r: userList(acl['r'], op), w: userList(acl['w'], op) },
      aclCert,
      deleted: deletion,
      prev: field.bytes(body, 'prev', op, 32),
      time: field.uint(body, 'time', op),
    };
  } catch (err) {
    // A malformed id or user name inside a signed body is tampering, not user input.
    if (err instanceof FsError && err.kind === 'invalid') throw integrityError(op);
    throw err;
  }
}

/** Encodes and signs an entry version. */
export function signDirEntry(signer: SigningKeyPair, body: DirEntryBody): Uint8Array {
  return signMessage(signer, 'dir-entry', {
    id: body.id,
    parent: body.parent,
    owner: body.owner,
    version: body.version,
    kind: body.kind,
    tag: body.tag,
    name: body.name,
    label: body.label,
    meta: body.meta,
    keys: { ...body.keys },
    acl: { r: [...body.acl.r], w: [...body.acl.w] },
    aclCert: body.aclCert,
    deleted: body.deleted,
    prev: body.prev,
    time: body.time,
  });
}

/**
 * Verifies an entry envelope signed by one of `trustedSigners` and decodes it.
 * @throws FsError `integrity`
 */
export function openDirEntry(
  envelope: Uint8Array,
  trustedSigners: readonly Uint8Array[],
): { body: DirEntryBody; signer: Uint8Array } {
  const verified = verifyMessage(envelope, 'dir-entry', trustedSigners);
  return { body: decodeDirEntryBody(verified.body), signer: verified.signer };
}

/** The grants an entry's ACL gives (a writer can also read; listed once, as `w`). */
export function grantsOf(body: DirEntryBody): Grant[] {
  const writers = new Set(body.acl.w);
  return [
    ...body.acl.w.map((user) => ({ user, right: 'w' as const })),
    ...body.acl.r
      .filter((user) => !writers.has(user))
      .map((user) => ({ user, right: 'r' as const })),
  ];
}

/**
 * Decodes an envelope WITHOUT verifying its signature. Two uses only: the directory reading back
 * rows it verified when it stored them, and a reader learning whose keys (owner, ACL writers)
 * must then verify the envelope with {@link openDirEntry}. Never act on the result otherwise.
 * @throws FsError `integrity` when malformed.
 */
export function decodeDirEntryUnverified(envelope: Uint8Array): DirEntryBody {
  const op = 'dir-entry.read';
  const outer = decodeCanonical(envelope, op);
  if (!isMap(outer)) throw integrityError(op);
  return decodeDirEntryBody(decodeCanonical(field.bytes(outer, 'body', op), op));
}

/**
 * Group records (sharing, issue 6): an owner's signed statement of who the members of one of
 * their groups are. A grant to `@team` on an entry is expanded by the owner's agent to the
 * members this record names (the certificate then lists them as readers or writers), so a
 * directory that swaps, forges or edits a group cannot add anyone: the record must verify under
 * the owner's current key. The directory keeps the records so that every device of the owner
 * sees the same groups, and checks what it can (signer, owner, name, version) before storing.
 *
 * `group/v1` body (canonical CBOR map; docs/formats.md):
 *   { owner: text, name: text (without the `@`), version: uint (from 1, +1 per change),
 *     members: [user] (sorted bytewise, no duplicates, never the owner, at most 256),
 *     time: uint (ms) }
 * signed by the owner's current identity key.
 */
import { FsError, integrityError } from '../interface/errors.js';
import { type GroupName, maxGroupMembers, parseGroupName } from '../interface/groups.js';
import { parseUserName, type UserName } from '../interface/names.js';
import { type CborValue, field, isMap } from '../crypto/canonical.js';
import type { SigningKeyPair } from '../crypto/keys.js';
import { signMessage, verifyMessage } from '../crypto/sign.js';

/** What a group record says. */
export interface GroupRecordBody {
  owner: UserName;
  name: GroupName;
  /** 1 when created, then one more per change. */
  version: number;
  /** Sorted, without duplicates, never the owner. */
  members: readonly UserName[];
  time: number;
}

const keys = ['owner', 'name', 'version', 'members', 'time'];

const bytewise = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/**
 * Signs a group record (the owner's agent). Members are sorted and deduplicated, so equal
 * groups give equal bodies.
 * @throws FsError `invalid` for the owner among the members, too many members or version 0
 */
export function signGroup(owner: SigningKeyPair, group: GroupRecordBody): Uint8Array {
  const op = 'group.sign';
  const members = [...new Set(group.members)].sort(bytewise);
  if (members.includes(group.owner)) {
    throw new FsError('invalid', `${group.owner} owns @${group.name}; owners are not members`, {
      op,
    });
  }
  if (members.length > maxGroupMembers) {
    throw new FsError('invalid', `a group has at most ${maxGroupMembers} members`, { op });
  }
  if (!Number.isSafeInteger(group.version) || group.version < 1) {
    throw new FsError('invalid', 'a group version starts at 1', { op });
  }
  return signMessage(owner, 'group', {
    owner: group.owner,
    name: group.name,
    version: group.version,
    members,
    time: group.time,
  });
}

/**
 * Verifies a group record as signed by `ownerKey` and decodes it. The caller checks that it is
 * the owner and group it asked for.
 * @throws FsError `integrity` when it is malformed, breaks the rules above or is signed by
 *   anyone else
 */
export function openGroup(envelope: Uint8Array, ownerKey: Uint8Array): GroupRecordBody {
  return decodeBody(verifyMessage(envelope, 'group', [ownerKey]).body, 'group.open');
}

function decodeBody(body: CborValue, op: string): GroupRecordBody {
  if (!isMap(body)) throw integrityError(op);
  const present = Object.keys(body);
  if (present.length !== keys.length || !keys.every((k) => Object.hasOwn(body, k))) {
    throw integrityError(op);
  }
  const raw = body['members'];
  if (!Array.isArray(raw) || raw.length > maxGroupMembers) throw integrityError(op);
  try {
    const owner = parseUserName(field.text(body, 'owner', op));
    const members = (raw as readonly CborValue[]).map((item) => {
      if (typeof item !== 'string') throw integrityError(op);
      return parseUserName(item);
    });
    // Strictly increasing: sorted and without duplicates, so one group has one encoding.
    if (members.some((m, i) => m === owner || (i > 0 && bytewise(members[i - 1]!, m) >= 0))) {
      throw integrityError(op);
    }
    const version = field.uint(body, 'version', op);
    if (version < 1) throw integrityError(op);
    const name = field.text(body, 'name', op);
    if (name.startsWith('@')) throw integrityError(op);
    return {
      owner,
      name: parseGroupName(name),
      version,
      members,
      time: field.uint(body, 'time', op),
    };
  } catch (err) {
    // A malformed name inside a signed body is tampering, not user input.
    if (err instanceof FsError && err.kind === 'invalid') throw integrityError(op);
    throw err;
  }
}

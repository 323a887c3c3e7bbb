/**
 * Block releases (garbage collection, DESIGN.md section 4): a user's signed statement that the
 * blocks it names, stored under one of their files, are no longer used by any retained version
 * and may be deleted. The directory keeps releases in an ordered log that peers read; a peer
 * deletes a named block only if the same user stored it under the same file (it records who
 * put each block), so nobody can release another user's blocks, and the directory, which
 * cannot sign for users, can only withhold releases (which wastes space, never loses data).
 *
 * `block-release/v1` body (canonical CBOR map; docs/formats.md):
 *   { user: text, file: text (file id), blocks: [text (block id)…] (1-1024), time: uint }
 * signed by the user's current identity key.
 */
import { integrityError } from '../interface/errors.js';
import { type BlockId, type FileId, parseBlockId, parseFileId } from '../interface/ids.js';
import { parseUserName, type UserName } from '../interface/names.js';
import { type CborValue, field, isMap } from '../crypto/canonical.js';
import type { SigningKeyPair } from '../crypto/keys.js';
import { claimedSigner, signMessage, verifyMessage } from '../crypto/sign.js';

/** Most blocks one release may name (a larger file takes several releases). */
export const maxReleaseBlocks = 1024;

/** What a release says. */
export interface BlockRelease {
  user: UserName;
  file: FileId;
  blocks: readonly BlockId[];
  time: number;
}

const keys = ['user', 'file', 'blocks', 'time'];

/** Signs a release (the owner's agent). @throws RangeError for 0 or too many blocks */
export function signBlockRelease(key: SigningKeyPair, release: BlockRelease): Uint8Array {
  if (release.blocks.length === 0 || release.blocks.length > maxReleaseBlocks) {
    throw new RangeError(`a release names 1 to ${maxReleaseBlocks} blocks`);
  }
  return signMessage(key, 'block-release', {
    user: release.user,
    file: release.file,
    blocks: [...release.blocks],
    time: release.time,
  });
}

/** The signing key a release claims, WITHOUT verifying (to check it against the key log). */
export function claimedReleaseSigner(envelope: Uint8Array): Uint8Array {
  return claimedSigner(envelope, 'block-release');
}

/**
 * Verifies a release against the user's current signing key and decodes it.
 * @throws FsError `integrity` when malformed or not signed by `userKey`
 */
export function openBlockRelease(envelope: Uint8Array, userKey: Uint8Array): BlockRelease {
  const op = 'block-release.open';
  const { body } = verifyMessage(envelope, 'block-release', [userKey]);
  return decodeBody(body, op);
}

/** Decodes a release WITHOUT verifying it (to learn which user's key to verify with). */
export function decodeBlockReleaseUnverified(envelope: Uint8Array): BlockRelease {
  const op = 'block-release.decode';
  const signer = claimedReleaseSigner(envelope);
  return decodeBody(verifyMessage(envelope, 'block-release', [signer]).body, op);
}

function decodeBody(body: CborValue, op: string): BlockRelease {
  if (!isMap(body)) throw integrityError(op);
  const present = Object.keys(body);
  if (present.length !== keys.length || !keys.every((k) => Object.hasOwn(body, k)))
    throw integrityError(op);
  const blocks = body['blocks'];
  if (!Array.isArray(blocks) || blocks.length === 0 || blocks.length > maxReleaseBlocks)
    throw integrityError(op);
  try {
    return {
      user: parseUserName(field.text(body, 'user', op)),
      file: parseFileId(field.text(body, 'file', op)),
      blocks: (blocks as readonly CborValue[]).map((b) => {
        if (typeof b !== 'string') throw integrityError(op);
        return parseBlockId(b);
      }),
      time: field.uint(body, 'time', op),
    };
  } catch {
    throw integrityError(op);
  }
}

/**
 * The sealed metadata of a file version read under the key that opens it. A file's key changes
 * when its owner revokes their keys (the file key is rotated so that what is written afterwards
 * is unreadable with the old one); versions written before keep metadata sealed under the old
 * key, which the caller opens by unwrapping that version's own copy of it.
 */
import { FsError } from '../interface/errors.js';
import type { SecretBytes } from '../crypto/secret.js';
import type { DirEntryBody } from '../wire/dir-entry.js';
import { unwrapEntryKey } from './entry-access.js';
import type { AgentContext } from './entry-verify.js';
import { type OpenedFileMeta, openFileMeta, sealFileMeta } from './file-codec.js';

/** The key that opens `body`'s metadata: `currentKey` when it does, else the version's own. */
export async function keyOfVersion(
  ctx: AgentContext,
  body: DirEntryBody,
  currentKey: SecretBytes,
): Promise<{ key: SecretBytes; meta: OpenedFileMeta }> {
  const where = { fileId: body.id, version: body.version };
  try {
    return { key: currentKey, meta: openFileMeta(currentKey, where, body.meta) };
  } catch (err) {
    if (!(err instanceof FsError) || err.kind !== 'integrity') throw err;
  }
  const key = await unwrapEntryKey(ctx, body);
  return { key, meta: openFileMeta(key, where, body.meta) };
}

/**
 * `body`'s metadata as a later version under `currentKey` can carry it: the same bytes when the
 * key did not change, else sealed again under `currentKey` with the key its chunks are sealed
 * under inside (no chunk is sealed again).
 */
export async function metaForCurrentKey(
  ctx: AgentContext,
  body: DirEntryBody,
  currentKey: SecretBytes,
): Promise<Uint8Array> {
  const { key, meta } = await keyOfVersion(ctx, body, currentKey);
  if (key === currentKey) return body.meta;
  return sealFileMeta(
    currentKey,
    { fileId: body.id, version: meta.contentVersion },
    { ...meta, contentKey: meta.contentKey ?? key },
  );
}

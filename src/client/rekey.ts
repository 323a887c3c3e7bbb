/**
 * Replacing a file's key (DESIGN.md section 6): when a user loses access (`unshare`, or a
 * group member removed) or the owner's keys are revoked, the file gets a new random key, so
 * that nothing written afterwards opens with the old one.
 *
 * Two ways, chosen by size:
 * - eagerly (files up to {@link defaultEagerRekeyMaxBytes}, a setting): the current content is
 *   read, verified, and sealed again under the new key as the new version's own blocks, so the
 *   current version holds nothing the old key opens;
 * - lazily (larger files, or without a block transport): the current content stays as it is,
 *   and the new version's metadata, sealed under the new key, carries the key its chunks are
 *   sealed under. Someone who kept the old key and the bytes of those blocks could still read
 *   that content (they could read it before); the next write seals new content under the new
 *   key alone.
 * In both ways the new metadata (sizes, block list) and the name label are sealed under the new
 * key only.
 */
import { decryptName, encryptName } from '../crypto/names.js';
import { newSymmetricKey } from '../crypto/random.js';
import type { SecretBytes } from '../crypto/secret.js';
import type { DirEntryBody } from '../wire/dir-entry.js';
import type { AgentContext } from './entry-verify.js';
import {
  fileChunkSize,
  openFileMeta,
  readFileBlocks,
  sealFileMeta,
  writeFileBlocks,
} from './file-codec.js';
import type { BlockTransport } from './files.js';

/** Files up to this size are sealed again at once when their key is replaced. */
export const defaultEagerRekeyMaxBytes = 16 * 1024 * 1024;

/** A file's new key and the fields of its next version that depend on it. */
export interface Rekeyed {
  key: SecretBytes;
  meta: Uint8Array;
  label: Uint8Array;
  /** Whether the content was sealed again (else its old key is carried in the metadata). */
  eager: boolean;
}

/**
 * The new key of file `body` (whose current key is `key`) for its next version `version`.
 * With `blocks` and a size up to `eagerMaxBytes`, its content is sealed again (stored through
 * `blocks` before this returns).
 * @throws FsError `integrity` when the current content does not verify
 */
export async function rekeyFile(
  ctx: AgentContext & { blocks?: BlockTransport },
  entry: { body: DirEntryBody; key: SecretBytes },
  version: number,
  eagerMaxBytes = defaultEagerRekeyMaxBytes,
): Promise<Rekeyed> {
  const { body } = entry;
  const key = newSymmetricKey();
  const label = encryptName(key, body.id, decryptName(entry.key, body.id, body.label));
  const opened = openFileMeta(entry.key, { fileId: body.id, version: body.version }, body.meta);
  const blocks = ctx.blocks;
  if (blocks !== undefined && opened.size <= eagerMaxBytes) {
    const content = readFileBlocks({
      fileKey: opened.contentKey ?? entry.key,
      fileId: body.id,
      version: opened.contentVersion,
      size: opened.size,
      blocks: opened.blocks,
      fetch: (id) => blocks.getBlock(body.id, id),
    });
    const written = await writeFileBlocks(content, {
      fileKey: key,
      fileId: body.id,
      version,
      chunkSize: fileChunkSize,
      store: (id, parts) => blocks.putBlock(body.id, id, parts),
    });
    const meta = sealFileMeta(
      key,
      { fileId: body.id, version },
      { size: written.size, blocks: written.blocks, mtime: opened.mtime, chunkSize: fileChunkSize },
    );
    return { key, meta, label, eager: true };
  }
  const meta = sealFileMeta(
    key,
    { fileId: body.id, version: opened.contentVersion },
    { ...opened, contentKey: opened.contentKey ?? entry.key },
  );
  return { key, meta, label, eager: false };
}

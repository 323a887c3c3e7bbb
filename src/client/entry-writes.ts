/**
 * Writing an entry version: signed by the session's identity, sent to the directory (a new
 * entry, or the version after `expectedVersion`), and, once the directory accepted it,
 * remembered as seen by this device (seen-versions.ts): a directory that later hands out an
 * older version, or another version with this number, is caught (seen-check.ts).
 */
import { toBase64url } from '../wire/base64.js';
import { type DirEntryBody, signDirEntry } from '../wire/dir-entry.js';
import { routes } from '../wire/directory-api.js';
import { chainHash } from '../wire/key-log.js';
import type { AgentContext } from './entry-verify.js';

/**
 * Signs `body` and stores it: `POST /v1/entries` when `expectedVersion` is null, else
 * `PUT /v1/entries/:id` after that version. Returns the signed envelope.
 * @throws FsError as the directory answers (`conflict` when the entry moved on, `exist`, …);
 *   nothing is remembered then.
 */
export async function writeEntryVersion(
  ctx: AgentContext,
  body: DirEntryBody,
  expectedVersion: number | null,
): Promise<Uint8Array> {
  const envelope = signDirEntry(ctx.session.identity.signing, body);
  const text = toBase64url(envelope);
  if (expectedVersion === null) {
    await ctx.directory.call('POST', routes.entries, { envelope: text }, ctx.session);
  } else {
    await ctx.directory.call(
      'PUT',
      routes.entry.replace(':id', body.id),
      { envelope: text, expectedVersion },
      ctx.session,
    );
  }
  ctx.directory.seen.record([
    {
      entry: body.id,
      version: body.version,
      hash: chainHash(envelope),
      envelope,
      user: ctx.session.user,
      at: Date.now(),
    },
  ]);
  return envelope;
}

/**
 * Who may use a file's blocks, for peers: a peer that receives a capability naming a file asks
 * here for the file's current entry, and checks itself that the capability's issuer is the
 * entry's owner or one of its grantees (the entry is signed by the owner or a writer, so the
 * directory can withhold or replay an entry, but not forge one).
 *
 * Only registered peers may ask (a fresh signed peer record, as for the release log): peers
 * have no user session, and the answer names the file's owner and grantees.
 */
import type { FastifyInstance } from 'fastify';
import { FsError } from '../../interface/errors.js';
import { parseFileId } from '../../interface/ids.js';
import { toBase64url } from '../../wire/base64.js';
import { type EntryResponse, routes, schemas } from '../../wire/directory-api.js';
import { type DirectoryContext, parseBody } from '../app.js';
import { authenticatePeer } from './releases.js';

/** Registers `GET /v1/files/:id/access`. */
export function registerFileAccessRoutes(app: FastifyInstance, ctx: DirectoryContext): void {
  app.get(routes.fileAccess, async (request) => {
    const op = 'file.access';
    await authenticatePeer(ctx, request);
    const { id } = parseBody(schemas.idParam, request.params, op);
    // A trashed entry still names its owner: they may read its blocks to restore it, and
    // release them. A purged one is gone, and so is every right to its blocks.
    const entry = await ctx.store.getEntry(parseFileId(id));
    if (!entry) throw new FsError('not-exist', 'no such file', { op });
    const answer: EntryResponse = {
      envelope: toBase64url(entry.envelope),
      version: entry.version,
      deletedAt: entry.deletedAt,
      deletedBy: entry.deletedBy,
    };
    return answer;
  });
}

/**
 * The block-release log (garbage collection). Only a file's owner knows its block ids (they are
 * sealed in its metadata), so the owner's agent signs a `block-release` naming the blocks that
 * no retained version uses, and posts it here; the directory verifies it against the user's key
 * log and appends it to one ordered log; peers page through the log and delete the blocks they
 * hold that the same user stored under the same file.
 *
 * Security: the directory cannot sign for users, so it can withhold or reorder releases (which
 * wastes space, never loses data) but not forge one; peers verify every release themselves.
 * The log names users and file ids, so reading it takes a fresh record signed by a registered
 * peer: peers have no user session, and nobody else needs the log.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { PeerRecord } from '../../interface/directory-store.js';
import { FsError } from '../../interface/errors.js';
import { fromBase64url, toBase64url } from '../../wire/base64.js';
import { decodeBlockReleaseUnverified, openBlockRelease } from '../../wire/block-release.js';
import {
  maxReleaseBytes,
  peerRecordHeader,
  type PostReleaseResponse,
  releasePage,
  type ReleasesResponse,
  routes,
  schemas,
} from '../../wire/directory-api.js';
import { openPeerRecord, type PeerClaims } from '../../wire/peer-record.js';
import { authenticate, type DirectoryContext, parseBody } from '../app.js';
import { protectedMessage } from '../monitor.js';
import { keyLogState } from '../identities.js';

/**
 * How far a reader's peer record may be from the directory's clock. Short, because the record
 * is a bearer credential while it is fresh: it is not bound to the request it comes with.
 */
export const peerReaderSkewMs = 2 * 60 * 1000;

/** Largest peer record read from the header (a record is about 150 bytes). */
const maxPeerRecordBytes = 1024;

/**
 * Authenticates a peer by the signed record in the {@link peerRecordHeader} header: it must
 * verify (signed by the key it names), be within {@link peerReaderSkewMs} of now, and name a
 * registered peer. Every failure is `permission`; the messages differ only to help an honest
 * peer (a wrong clock, a registration that has not happened yet).
 * @returns the registered peer.
 * @throws FsError `permission`
 */
export async function authenticatePeer(
  ctx: DirectoryContext,
  request: FastifyRequest,
): Promise<PeerRecord> {
  const op = 'releases.auth';
  const header = request.headers[peerRecordHeader];
  // Node joins repeated headers into one string; an array (set-cookie style) is refused too.
  if (typeof header !== 'string' || header.length === 0) {
    throw new FsError(
      'permission',
      `this route is for peers: it needs a signed peer record in ${peerRecordHeader}`,
      { op },
    );
  }
  let claims: PeerClaims;
  try {
    claims = openPeerRecord(fromBase64url(header, 'peer record', { maxBytes: maxPeerRecordBytes }));
  } catch {
    throw new FsError('permission', 'the peer record is malformed or not signed by its key', {
      op,
    });
  }
  if (Math.abs(claims.time - ctx.now()) > peerReaderSkewMs) {
    throw new FsError(
      'permission',
      'the peer record is stale or from the future; sign a fresh one',
      {
        op,
      },
    );
  }
  const peer = await ctx.store.getPeer(toBase64url(claims.key));
  if (!peer) throw new FsError('permission', 'the peer record names no registered peer', { op });
  return peer;
}

export function registerReleaseRoutes(app: FastifyInstance, ctx: DirectoryContext): void {
  app.post(routes.releases, async (request): Promise<PostReleaseResponse> => {
    const op = 'releases.post';
    const user = await authenticate(ctx, request);
    const body = parseBody(schemas.postRelease, request.body, op);
    const envelope = fromBase64url(body.envelope, 'envelope', { maxBytes: maxReleaseBytes });
    // The claimed user decides whose key to verify with; it must be the caller, so nobody
    // posts releases in another user's name (peers would refuse them anyway, but the log
    // would carry them).
    let claimedUser;
    let file;
    try {
      ({ user: claimedUser, file } = decodeBlockReleaseUnverified(envelope));
    } catch {
      throw new FsError('integrity', 'the release is malformed or its signature does not verify', {
        op,
      });
    }
    if (claimedUser !== user) {
      throw new FsError('permission', 'you may release only your own blocks', { op });
    }
    const state = await keyLogState(ctx.store, user);
    try {
      openBlockRelease(envelope, state.identity.signingKey);
    } catch {
      throw new FsError('integrity', 'the release is not signed by your current key', { op });
    }
    // The owner's agent releases blocks before it purges: a file a burst of deletions protects
    // keeps its blocks until the owner acknowledges the alert.
    await ctx.monitor.scan();
    const protecting = await ctx.store.protectingAlerts(file);
    if (protecting.length > 0) throw new FsError('conflict', protectedMessage(protecting), { op });
    const seq = await ctx.store.appendRelease(user, envelope, ctx.now());
    return { seq };
  });

  app.get(routes.releases, async (request): Promise<ReleasesResponse> => {
    const op = 'releases.list';
    await authenticatePeer(ctx, request);
    const query = parseBody(schemas.listReleases, request.query, op);
    const after = query.after ?? 0;
    const rows = await ctx.store.listReleases(after, query.limit ?? releasePage.default);
    return {
      releases: rows.map((row) => ({ seq: row.seq, envelope: toBase64url(row.envelope) })),
      next: rows.at(-1)?.seq ?? after,
    };
  });
}

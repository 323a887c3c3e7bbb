/**
 * The peer registry: peers register and heartbeat with a record signed by their own key; anyone
 * fetches the live set, signed by the directory so it can be checked against the pinned key.
 * Quarantined peers are left out of that set (routes/reports.ts).
 */
import type { FastifyInstance } from 'fastify';
import { FsError } from '../../interface/errors.js';
import { fromBase64url, toBase64url } from '../../wire/base64.js';
import { routes, schemas } from '../../wire/directory-api.js';
import { openPeerRecord, signPeerList } from '../../wire/peer-record.js';
import { maxClockSkewMs } from '../../wire/request-auth.js';
import { type DirectoryContext, parseBody } from '../app.js';

export function registerPeerRoutes(app: FastifyInstance, ctx: DirectoryContext): void {
  app.post(routes.heartbeat, async (request) => {
    const op = 'peers.heartbeat';
    const body = parseBody(schemas.heartbeat, request.body, op);
    const record = fromBase64url(body.record, 'record', { maxBytes: 1024 });
    let claims;
    try {
      claims = openPeerRecord(record);
    } catch {
      throw new FsError('integrity', 'the peer record is not signed by the key it names', { op });
    }
    const now = ctx.now();
    if (Math.abs(claims.time - now) > maxClockSkewMs) {
      throw new FsError(
        'invalid',
        'the peer record is too old or from the future; check the clock',
        { op },
      );
    }
    const id = toBase64url(claims.key);
    const existing = await ctx.store.getPeer(id);
    const previousTime = existing ? openPeerRecord(existing.record).time : -1;
    if (claims.time <= previousTime) {
      throw new FsError(
        'conflict',
        'the peer record is not newer than the last one (replay refused)',
        { op },
      );
    }
    await ctx.store.upsertPeer({
      id,
      key: claims.key,
      address: claims.address,
      capacity: claims.capacity,
      registeredAt: existing?.registeredAt ?? now,
      lastSeen: now,
      record,
    });
    return { id, lastSeen: now };
  });

  app.get(routes.peers, async () => {
    const now = ctx.now();
    // A quarantined peer (routes/reports.ts) is left out: agents place nothing on it, read from
    // the other replicas, and their repair copies its blocks to listed peers.
    const quarantined = new Set((await ctx.store.listQuarantinedPeers()).map((q) => q.peer));
    const live = (await ctx.store.listPeers(now - ctx.config.peerLiveMs)).filter(
      (p) => !quarantined.has(p.id),
    );
    const list = signPeerList(
      ctx.keys.identity,
      now,
      live.map((p) => ({
        key: p.key,
        address: p.address,
        capacity: p.capacity,
        lastSeen: p.lastSeen,
      })),
    );
    return { list: toBase64url(list) };
  });
}

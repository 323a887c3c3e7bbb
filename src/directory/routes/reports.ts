/**
 * Peer health: agents report peers that served a block failing verification (`integrity`) or
 * failed a storage audit (`audit`) with `POST /v1/reports`; the directory keeps one strike per
 * (peer, reporter, block) and quarantines a peer once the strikes pass the rule below. A
 * quarantined peer is left out of the signed live-peer list (routes/peers.ts), so agents place
 * nothing new on it, read from the other replicas, and their repair passes (which only count
 * copies on listed peers) copy its blocks elsewhere. `GET /v1/peers/health` shows the counts.
 *
 * The rule (security-sensitive): quarantine once the strikes name at least
 * `config.quarantineBlocks` distinct blocks (default 3) AND come from at least
 * `config.quarantineReporters` distinct users (default 2).
 * - Distinct blocks, not reports: a reader that reads one bad block ten times, or ten readers of
 *   one block that rotted on disk once, say one thing about the peer, not ten.
 * - Distinct reporters: the directory cannot check a report (it never sees blocks, and block
 *   ids are opaque to it), so a malicious user could report an honest peer with made-up block
 *   ids. Requiring a second account means one user alone can never quarantine a peer. The
 *   limit: a user who controls two accounts (or colludes) can; the quarantine is then visible
 *   to the admin (an `alert` record) and costs only placement (blocks are repaired elsewhere),
 *   never data. A network with a single user sets `quarantineReporters` to 1.
 * - A reporter's strikes against one peer are capped at {@link maxStrikesPerReporter}, so one
 *   account cannot fill the table.
 *
 * Alerts: a new quarantine raises a `peer-quarantined` alert (the monitor's alerts API) for the
 * admins, and one for each reporter (the owners of the files whose blocks were bad).
 */
import type { FastifyInstance } from 'fastify';
import { fingerprint } from '../../crypto/identity.js';
import type { PeerStrike } from '../../interface/directory-store.js';
import { FsError } from '../../interface/errors.js';
import { parseBlockId, parseFileId } from '../../interface/ids.js';
import { fromBase64url } from '../../wire/base64.js';
import {
  type PeerHealthResponse,
  type ReportResponse,
  routes,
  schemas,
} from '../../wire/directory-api.js';
import { authenticate, type DirectoryContext, parseBody } from '../app.js';
import { alertEvent } from '../monitor.js';

/** Most strikes one reporter may hold against one peer (more are acknowledged, not counted). */
export const maxStrikesPerReporter = 100;

/** What the quarantine rule counts in a peer's strikes. */
export function strikeCounts(strikes: readonly PeerStrike[]): {
  strikes: number;
  blocks: number;
  reporters: number;
} {
  return {
    strikes: strikes.length,
    blocks: new Set(strikes.map((s) => s.block)).size,
    reporters: new Set(strikes.map((s) => s.reporter)).size,
  };
}

/**
 * Alerts for a newly quarantined peer (the monitor's alerts, src/directory/monitor.ts): one for
 * the admins, and one for each reporter (the owners of the files whose blocks were bad). Each
 * alert is also an `alert` record of the audit log.
 */
async function raiseQuarantineAlerts(
  ctx: DirectoryContext,
  peer: string,
  strikes: readonly PeerStrike[],
  now: number,
): Promise<void> {
  const counts = strikeCounts(strikes);
  const name = fingerprint(fromBase64url(peer, 'peer', { length: 32 }));
  const summary = `peer ${name} was quarantined: ${counts.blocks} blocks failed verification, reported by ${counts.reporters} users`;
  const base = {
    rule: 'peer-quarantined',
    severity: 'critical',
    summary,
    time: now,
    count: counts.strikes,
  } as const;
  const windowMs = 24 * 60 * 60 * 1000;
  await ctx.store.raiseAlert(
    {
      ...base,
      audience: null,
      admin: true,
      action:
        'check the peer (its disk, its operator); agents no longer place blocks on it and repair its blocks elsewhere; `peervault peers` shows it',
      dedupeKey: `peer-quarantined:${peer}`,
    },
    windowMs,
    [],
    alertEvent,
  );
  // Bounded: a reporter list is not a reason to write thousands of alerts.
  const reporters = [...new Set(strikes.map((s) => s.reporter))].sort().slice(0, 16);
  for (const reporter of reporters) {
    await ctx.store.raiseAlert(
      {
        ...base,
        audience: reporter,
        admin: false,
        action:
          'nothing was read from it: your files were read from other copies; run `peervault repair` to copy your blocks elsewhere now',
        dedupeKey: `peer-quarantined:${peer}:${reporter}`,
      },
      windowMs,
      [],
      alertEvent,
    );
  }
}

/** Registers `POST /v1/reports` and `GET /v1/peers/health` (module comment). */
export function registerReportRoutes(app: FastifyInstance, ctx: DirectoryContext): void {
  app.post(routes.reports, async (request): Promise<ReportResponse> => {
    const op = 'peers.report';
    const reporter = await authenticate(ctx, request);
    const body = parseBody(schemas.report, request.body, op);
    const block = parseBlockId(body.block);
    const file = parseFileId(body.file);
    if ((await ctx.store.getPeer(body.peer)) === undefined) {
      throw new FsError('not-exist', 'no such peer is registered', { op });
    }
    const quarantined = async () =>
      (await ctx.store.listQuarantinedPeers()).some((q) => q.peer === body.peer);

    const before = await ctx.store.listPeerStrikes(body.peer);
    if (before.filter((s) => s.reporter === reporter).length >= maxStrikesPerReporter) {
      return { counted: false, quarantined: await quarantined() };
    }
    const now = ctx.now();
    const counted = await ctx.store.addPeerStrike(
      { peer: body.peer, reporter, block, file, reason: body.reason, time: now },
      [
        ctx.audit.event(request, {
          event: 'integrity.reported',
          actor: reporter,
          subjects: [reporter],
          entry: file,
          details: { peer: body.peer, reason: body.reason, block },
        }),
      ],
    );
    if (!counted) return { counted, quarantined: await quarantined() };

    const strikes = await ctx.store.listPeerStrikes(body.peer);
    const counts = strikeCounts(strikes);
    if (
      counts.blocks >= ctx.config.quarantineBlocks &&
      counts.reporters >= ctx.config.quarantineReporters
    ) {
      const newly = await ctx.store.quarantinePeer(body.peer, now);
      if (newly) {
        request.log.warn({ event: 'peer.quarantined', peer: body.peer, ...counts });
        await raiseQuarantineAlerts(ctx, body.peer, strikes, now);
      }
      return { counted, quarantined: true };
    }
    return { counted, quarantined: await quarantined() };
  });

  app.get(routes.peerHealth, async (): Promise<PeerHealthResponse> => {
    const strikes = await ctx.store.listPeerStrikes();
    const quarantine = new Map(
      (await ctx.store.listQuarantinedPeers()).map((q) => [q.peer, q.since]),
    );
    const byPeer = new Map<string, PeerStrike[]>();
    for (const strike of strikes) {
      const list = byPeer.get(strike.peer) ?? [];
      list.push(strike);
      byPeer.set(strike.peer, list);
    }
    for (const peer of quarantine.keys()) if (!byPeer.has(peer)) byPeer.set(peer, []);
    const keys = [...byPeer.keys()].sort();
    const records = await Promise.all(keys.map((key) => ctx.store.getPeer(key)));
    return {
      peers: keys.map((key, index) => ({
        key,
        address: records[index]?.address ?? null,
        ...strikeCounts(byPeer.get(key) ?? []),
        quarantinedAt: quarantine.get(key) ?? null,
      })),
    };
  });
}

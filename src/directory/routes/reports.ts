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
 * admins, one for each owner of a file whose blocks were bad, and one for each reporter. The
 * file a strike names is the reporter's word, so its owner is told only when that reporter may
 * read the file: a user cannot send alerts to strangers by naming their files.
 *
 * Entry integrity: a client that finds a version of an entry forged (it does not verify),
 * rolled back (older than one its device saw) or forked (another device saw another version at
 * the same number) reports it with `POST /v1/reports/entry`; see {@link registerReportRoutes}.
 */
import type { FastifyInstance } from 'fastify';
import { fingerprint } from '../../crypto/identity.js';
import type { PeerStrike } from '../../interface/directory-store.js';
import { FsError } from '../../interface/errors.js';
import { type FileId, parseBlockId, parseFileId } from '../../interface/ids.js';
import type { UserName } from '../../interface/names.js';
import { fromBase64url } from '../../wire/base64.js';
import {
  type EntryReportResponse,
  type PeerHealthResponse,
  type ReportResponse,
  routes,
  schemas,
} from '../../wire/directory-api.js';
import { authenticate, type DirectoryContext, parseBody } from '../app.js';
import { noteRefusal } from '../audit.js';
import { alertEvent } from '../monitor.js';
import { canRead, noSuchEntry } from './entries.js';

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
 * the admins, one for each owner of a file whose blocks were bad ({@link affectedOwners}), and
 * one for each reporter. Each alert is also an `alert` record of the audit log.
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
  const reporters = [...new Set(strikes.map((s) => s.reporter))].sort().slice(0, maxAudience);
  const owners = await affectedOwners(ctx, strikes);
  const audiences = [...new Set([...owners, ...reporters])];
  for (const audience of audiences) {
    await ctx.store.raiseAlert(
      {
        ...base,
        audience,
        admin: false,
        action: reporters.includes(audience)
          ? 'nothing was read from it: your files were read from other copies; run `peervault repair` to copy your blocks elsewhere now'
          : 'blocks of your files on it failed verification; readers were given other copies. Run `peervault repair` to copy your blocks elsewhere now',
        dedupeKey: `peer-quarantined:${peer}:${audience}`,
      },
      windowMs,
      [],
      alertEvent,
    );
  }
}

/** Most users told of one quarantine as owners, and as reporters (each list is cut here). */
const maxAudience = 16;

/** Most distinct files of a peer's strikes looked up to find their owners. */
const maxFilesLooked = 256;

/**
 * The owners of the files named in `strikes`, sorted, at most {@link maxAudience}. A strike's
 * file id is what its reporter claimed (the directory never sees blocks), so an owner counts
 * only when a reporter of that file may read it; a file that is gone names nobody.
 */
async function affectedOwners(
  ctx: DirectoryContext,
  strikes: readonly PeerStrike[],
): Promise<UserName[]> {
  const reportersOf = new Map<string, Set<UserName>>();
  for (const strike of strikes) {
    const set = reportersOf.get(strike.file) ?? new Set<UserName>();
    set.add(strike.reporter);
    reportersOf.set(strike.file, set);
  }
  const owners = new Set<UserName>();
  for (const [file, reporters] of [...reportersOf].slice(0, maxFilesLooked)) {
    const entry = await ctx.store.getEntry(parseFileId(file));
    if (entry === undefined || ![...reporters].some((r) => canRead(entry, r))) continue;
    owners.add(entry.owner);
  }
  return [...owners].sort().slice(0, maxAudience);
}

/** `entry-integrity` alerts for one (audience, entry) are raised once an hour, then counted. */
const entryIntegrityWindowMs = 60 * 60 * 1000;

/** What each kind of entry report says was served, for the alert's summary. */
const servedWhat: Readonly<Record<'forged' | 'rollback' | 'fork', string>> = {
  forged: 'a forged version (one that does not verify)',
  rollback: 'a rolled-back version (older than one already seen)',
  fork: 'a forked version (another device saw a different one)',
};

/**
 * Alerts for an entry report (`entry-integrity`, critical): one for the owner (and admins),
 * and one for the reporter when that is someone else, each deduped per (audience, entry)
 * within the hour. The reporter's free-text detail stays in the audit record, out of the
 * summaries: a grantee must not be able to write instructions into the owner's alert.
 */
async function raiseEntryIntegrityAlerts(
  ctx: DirectoryContext,
  report: { entry: FileId; owner: UserName; reporter: UserName; kind: keyof typeof servedWhat },
): Promise<number[]> {
  const { entry, owner, reporter } = report;
  const what = servedWhat[report.kind];
  const base = {
    rule: 'entry-integrity',
    severity: 'critical',
    time: ctx.now(),
    count: 1,
  } as const;
  const raise = async (audience: UserName, admin: boolean, summary: string, action: string) =>
    (
      await ctx.store.raiseAlert(
        {
          ...base,
          audience,
          admin,
          summary,
          action,
          dedupeKey: `entry-integrity:${audience}:${entry}`,
        },
        entryIntegrityWindowMs,
        [],
        alertEvent,
      )
    ).alert.id;
  const who = reporter === owner ? 'a device of yours' : reporter;
  const ids = [
    await raise(
      owner,
      true,
      `${who} was served ${what} of your entry ${entry}`,
      'the device did not use it and keeps its own alert. The directory served it: if you run the directory, check it for an intrusion (`peervault audit verify` next to its database); otherwise tell its operator. Check the file (`versions PATH`) before you trust it',
    ),
  ];
  if (reporter !== owner) {
    ids.push(
      await raise(
        reporter,
        false,
        `you were served ${what} of ${owner}'s entry ${entry}`,
        `your device did not use it; ${owner} and the admins were told. Check the file before you trust it`,
      ),
    );
  }
  return ids;
}

/** Registers `POST /v1/reports`, `POST /v1/reports/entry` and `GET /v1/peers/health`. */
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

  // A client found a forged, rolled-back or forked version of an entry it may read. The
  // directory is the suspect of a rollback or fork (it served the version), so this alert is
  // for a directory whose database an intruder edited: its honest operator (an admin) and the
  // owner want to know. A directory that is itself the attacker drops the report; the device
  // that caught it keeps its own alert either way. Security-sensitive: the reporter must be
  // able to read the entry (otherwise `not-exist`, as the entries routes answer, recorded as a
  // refusal), and the report is recorded under the reporter's name, so a grantee who invents
  // reports is named to the owner; one alert per (audience, entry) and hour bounds the noise.
  app.post(routes.entryReport, async (request): Promise<EntryReportResponse> => {
    const op = 'entries.report';
    const reporter = await authenticate(ctx, request);
    const body = parseBody(schemas.entryReport, request.body, op);
    const entry = await ctx.store.getEntry(parseFileId(body.entry));
    if (entry === undefined) throw new FsError('not-exist', noSuchEntry, { op });
    if (!canRead(entry, reporter)) {
      request.log.warn(
        { event: 'access.refused', user: reporter, op, entry: entry.id, kind: 'not-exist' },
        'refused',
      );
      noteRefusal(request, { user: reporter, op, entry: entry.id, kind: 'not-exist' });
      throw new FsError('not-exist', noSuchEntry, { op });
    }
    await ctx.store.appendAudit([
      ctx.audit.event(request, {
        event: 'integrity.reported',
        actor: reporter,
        subjects: [entry.owner, reporter],
        entry: entry.id,
        details: { kind: body.kind, detail: body.detail },
      }),
    ]);
    const alerts = await raiseEntryIntegrityAlerts(ctx, {
      entry: entry.id,
      owner: entry.owner,
      reporter,
      kind: body.kind,
    });
    request.log.warn(
      { event: 'entry.integrity-reported', entry: entry.id, kind: body.kind, user: reporter },
      'entry integrity reported',
    );
    return { alerts };
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

/**
 * Reading the audit log: `GET /v1/audit?after=SEQ&limit=N`. An admin (users.role, set with
 * `peervault directory admin add USER` next to the directory) reads every record; anyone else
 * reads the records whose subjects include them (events about their account and their files).
 *
 * Privacy: the client address of an event is shown to an owner only when no other user caused
 * it (their own actions, failed logins against them); an owner learns that bob probed their
 * folder, not where bob was. Admins see every address.
 */
import type { FastifyInstance } from 'fastify';
import type { AuditRecord } from '../../interface/audit.js';
import type { UserName } from '../../interface/names.js';
import { constantTimeEqual } from '../../crypto/bytes.js';
import { fingerprint } from '../../crypto/identity.js';
import { FsError } from '../../interface/errors.js';
import {
  type AuditCheckpoint,
  auditRecordHash,
  openAuditCheckpoint,
} from '../../wire/audit-log.js';
import { fromBase64url, toBase64url } from '../../wire/base64.js';
import {
  type AuditCheckpointResponse,
  type AuditReportResponse,
  auditPage,
  type AuditRecordResponse,
  type AuditResponse,
  routes,
  schemas,
} from '../../wire/directory-api.js';
import { authenticate, type DirectoryContext, parseBody } from '../app.js';
import { alertEvent } from '../monitor.js';
import { authenticatePeer } from './releases.js';

function detailsOf(text: string): Record<string, unknown> {
  try {
    const value: unknown = JSON.parse(text);
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
      return value as Record<string, unknown>;
    }
  } catch {
    // a damaged record: `peervault audit verify` says where
  }
  return { unreadable: true };
}

/** A record as `reader` may see it. */
function view(record: AuditRecord, reader: UserName, admin: boolean): AuditRecordResponse {
  const ownSource = admin || record.actor === null || record.actor === reader;
  return {
    seq: record.seq,
    time: record.time,
    event: record.event,
    actor: record.actor,
    subjects: [...record.subjects],
    entry: record.entry,
    source: ownSource ? record.source : null,
    details: detailsOf(record.details),
    prev: toBase64url(record.prev),
    hash: toBase64url(record.hash),
  };
}

/** `audit-log-rewritten` alerts are raised once a day, then counted up. */
const rewriteAlertWindowMs = 24 * 60 * 60 * 1000;

/**
 * What the log says against `checkpoints` (checkpoints this directory signed, already opened):
 * one finding per record whose stored hash, or whose contents, no longer give the signed hash,
 * per record that is gone, and for two heads signed for one record. Empty when all agree.
 */
async function rewriteFindings(
  ctx: DirectoryContext,
  checkpoints: readonly AuditCheckpoint[],
): Promise<string[]> {
  const findings: string[] = [];
  const [first, second] = checkpoints;
  if (
    first !== undefined &&
    second !== undefined &&
    first.seq === second.seq &&
    !constantTimeEqual(first.hash, second.hash)
  ) {
    findings.push(`two different heads were signed for record ${first.seq}`);
  }
  for (const checkpoint of checkpoints) {
    const [record] = await ctx.store.listAudit(checkpoint.seq - 1, 1);
    if (record === undefined || record.seq !== checkpoint.seq) {
      findings.push(`record ${checkpoint.seq}, signed in a checkpoint, is gone (cut back)`);
    } else if (!constantTimeEqual(record.hash, checkpoint.hash)) {
      findings.push(`record ${checkpoint.seq} has another hash than the one signed`);
    } else if (!constantTimeEqual(auditRecordHash(record), record.hash)) {
      findings.push(`record ${checkpoint.seq} was edited (its contents no longer give its hash)`);
    }
  }
  return [...new Set(findings)];
}

/** Registers `GET /v1/audit`, `GET /v1/audit/checkpoint` and `POST /v1/reports/audit-log`. */
export function registerAuditRoutes(app: FastifyInstance, ctx: DirectoryContext): void {
  // A peer whose witness no longer matches the log (src/peer/head-gossip.ts) sends the
  // checkpoints in question. They are this directory's own signatures, so nothing rests on the
  // peer's word: a checkpoint that does not verify is refused, and an alert is raised only when
  // the log itself disagrees with one. For a log that an intruder (or a restored backup) cut
  // back or rewrote behind the operator's back; a directory that did it on purpose drops the
  // report, and the peers keep their own alerts either way. Admin-only: the operator acts.
  app.post(routes.auditReport, async (request): Promise<AuditReportResponse> => {
    const op = 'audit.report';
    const peer = await authenticatePeer(ctx, request);
    const body = parseBody(schemas.auditReport, request.body, op);
    const checkpoints = body.checkpoints.map((text) => {
      try {
        return openAuditCheckpoint(
          fromBase64url(text, 'checkpoint', { maxBytes: 1024 }),
          ctx.keys.identity.publicKey,
        );
      } catch {
        throw new FsError('integrity', 'a checkpoint that this directory did not sign', { op });
      }
    });
    const findings = await rewriteFindings(ctx, checkpoints);
    if (findings.length === 0) return { rewritten: false, alert: null, findings };
    const reporter = fingerprint(peer.key);
    const { alert } = await ctx.store.raiseAlert(
      {
        audience: null,
        admin: true,
        rule: 'audit-log-rewritten',
        severity: 'critical',
        summary: `peer ${reporter} holds checkpoints this directory signed that its audit log no longer matches: ${findings.join('; ')}`,
        action:
          'the log was rewritten, cut back or restored from an old backup: its record of logins, shares and deletions cannot be trusted. Run `peervault audit verify --witness PEERDIR` next to the database to see where, and look for an intrusion',
        dedupeKey: 'audit-log-rewritten',
        time: ctx.now(),
        count: 1,
      },
      rewriteAlertWindowMs,
      [],
      alertEvent,
    );
    request.log.warn(
      { event: 'audit.rewrite-reported', peer: reporter, findings },
      'audit log rewritten',
    );
    return { rewritten: true, alert: alert.id, findings };
  });

  // Peers keep every checkpoint they see as witnesses (src/peer/head-gossip.ts): a directory
  // that later rewrites its log and signs it again no longer matches what they hold
  // (`peervault audit verify --witness`). Registered peers only: it tells how busy the log is.
  app.get(routes.auditCheckpoint, async (request): Promise<AuditCheckpointResponse> => {
    await authenticatePeer(ctx, request);
    const { checkpoint } = await ctx.store.auditHead();
    if (checkpoint === 0) return { envelope: null };
    const [latest] = await ctx.store.listAuditCheckpoints(checkpoint - 1, 1);
    return { envelope: latest === undefined ? null : toBase64url(latest.envelope) };
  });

  app.get(routes.audit, async (request): Promise<AuditResponse> => {
    const op = 'audit.list';
    const user = await authenticate(ctx, request);
    const query = parseBody(schemas.listAudit, request.query, op);
    const after = query.after ?? 0;
    // The role is read on every request: taking it away takes effect at once.
    const admin = (await ctx.store.getUser(user))?.role === 'admin';
    const records = await ctx.store.listAudit(
      after,
      query.limit ?? auditPage.default,
      admin ? undefined : user,
    );
    return {
      records: records.map((record) => view(record, user, admin)),
      next: records.at(-1)?.seq ?? after,
      scope: admin ? 'all' : 'own',
    };
  });
}

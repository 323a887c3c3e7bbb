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
import { toBase64url } from '../../wire/base64.js';
import {
  type AuditCheckpointResponse,
  auditPage,
  type AuditRecordResponse,
  type AuditResponse,
  routes,
  schemas,
} from '../../wire/directory-api.js';
import { authenticate, type DirectoryContext, parseBody } from '../app.js';
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

/** Registers `GET /v1/audit` and `GET /v1/audit/checkpoint` (module comment). */
export function registerAuditRoutes(app: FastifyInstance, ctx: DirectoryContext): void {
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

/**
 * The directory's audit log (DESIGN.md section 7): what is recorded when, the signed checkpoints
 * of its head, and the check of a whole stored log.
 *
 * When (docs/formats.md lists every kind and its details):
 * - in the same transaction as the change it records, so a change is never without its record:
 *   register, login.ok, key.appended (appends and revocations), entry.shared / entry.unshared
 *   / entry.deleted / entry.restored (the update route compares the grants before and after),
 *   entry.overwritten (a plain new version of a live file: {@link isOverwrite}), entry.deleted
 *   with `purged` (a purge from the trash), role.changed;
 * - right after, when there is no change to ride with: login.failed with reason `refused` (a
 *   finish that did not verify) and access.refused (every refusal entries.ts logs; appended
 *   before the refusal is answered). A failure to append these is logged and does not change
 *   the answer;
 * - coalesced, at most once per `auditThrottledMs` for each account and address: login.throttled
 *   with the number of attempts the throttle refused (throttled-logins.ts says why);
 * - when the login state expires, for a login never finished: login.failed with reason
 *   `unfinished`, in the transaction that deletes the state (the directory's maintenance,
 *   every minute). With OPAQUE a wrong password is found out by the client, which then sends
 *   nothing more: to the directory, a failed login is one that was started and never finished.
 *
 * Checkpoints: once `auditCheckpointRecords` records follow the last checkpoint (checked after
 * every request that recorded something), every `auditCheckpointMs` if any record followed it,
 * and when the directory stops, the head is signed with the directory's identity key. Several
 * directory processes may race to sign the same head; the first stored wins, the rest are
 * dropped.
 *
 * Security: a checkpoint signed by the directory proves nothing against the directory itself;
 * it makes quiet edits by anyone without the identity key detectable (docs/threat-model.md).
 */
import type { FastifyBaseLogger, FastifyInstance, FastifyRequest } from 'fastify';
import type {
  AuditCheckpointRecord,
  AuditDetails,
  AuditEvent,
  AuditKind,
  AuditRecord,
} from '../interface/audit.js';
import type {
  DirectoryStore,
  EntryRecord,
  ExpiredLogin,
  Grant,
} from '../interface/directory-store.js';
import type { ErrorKind } from '../interface/errors.js';
import { isFsError } from '../interface/errors.js';
import type { FileId } from '../interface/ids.js';
import { parseUserName, type UserName } from '../interface/names.js';
import { constantTimeEqual } from '../crypto/bytes.js';
import type { SigningKeyPair } from '../crypto/keys.js';
import { claimedSigner } from '../crypto/sign.js';
import {
  AuditChainVerifier,
  type AuditProblem,
  type AuditVerification,
  signAuditCheckpoint,
} from '../wire/audit-log.js';
import { toBase64url } from '../wire/base64.js';
import { chainHash } from '../wire/key-log.js';
import { decodeDirEntryUnverified, type DirEntryBody } from '../wire/dir-entry.js';
import type { DirectoryConfig } from './config.js';
import { createThrottledLogins } from './throttled-logins.js';

/** What a route says about an event; the time and the source are filled in. */
export interface AuditFields {
  event: AuditKind;
  actor: UserName | null;
  subjects: readonly UserName[];
  entry?: FileId | null;
  details?: AuditDetails;
}

/** A refusal as entries.ts logs it, to be recorded as `access.refused`. */
export interface AuditRefusal {
  user: UserName;
  op: string;
  /** The entry refused (its owner becomes the subject), or null when none could be named. */
  entry: string | null;
  kind: ErrorKind;
}

/** The directory's audit log, as routes use it. */
export interface DirectoryAudit {
  /** An event of `request`, for a store method that records it with its change. */
  event(request: FastifyRequest, fields: AuditFields): AuditEvent;
  /** Appends an event of `request` now; a failure is logged on the request, never thrown. */
  record(request: FastifyRequest, fields: AuditFields): Promise<void>;
  /**
   * Signs the head when a checkpoint is due: `count` when enough records follow the last one,
   * `any` when any does. Returns the seq signed, or undefined when none was due.
   */
  checkpoint(mode: 'count' | 'any'): Promise<number | undefined>;
  /**
   * Counts a login attempt at `user` that the throttle refused, for a coalesced
   * `login.throttled` record (throttled-logins.ts).
   */
  noteThrottled(request: FastifyRequest, user: UserName): void;
  /** Installs the hooks that record refusals and make checkpoints after requests. */
  install(app: FastifyInstance): void;
  /** Stops the timer and signs the head if anything is unsigned; idempotent. */
  close(): Promise<void>;
}

/** What the audit log needs. */
export interface AuditDeps {
  store: DirectoryStore;
  /** The directory's identity key, which signs checkpoints. */
  key: SigningKeyPair;
  config: Pick<
    DirectoryConfig,
    'auditCheckpointRecords' | 'auditCheckpointMs' | 'auditThrottledMs'
  >;
  now: () => number;
}

/** Refusals noted on a request and not yet recorded. */
const pendingRefusals = new WeakMap<FastifyRequest, AuditRefusal[]>();
/** Requests that recorded something: a checkpoint may be due after them. */
const audited = new WeakSet<FastifyRequest>();

/**
 * Notes a refusal to record as `access.refused` before `request` is answered (entries.ts calls
 * this where it logs the refusal; the hooks of {@link DirectoryAudit.install} record it).
 */
export function noteRefusal(request: FastifyRequest, refusal: AuditRefusal): void {
  const list = pendingRefusals.get(request);
  if (list === undefined) pendingRefusals.set(request, [refusal]);
  else list.push(refusal);
}

/** Creates the audit log of one directory process; its timer runs until `close()`. */
export function createDirectoryAudit(deps: AuditDeps): DirectoryAudit {
  const { store, key, config, now } = deps;
  let running: Promise<number | undefined> | undefined;
  let closed = false;
  let log: FastifyBaseLogger | undefined;
  const throttled = createThrottledLogins({
    store,
    now,
    flushMs: config.auditThrottledMs,
    onError: (err) =>
      log?.error(
        {
          event: 'audit.failed',
          audit: 'login.throttled',
          kind: isFsError(err) ? err.kind : 'internal',
        },
        'an audit record could not be appended',
      ),
  });

  const event = (request: FastifyRequest, fields: AuditFields): AuditEvent => {
    audited.add(request);
    return {
      time: now(),
      event: fields.event,
      actor: fields.actor,
      subjects: fields.subjects,
      entry: fields.entry ?? null,
      source: request.ip,
      details: fields.details ?? {},
    };
  };

  const record = async (request: FastifyRequest, fields: AuditFields): Promise<void> => {
    try {
      await store.appendAudit([event(request, fields)]);
    } catch (err) {
      request.log.error(
        {
          event: 'audit.failed',
          audit: fields.event,
          kind: isFsError(err) ? err.kind : 'internal',
        },
        'an audit record could not be appended',
      );
    }
  };

  const signHead = async (mode: 'count' | 'any'): Promise<number | undefined> => {
    const head = await store.auditHead();
    const unsigned = head.seq - head.checkpoint;
    if (unsigned <= 0 || (mode === 'count' && unsigned < config.auditCheckpointRecords)) {
      return undefined;
    }
    const time = now();
    const envelope = signAuditCheckpoint(key, { seq: head.seq, hash: head.hash, time });
    try {
      await store.addAuditCheckpoint({ seq: head.seq, hash: head.hash, time, envelope });
    } catch (err) {
      // Another directory process signed this head first: the same seq and hash, so nothing
      // is lost.
      if (!isFsError(err, 'exist')) throw err;
    }
    return head.seq;
  };

  // One signing at a time in this process; a caller that finds one running waits for it and
  // then checks again (more records may have come meanwhile).
  const checkpoint = async (mode: 'count' | 'any'): Promise<number | undefined> => {
    while (running !== undefined) await running.catch(() => undefined);
    const current = signHead(mode);
    running = current;
    try {
      return await current;
    } finally {
      if (running === current) running = undefined;
    }
  };

  const timer = setInterval(() => {
    void checkpoint('any').catch(() => undefined);
  }, config.auditCheckpointMs);
  timer.unref();

  return {
    event,
    record,
    checkpoint,

    noteThrottled(request, user) {
      throttled.note(user, request.ip);
    },

    install(app) {
      log = app.log;
      // Before any answer goes out (success or error), the refusals noted while handling it
      // are recorded, each with the owner of the entry refused as its subject.
      app.addHook('onSend', async (request, _reply, payload) => {
        const refusals = pendingRefusals.get(request);
        if (refusals === undefined) return payload;
        pendingRefusals.delete(request);
        for (const refusal of refusals) {
          const owner =
            refusal.entry === null
              ? undefined
              : await store.getEntry(refusal.entry as FileId).then(
                  (entry) => entry?.owner,
                  () => undefined,
                );
          await record(request, {
            event: 'access.refused',
            actor: refusal.user,
            subjects: owner === undefined ? [] : [owner],
            entry: refusal.entry as FileId | null,
            details: { op: refusal.op, kind: refusal.kind },
          });
        }
        return payload;
      });
      // After the answer, so no request waits for a signature.
      app.addHook('onResponse', async (request) => {
        if (!audited.has(request)) return;
        await checkpoint('count').catch((err: unknown) => {
          request.log.error(
            { event: 'audit.checkpoint-failed', kind: isFsError(err) ? err.kind : 'internal' },
            'an audit checkpoint could not be made',
          );
        });
      });
    },

    async close() {
      if (closed) return;
      closed = true;
      clearInterval(timer);
      await throttled.close().catch(() => undefined);
      await checkpoint('any').catch(() => undefined);
    },
  };
}

/**
 * The `login.failed` events of logins never finished (see the module comment), for
 * `store.pruneExpired`. An unknown account is named by nobody: what was typed may be a
 * mistyped password, and no user may read it (admins see that it happened, and from where).
 */
export function unfinishedLogins(now: number): (expired: readonly ExpiredLogin[]) => AuditEvent[] {
  return (expired) =>
    expired.map((login): AuditEvent => ({
      time: now,
      event: 'login.failed',
      actor: null,
      subjects: login.known ? [login.user] : [],
      entry: null,
      source: login.source ?? 'unknown',
      details: login.known
        ? { reason: 'unfinished' }
        : { reason: 'unfinished', unknownAccount: true },
    }));
}

/** A new version as the update route verified it: its body, who signed it and with which key. */
export interface VerifiedVersion {
  body: DirEntryBody;
  /** The grants of its ACL (`grantsOf(body)`). */
  grants: readonly Grant[];
  writer: UserName;
  /** The key it was verified with: the writer's current signing key. */
  signer: Uint8Array;
}

/**
 * Whether `next` over `current` is recorded as `entry.overwritten` (for the monitor's
 * `overwrite-burst`): a new version of a live file that stays live and gives and takes no
 * grant, unless it is signed with a NEW key of an account that signed this entry before. What
 * is left out, and why:
 * - deletions and restores (`entry.deleted`, `entry.restored`) and folders;
 * - a change of grants: an owner's share or unshare rewrite is `entry.shared` /
 *   `entry.unshared`, and the owner chose it;
 * - `peervault revocate`: it gives every owned entry a version under the new key (and a new
 *   certificate), and signs again the others' entries its user last wrote; a revocation must not
 *   look like ransomware. The key compared is the one that signed the version before when the
 *   caller wrote it, else, for the owner, the one that signed its access certificate.
 * Counted, then: every plain write, by the owner or a writer, whoever wrote before, however the
 * certificate is renewed (whoever holds a key can sign a new certificate; only a new key in the
 * key log, itself recorded as `key.appended`, stops the count).
 * Security-sensitive: run only on versions the route verified; `current` is a stored row.
 */
export function isOverwrite(
  current: Pick<EntryRecord, 'kind' | 'owner' | 'deletedAt' | 'envelope' | 'writer' | 'grants'>,
  next: VerifiedVersion,
): boolean {
  if (current.kind !== 'file' || current.deletedAt !== null || next.body.deleted !== null) {
    return false;
  }
  const words = (grants: readonly Grant[]) => grants.map((g) => `${g.user}:${g.right}`).sort();
  if (words(current.grants).join(' ') !== words(next.grants).join(' ')) return false;
  let before: Uint8Array;
  if (current.writer === next.writer) {
    before = claimedSigner(current.envelope, 'dir-entry');
  } else if (current.owner === next.writer) {
    before = claimedSigner(decodeDirEntryUnverified(current.envelope).aclCert, 'entry-acl');
  } else {
    // A writer after someone else: a revocation signs again only what its user last wrote.
    return true;
  }
  return constantTimeEqual(before, next.signer);
}

/** Checkpoints and records read per page when a whole log is checked. */
const verifyPage = 1000;

/** The key events the log recorded (`register` for event 0, `key.appended`), by user and seq. */
type RecordedHeads = Map<string, Map<number, { head: string; record: number }>>;

/** Notes the key event `record` pins, if it is one (records from before `head` pin none). */
function noteKeyEvent(heads: RecordedHeads, record: AuditRecord): void {
  if ((record.event !== 'register' && record.event !== 'key.appended') || !record.actor) return;
  let details: unknown;
  try {
    details = JSON.parse(record.details);
  } catch {
    return; // a damaged record is the chain check's to report
  }
  if (typeof details !== 'object' || details === null) return;
  const { head, seq } = details as { head?: unknown; seq?: unknown };
  const eventSeq = record.event === 'register' ? 0 : seq;
  if (typeof head !== 'string' || typeof eventSeq !== 'number') return;
  const user = heads.get(record.actor) ?? new Map<number, { head: string; record: number }>();
  user.set(eventSeq, { head, record: record.seq });
  heads.set(record.actor, user);
}

/**
 * Compares every user's stored key log with the key events the audit log recorded: an event
 * substituted, edited or removed in the database, or one that no record accounts for, is a
 * `key-log` problem at the record (or after the last one). Users whose registration predates
 * these records are checked only for the events recorded.
 */
async function keyLogProblems(
  store: DirectoryStore,
  heads: RecordedHeads,
): Promise<AuditProblem[]> {
  const problems: AuditProblem[] = [];
  for (const [user, recorded] of heads) {
    let log;
    try {
      log = await store.keyLog(parseUserName(user));
    } catch {
      continue; // not a user name: an edited record, which the chain check reports
    }
    for (const [seq, { head, record }] of recorded) {
      const event = log[seq];
      if (event === undefined) {
        problems.push({
          kind: 'key-log',
          seq: record,
          message: `record ${record}: ${user}'s key event ${seq} is gone from the key log (removed in the database)`,
        });
      } else if (toBase64url(chainHash(event.envelope)) !== head) {
        problems.push({
          kind: 'key-log',
          seq: record,
          message: `record ${record}: ${user}'s key event ${seq} is not the one recorded (substituted or edited in the database)`,
        });
      }
    }
    if (!recorded.has(0)) continue; // registered before key events were recorded
    for (const event of log) {
      if (!recorded.has(event.seq)) {
        problems.push({
          kind: 'key-log',
          seq: Math.max(...[...recorded.values()].map((r) => r.record)),
          message: `${user}'s key log has an event ${event.seq} that no record accounts for (added in the database)`,
        });
      }
    }
  }
  return problems;
}

/**
 * Checks the whole audit log in `store` against the directory's public key (wire/audit-log.ts
 * says what is checked), reading it in pages, and every user's key log against the key events
 * the log recorded.
 */
export async function verifyAuditLog(
  store: DirectoryStore,
  directoryKey: Uint8Array,
  witnesses: readonly Pick<AuditCheckpointRecord, 'seq' | 'envelope'>[] = [],
): Promise<AuditVerification> {
  const checkpoints = [];
  for (let after = 0; ;) {
    const page = await store.listAuditCheckpoints(after, verifyPage);
    checkpoints.push(...page);
    const last = page.at(-1);
    if (last === undefined || page.length < verifyPage) break;
    after = last.seq;
  }
  const verifier = new AuditChainVerifier(directoryKey, checkpoints, witnesses);
  const heads: RecordedHeads = new Map();
  for (let after = 0; ;) {
    const page = await store.listAudit(after, verifyPage);
    for (const record of page) {
      verifier.add(record);
      noteKeyEvent(heads, record);
    }
    const last = page.at(-1);
    if (last === undefined || page.length < verifyPage) break;
    after = last.seq;
  }
  const chain = verifier.finish();
  const problems = [...chain.problems, ...(await keyLogProblems(store, heads))].sort(
    (a, b) => a.seq - b.seq,
  );
  return { ...chain, ok: problems.length === 0, problems };
}

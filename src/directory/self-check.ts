/**
 * The directory checks its own audit log on a schedule, as `peervault audit verify` does by
 * hand (the chain, the signed checkpoints, every user's key log against the key events the log
 * recorded), and tells the admins when it is broken: an intruder who edits the database behind
 * the directory (a record rewritten, a key swapped) is caught without anyone thinking to run
 * the command. One admin-only critical alert, `audit-log-broken`, counted up while unread.
 *
 * What it cannot catch: a directory whose operator is the attacker (it holds the key and can
 * sign a rewritten log again), which is the peers' witnesses' job (head-gossip.ts), and a tail
 * cut off after the last checkpoint (docs/threat-model.md, "The audit log's gaps").
 */
import type { DirectoryStore } from '../interface/directory-store.js';
import type { AuditVerification } from '../wire/audit-log.js';
import { verifyAuditLog } from './audit.js';
import { alertEvent } from './monitor.js';

/** A broken log is alerted once a day, then counted up. */
const brokenAlertWindowMs = 24 * 60 * 60 * 1000;

/** Most problems named in the alert's summary (the rest are a count; `audit verify` lists all). */
const namedProblems = 3;

/** What the self-check needs. */
export interface SelfCheckDeps {
  store: DirectoryStore;
  /** The directory's public identity key, which signs the checkpoints. */
  directoryKey: Uint8Array;
  /** Between checks; the first comes after at most a minute of it. 0 schedules nothing. */
  everyMs: number;
  now(): number;
  /** Where a finished check is logged (never a secret: record numbers and kinds). */
  log(event: Record<string, unknown>): void;
}

/**
 * Checks the log once and raises (or counts up) `audit-log-broken` when it is broken.
 * @returns what the check found
 */
export async function checkAuditLogOnce(deps: SelfCheckDeps): Promise<AuditVerification> {
  const result = await verifyAuditLog(deps.store, deps.directoryKey);
  deps.log({
    event: 'audit.self-check',
    ok: result.ok,
    records: result.records,
    problems: result.problems.length,
  });
  if (result.ok) return result;
  const named = result.problems.slice(0, namedProblems).map((p) => p.message);
  const more = result.problems.length - named.length;
  await deps.store.raiseAlert(
    {
      audience: null,
      admin: true,
      rule: 'audit-log-broken',
      severity: 'critical',
      summary: `the directory's check of its own audit log found ${result.problems.length} ${
        result.problems.length === 1 ? 'problem' : 'problems'
      }: ${named.join('; ')}${more > 0 ? `; and ${more} more` : ''}`,
      action:
        'its database was edited behind it: run `peervault audit verify` next to the database to see every break, look for an intrusion, and restore from a backup you trust',
      dedupeKey: 'audit-log-broken',
      time: deps.now(),
      count: 1,
    },
    brokenAlertWindowMs,
    [],
    alertEvent,
  );
  return result;
}

/** Runs {@link checkAuditLogOnce} every `everyMs`, never two at once. */
export function startSelfCheck(deps: SelfCheckDeps): { stop(): void } {
  if (deps.everyMs === 0) return { stop: () => undefined };
  let running = false;
  let timer: NodeJS.Timeout;
  const tick = () => {
    timer = setTimeout(tick, deps.everyMs);
    timer.unref();
    if (running) return;
    running = true;
    checkAuditLogOnce(deps)
      .catch((error: unknown) =>
        deps.log({ event: 'audit.self-check-failed', error: String(error) }),
      )
      .finally(() => {
        running = false;
      });
  };
  timer = setTimeout(tick, Math.min(deps.everyMs, 60_000));
  timer.unref();
  return { stop: () => clearTimeout(timer) };
}

/**
 * The directory's security monitor (DESIGN.md section 7, docs/monitor.md): it reads the audit log
 * as records are appended and raises alerts (`store.raiseAlert`) for the person who must act.
 *
 * Rules (thresholds in `DirectoryConfig.monitor`; docs/monitor.md gives each one's rationale):
 * - `password-guessing`: `guessFailures` failed logins on one account within `guessWindowMs`
 *   → the account's owner and admins. Attempts the throttle refused count too
 *   (`login.throttled`, weighed by its count): a guesser from one address is let through so
 *   rarely that its failures alone would never reach the threshold;
 * - `credential-stuffing`: failed logins on `sourceAccounts` distinct accounts from one source
 *   within `sourceWindowMs` → admins;
 * - `permission-probing`: `probeRefusals` refused requests by one user on entries of another
 *   within `probeWindowMs` → the owner and admins;
 * - `deletion-burst`: `burstDeletions` deletions by one account of one owner's entries within
 *   `burstWindowMs` → the owner and admins, and every entry deleted in the burst is protected
 *   from purge until the owner acknowledges the alert;
 * - `overwrite-burst`: `burstOverwrites` distinct files of one owner overwritten by one account
 *   within `burstWindowMs` (`entry.overwritten`: ransomware encrypting in place) → the owner and
 *   admins, and every file overwritten in the burst is protected the same way (its old versions
 *   live as long as it does, so each stays restorable). Distinct files, not versions: an editor
 *   saving one file every second is no attack, and 100 files are what one account rarely
 *   rewrites in 5 minutes;
 * - `session-misuse`: `authRefusals` requests refused in one user's sessions (a replay, a revoked
 *   session still in use) within `authWindowMs` → the user and admins (a stolen session).
 *
 * One alert per subject and window: further events while it is unacknowledged and within the
 * window count it up (`dedupeKey`), so 10,000 guesses raise one alert with a count of 10,000.
 *
 * When: after every request (before it is answered, so a purge right after a burst is already
 * refused), before each purge and release, and every `scanMs`. The windows live in this
 * process's memory; a fresh process first replays the records of the longest window before the
 * log's head into them (a warm-up that raises and counts up nothing: those records were
 * examined before the restart), so a count that began before a restart goes on after it.
 * Several directory processes each read every record: an alert is then counted up by each,
 * never raised twice within its window (the store de-duplicates).
 */
import type { FastifyInstance } from 'fastify';
import type { AuditEvent, AuditRecord } from '../interface/audit.js';
import type { AlertRecord, DirectoryStore, NewAlert } from '../interface/directory-store.js';
import { parseFileId } from '../interface/ids.js';
import { parseUserName, type UserName } from '../interface/names.js';
import type { MonitorPolicy } from './config.js';

/** What the monitor needs. */
export interface MonitorDeps {
  store: DirectoryStore;
  policy: MonitorPolicy;
  /**
   * Start after this seq, with empty windows; by default, at the log's head when first scanned,
   * with the windows warmed up from the records before it (module comment).
   */
  after?: number;
}

/** The monitor of one directory process. */
export interface DirectoryMonitor {
  /** Reads the records appended since the last scan and raises what they call for. */
  scan(): Promise<void>;
  /** Scans after every request, before it is answered, and starts the timer. */
  install(app: FastifyInstance): void;
  /** Stops the timer; idempotent. */
  close(): void;
}

/** Records read per page. */
const page = 1000;

interface Hit {
  time: number;
  /** The entry, for a deletion or an overwrite; the account, for a source's failed logins. */
  tag: string | null;
  /** How many events it stands for: the count of a `login.throttled` record, else 1. */
  weight: number;
  /** The record's place in the log. */
  seq: number;
}

/** The events that `hits` stand for. */
const weightOf = (hits: readonly Hit[]): number => hits.reduce((sum, h) => sum + h.weight, 0);

/** The most refusals one `login.throttled` record is taken to stand for. */
const maxThrottledCount = 1_000_000;

/** The number of refused attempts a `login.throttled` record carries (1 when it is malformed). */
function throttledCount(details: Record<string, unknown>): number {
  const count = details.count;
  return typeof count === 'number' && Number.isSafeInteger(count) && count > 0
    ? Math.min(count, maxThrottledCount)
    : 1;
}

interface Pending {
  alert: NewAlert;
  windowMs: number;
  protect: Set<string>;
}

function parseDetails(text: string): Record<string, unknown> {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

function userOrNull(name: string | null | undefined): UserName | null {
  if (name === null || name === undefined) return null;
  try {
    return parseUserName(name);
  } catch {
    return null;
  }
}

/** The audit event of a new alert: about its audience, readable by admins. */
export function alertEvent(alert: AlertRecord): AuditEvent {
  return {
    time: alert.lastAt,
    event: 'alert',
    actor: null,
    subjects: alert.audience === null ? [] : [alert.audience],
    entry: null,
    source: 'directory',
    details: { id: alert.id, rule: alert.rule, severity: alert.severity, count: alert.count },
  };
}

/** Creates the monitor (module comment). */
export function createDirectoryMonitor(deps: MonitorDeps): DirectoryMonitor {
  const { store, policy } = deps;
  let cursor = deps.after;
  let running: Promise<void> = Promise.resolve();
  const windows = new Map<string, Hit[]>();
  /** By window key: the seq of the newest record counted into an alert (none counted twice). */
  const counted = new Map<string, number>();
  let timer: ReturnType<typeof setInterval> | undefined;
  const longest = Math.max(
    policy.guessWindowMs,
    policy.sourceWindowMs,
    policy.probeWindowMs,
    policy.burstWindowMs,
    policy.authWindowMs,
  );

  /** Adds a hit under `key` and returns the hits within `windowMs` of it. */
  const hit = (key: string, windowMs: number, value: Hit): Hit[] => {
    const list = windows.get(key) ?? [];
    list.push(value);
    let drop = 0;
    while (drop < list.length && (list[drop]?.time ?? 0) < value.time - windowMs) drop += 1;
    if (drop > 0) list.splice(0, drop);
    windows.set(key, list);
    return list;
  };

  const sweep = (time: number): void => {
    if (windows.size < 10_000) return;
    for (const [key, list] of windows) {
      if ((list.at(-1)?.time ?? 0) < time - longest) {
        windows.delete(key);
        counted.delete(key);
      }
    }
  };

  /**
   * Adds `record` to the windows and, with `pending` (none in the warm-up), collects the alerts
   * it raises or counts up.
   */
  const examine = (record: AuditRecord, pending: Map<string, Pending> | null): void => {
    const details = parseDetails(record.details);
    /**
     * `reached` is what is held against the threshold (the hits in the window by default, or
     * the distinct tags among them), and `rose` whether this record made it grow.
     */
    const fire = (
      key: string,
      windowMs: number,
      hits: Hit[],
      threshold: number,
      alert: Omit<NewAlert, 'dedupeKey' | 'time' | 'count'>,
      protect: boolean,
      { reached, rose }: { reached: number; rose: boolean } = {
        reached: weightOf(hits),
        rose: true,
      },
    ): void => {
      if (reached < threshold) return;
      const countedUpTo = counted.get(key) ?? 0;
      counted.set(key, record.seq);
      // In the warm-up the last process counted this record already; only remember that.
      if (pending === null) return;
      const weight = hits.at(-1)?.weight ?? 1;
      const known = pending.get(key);
      if (known !== undefined) {
        known.alert.count += weight;
        known.alert.time = record.time;
        if (protect && record.entry !== null) known.protect.add(record.entry);
        return;
      }
      // The first time in this scan: when the threshold is just reached, the alert stands for
      // every hit in the window not counted before (a window that slid below the threshold and
      // rose again holds hits an open alert already counted); after, for this one (the store
      // counts it up).
      const first = reached - weight < threshold && rose;
      pending.set(key, {
        alert: {
          ...alert,
          dedupeKey: key,
          time: record.time,
          count: first ? weightOf(hits.filter((h) => h.seq > countedUpTo)) : weight,
        },
        windowMs,
        protect: new Set(
          protect
            ? first
              ? hits.flatMap((h) => (h.tag === null ? [] : [h.tag]))
              : record.entry === null
                ? []
                : [record.entry]
            : [],
        ),
      });
    };

    // A throttled attempt is a guess the throttle refused: it counts like a failed login, as
    // many times as the record says (throttled-logins.ts).
    const throttled = record.event === 'login.throttled';
    if (record.event === 'login.failed' || throttled) {
      const account = userOrNull(record.subjects[0]);
      const weight = throttled ? throttledCount(details) : 1;
      if (account !== null) {
        const key = `password-guessing:${account}`;
        const hits = hit(key, policy.guessWindowMs, {
          time: record.time,
          tag: null,
          weight,
          seq: record.seq,
        });
        fire(
          key,
          policy.guessWindowMs,
          hits,
          policy.guessFailures,
          {
            audience: account,
            admin: true,
            rule: 'password-guessing',
            severity: 'warning',
            summary: `repeated failed logins on account ${account}`,
            action:
              'if these were not you, choose a strong new password (peervault passwd); the guesser is throttled',
          },
          false,
        );
      }
      const sourceKey = `credential-stuffing:${record.source}`;
      const sourceHits = hit(sourceKey, policy.sourceWindowMs, {
        time: record.time,
        // An unknown account is named by no record: each failed login may be another one, but
        // the refusals from one address at unknown names count as one (they are counted per
        // name only while the throttle lets them through).
        tag: account ?? (throttled ? '?throttled' : `?${record.seq}`),
        weight,
        seq: record.seq,
      });
      const accounts = new Set(sourceHits.map((h) => h.tag)).size;
      if (accounts >= policy.sourceAccounts) {
        fire(
          sourceKey,
          policy.sourceWindowMs,
          sourceHits,
          1,
          {
            audience: null,
            admin: true,
            rule: 'credential-stuffing',
            severity: 'warning',
            summary: `failed logins on ${accounts} accounts from ${record.source}`,
            action: 'consider blocking this address; the source is throttled',
          },
          false,
        );
      }
      return;
    }

    if (record.event === 'access.refused' && details.op === 'request.auth') {
      const user = userOrNull(record.actor);
      if (user === null) return;
      const key = `session-misuse:${user}`;
      const hits = hit(key, policy.authWindowMs, {
        time: record.time,
        tag: null,
        weight: 1,
        seq: record.seq,
      });
      fire(
        key,
        policy.authWindowMs,
        hits,
        policy.authRefusals,
        {
          audience: user,
          admin: true,
          rule: 'session-misuse',
          severity: 'critical',
          summary: 'requests in a session of yours were replayed or came after it was ended',
          action:
            'if you did not just log out or end that device, your session may be stolen: check peervault devices and run peervault revocate',
        },
        false,
      );
      return;
    }

    if (record.event === 'access.refused') {
      const actor = userOrNull(record.actor);
      const owner = userOrNull(record.subjects[0]);
      if (actor === null || owner === null || actor === owner) return;
      const key = `permission-probing:${actor}:${owner}`;
      const hits = hit(key, policy.probeWindowMs, {
        time: record.time,
        tag: record.entry,
        weight: 1,
        seq: record.seq,
      });
      fire(
        key,
        policy.probeWindowMs,
        hits,
        policy.probeRefusals,
        {
          audience: owner,
          admin: true,
          rule: 'permission-probing',
          severity: 'warning',
          summary: `${actor} was refused access to your files repeatedly`,
          action: `check what you share with ${actor} (peervault audit); nothing was read`,
        },
        false,
      );
      return;
    }

    if (record.event === 'entry.deleted' && details.purged !== true && record.entry !== null) {
      const actor = userOrNull(record.actor);
      const owner = userOrNull(record.subjects[0]);
      if (actor === null || owner === null) return;
      const key = `deletion-burst:${actor}:${owner}`;
      const hits = hit(key, policy.burstWindowMs, {
        time: record.time,
        tag: record.entry,
        weight: 1,
        seq: record.seq,
      });
      const by = actor === owner ? 'your account' : actor;
      fire(
        key,
        policy.burstWindowMs,
        hits,
        policy.burstDeletions,
        {
          audience: owner,
          admin: true,
          rule: 'deletion-burst',
          severity: 'critical',
          summary: `a burst of deletions of your files by ${by}`,
          action:
            'if this was not you, log out your other devices and restore from the trash; the deleted files are kept until you acknowledge this alert',
        },
        true,
      );
      return;
    }

    if (record.event === 'entry.overwritten' && record.entry !== null) {
      const actor = userOrNull(record.actor);
      const owner = userOrNull(record.subjects[0]);
      if (actor === null || owner === null) return;
      const key = `overwrite-burst:${actor}:${owner}`;
      const hits = hit(key, policy.burstWindowMs, {
        time: record.time,
        tag: record.entry,
        weight: 1,
        seq: record.seq,
      });
      const files = new Set(hits.map((h) => h.tag)).size;
      const rose = !hits.slice(0, -1).some((h) => h.tag === record.entry);
      const by = actor === owner ? 'your account' : actor;
      fire(
        key,
        policy.burstWindowMs,
        hits,
        policy.burstOverwrites,
        {
          audience: owner,
          admin: true,
          rule: 'overwrite-burst',
          severity: 'critical',
          summary: `a burst of overwrites of your files by ${by}`,
          action:
            'if this was not you, log out your other devices and restore the earlier versions (peervault versions PATH, peervault restore PATH --version N); the overwritten files are kept until you acknowledge this alert',
        },
        true,
        { reached: files, rose },
      );
    }
  };

  /**
   * Replays the records of the longest window before the head into the windows, raising
   * nothing, and returns the head's seq: the records after it are examined as usual.
   */
  const warmUp = async (): Promise<number> => {
    const head = (await store.auditHead()).seq;
    if (head === 0) return 0;
    const [last] = await store.listAudit(head - 1, 1);
    if (last === undefined) return head;
    let after = (await store.auditSeqAt(last.time - longest)) - 1;
    while (after < head) {
      const records = await store.listAudit(after, Math.min(page, head - after));
      for (const record of records) if (record.seq <= head) examine(record, null);
      const end = records.at(-1);
      if (end === undefined) break;
      after = end.seq;
      sweep(end.time);
    }
    return head;
  };

  const scanOnce = async (): Promise<void> => {
    if (cursor === undefined) {
      cursor = await warmUp();
    }
    for (;;) {
      const records = await store.listAudit(cursor, page);
      const pending = new Map<string, Pending>();
      for (const record of records) examine(record, pending);
      for (const { alert, windowMs, protect } of pending.values()) {
        await store.raiseAlert(
          alert,
          windowMs,
          [...protect].map((id) => parseFileId(id)),
          alertEvent,
        );
      }
      const last = records.at(-1);
      if (last !== undefined) {
        cursor = last.seq;
        sweep(last.time);
      }
      if (records.length < page) return;
    }
  };

  const scan = (): Promise<void> => {
    const next = running.then(scanOnce);
    running = next.catch(() => undefined);
    return next;
  };

  return {
    scan,
    install(app) {
      app.addHook('onReady', async () => {
        await scan();
      });
      app.addHook('onSend', async (request, _reply, payload) => {
        await scan().catch((err: unknown) => {
          request.log.error({ event: 'monitor.failed', err: String(err) }, 'the monitor failed');
        });
        return payload;
      });
      timer ??= setInterval(() => {
        void scan().catch(() => undefined);
      }, policy.scanMs);
      timer.unref();
    },
    close() {
      if (timer !== undefined) clearInterval(timer);
      timer = undefined;
    },
  };
}

/** A message for a purge refused because `alerts` protect the entry. */
export function protectedMessage(alerts: readonly number[]): string {
  return `protected after a burst of deletions or overwrites; acknowledge alert ${alerts.join(', ')} first`;
}

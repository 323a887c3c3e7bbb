/**
 * Login attempts the throttle refused, recorded in the audit log as `login.throttled`.
 *
 * Why record them: the throttle lets a guesser at one account from one address through only a
 * few times an hour (throttle.ts), so the failures that get through never reach the monitor's
 * `password-guessing` threshold. The guesses it refuses are the evidence of the attack: 10,000
 * of them must raise the alert. Why coalesce: one record per refusal would let a guesser grow
 * the audit log by thousands of records a second. So refusals are counted per account and
 * address, and each pair gets at most one record per `flushMs` carrying how many were refused
 * (details.count); the monitor weighs the record by that count.
 *
 * Like `login.failed`, a record of an unknown account names nobody (what was typed may be a
 * mistyped password of someone else): only admins read it. Counts live in this process until
 * the next flush; a directory killed in between loses at most `flushMs` of them.
 */
import type { AuditEvent } from '../interface/audit.js';
import type { DirectoryStore } from '../interface/directory-store.js';
import type { UserName } from '../interface/names.js';

/**
 * Most (account, address) pairs held between flushes; refusals beyond them are counted
 * together, as from {@link overflowSource}.
 */
export const maxThrottledPairs = 1_000;

/** The `source` of the record that counts the refusals beyond {@link maxThrottledPairs}. */
export const overflowSource = 'many addresses';

/** The throttled-login counter of one directory process. */
export interface ThrottledLogins {
  /** Counts one refused attempt at `user` from `source`; a flush is scheduled if none is. */
  note(user: UserName, source: string): void;
  /** Appends one record per pair counted since the last flush. Failures are passed on. */
  flush(): Promise<void>;
  /** Stops the timer and flushes what is left. */
  close(): Promise<void>;
}

interface Count {
  /** Null once the pair table is full: the count stands for any account from `source`. */
  user: UserName | null;
  source: string;
  count: number;
}

export function createThrottledLogins(deps: {
  store: Pick<DirectoryStore, 'appendAudit' | 'getUser'>;
  now: () => number;
  flushMs: number;
  /** Called when a scheduled flush fails (the counts of that flush are lost, never retried). */
  onError: (err: unknown) => void;
}): ThrottledLogins {
  const { store, now, flushMs, onError } = deps;
  let counts = new Map<string, Count>();
  let timer: ReturnType<typeof setTimeout> | undefined;
  let flushing: Promise<void> = Promise.resolve();

  const eventOf = async ({ user, source, count }: Count): Promise<AuditEvent> => {
    const known = user !== null && (await store.getUser(user)) !== undefined;
    return {
      time: now(),
      event: 'login.throttled',
      actor: null,
      subjects: known ? [user] : [],
      entry: null,
      source,
      details: known ? { count } : { count, unknownAccount: true },
    };
  };

  const flushNow = async (): Promise<void> => {
    if (timer !== undefined) clearTimeout(timer);
    timer = undefined;
    const taken = [...counts.values()];
    counts = new Map();
    if (taken.length === 0) return;
    const events: AuditEvent[] = [];
    for (const count of taken) events.push(await eventOf(count));
    await store.appendAudit(events);
  };

  // One flush at a time, in order: a close waits for a scheduled flush already running.
  const flush = (): Promise<void> => {
    const next = flushing.then(flushNow);
    flushing = next.catch(() => undefined);
    return next;
  };

  return {
    note(user, source) {
      // Past the table's bound, everything new goes to one count naming no account and no
      // single address, so a guesser with many addresses cannot grow it (or the log) further.
      let key = `${user}\0${source}`;
      let held = counts.get(key);
      if (held === undefined && counts.size >= maxThrottledPairs) {
        key = '\0';
        held = counts.get(key);
      }
      if (held !== undefined) held.count += 1;
      else if (key === '\0') counts.set(key, { user: null, source: overflowSource, count: 1 });
      else counts.set(key, { user, source, count: 1 });
      timer ??= setTimeout(() => {
        timer = undefined;
        flush().catch(onError);
      }, flushMs);
      timer.unref();
    },
    flush,
    close: flush,
  };
}

/**
 * The security monitor over the store, on both engines, driven with audit records directly (a
 * real OPAQUE loop of 10,000 guesses would take minutes; monitor-routes.test.ts logs in for real):
 * each rule fires once per subject and window for its attacker and stays quiet for ordinary use,
 * and a restarted monitor goes on counting where the last one stopped.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { newFileId } from '../../src/crypto/random.js';
import { defaultMonitor, defaultThrottle } from '../../src/directory/config.js';
import { createDirectoryMonitor } from '../../src/directory/monitor.js';
import { countLoginAttempt } from '../../src/directory/throttle.js';
import type { AuditEvent } from '../../src/interface/audit.js';
import type { DirectoryStore } from '../../src/interface/directory-store.js';
import type { FileId } from '../../src/interface/ids.js';
import { isFsError } from '../../src/interface/errors.js';
import { parseUserName, type UserName } from '../../src/interface/names.js';
import { storeEngines, storeHarness } from '../helpers/stores.js';

const start = 1_700_000_000_000;

let counter = 0;
function freshName(): UserName {
  counter += 1;
  return parseUserName(`m${counter}x${randomBytes(3).toString('hex')}`);
}

function failedLogin(user: UserName | null, time: number, source = '198.51.100.7'): AuditEvent {
  return {
    time,
    event: 'login.failed',
    actor: null,
    subjects: user === null ? [] : [user],
    entry: null,
    source,
    details: { reason: 'unfinished' },
  };
}

/** A `login.throttled` record: `count` attempts at `user` the throttle refused. */
function throttledLogin(user: UserName | null, time: number, count: number): AuditEvent {
  return {
    ...failedLogin(user, time),
    event: 'login.throttled',
    details: user === null ? { count, unknownAccount: true } : { count },
  };
}

/** Appends `events` in pages, as the directory would over time. */
async function appendAll(store: DirectoryStore, events: readonly AuditEvent[]): Promise<void> {
  for (let i = 0; i < events.length; i += 1000) {
    await store.appendAudit(events.slice(i, i + 1000));
  }
}

describe.each(storeEngines)('security monitor on %s', (engine) => {
  const harness = storeHarness(engine);
  afterAll(() => harness.cleanup());

  async function world() {
    const store = await harness.fresh().open();
    const monitor = createDirectoryMonitor({ store, policy: defaultMonitor, after: 0 });
    return { store, monitor };
  }

  it('raises ONE alert for 10,000 guesses at one account, and throttles the guesser', async () => {
    const { store, monitor } = await world();
    const alice = freshName();
    // The guesser's attempts as the login route counts them: nearly all are refused.
    let refused = 0;
    for (let i = 0; i < 10_000; i += 1) {
      try {
        await countLoginAttempt(store, defaultThrottle, alice, '198.51.100.7', start + i * 100);
      } catch (err) {
        if (!isFsError(err, 'throttled')) throw err;
        refused += 1;
      }
    }
    expect(refused).toBeGreaterThan(9_900);
    // The failures as recorded (here all 10,000, as if every one had been let through).
    await appendAll(
      store,
      Array.from({ length: 10_000 }, (_, i) => failedLogin(alice, start + i * 100)),
    );
    await monitor.scan();
    const alerts = await store.listAlerts(alice);
    expect(alerts).toHaveLength(1);
    expect(alerts[0]).toMatchObject({
      rule: 'password-guessing',
      audience: alice,
      admin: true,
      count: 10_000,
      ackedAt: null,
    });
    expect(alerts[0]?.action).toMatch(/password/);
    // The alert is in the audit log, once, about alice.
    const logged = (await store.listAudit(0, 20_000)).filter((r) => r.event === 'alert');
    expect(logged).toHaveLength(1);
    expect(logged[0]?.subjects).toEqual([alice]);
    // A scan with nothing new raises nothing more.
    await monitor.scan();
    expect(await store.listAlerts()).toHaveLength(1);
  }, 120_000);

  it('counts the guesses the throttle refused, as many as each record says', async () => {
    const { store, monitor } = await world();
    const alice = freshName();
    // The few failures let through, then the refusals in between, coalesced per record.
    await appendAll(store, [
      ...Array.from({ length: 6 }, (_, i) => failedLogin(alice, start + i * 1000)),
      throttledLogin(alice, start + 10_000, 4_000),
      throttledLogin(alice, start + 15_000, 5_990),
    ]);
    await monitor.scan();
    const [alert, ...rest] = await store.listAlerts(alice);
    expect(rest).toEqual([]);
    expect(alert).toMatchObject({ rule: 'password-guessing', audience: alice, count: 9_996 });
    // Later refusals count it up by theirs; a malformed count counts once, never more.
    await appendAll(store, [
      throttledLogin(alice, start + 20_000, 3),
      { ...throttledLogin(alice, start + 25_000, 0), details: { count: -5 } },
      { ...throttledLogin(alice, start + 26_000, 0), details: { count: 'many' } },
    ]);
    await monitor.scan();
    expect((await store.listAlerts(alice))[0]?.count).toBe(9_996 + 3 + 1 + 1);
  });

  it('counts each failure once when its window slides below the threshold and rises again', async () => {
    const { store, monitor } = await world();
    const alice = freshName();
    // 20 failures a minute apart: the alert, counting 20. An hour after the first, the window
    // holds 19 of them; one more reaches the threshold again while the alert is still open.
    const minute = 60_000;
    await appendAll(
      store,
      Array.from({ length: 20 }, (_, i) => failedLogin(alice, start + i * minute)),
    );
    await monitor.scan();
    expect((await store.listAlerts(alice))[0]?.count).toBe(20);
    await appendAll(store, [failedLogin(alice, start + 61 * minute)]);
    await monitor.scan();
    const [alert, ...rest] = await store.listAlerts(alice);
    expect(rest).toEqual([]);
    expect(alert?.count).toBe(21);
  });

  it('is quiet for a user throttled after a few typos, who tries again a few times', async () => {
    const { store, monitor } = await world();
    const bob = freshName();
    await appendAll(store, [
      ...Array.from({ length: 5 }, (_, i) => failedLogin(bob, start + i * 1000)),
      throttledLogin(bob, start + 6_000, 4),
      throttledLogin(bob, start + 12_000, 2),
    ]);
    await monitor.scan();
    expect(await store.listAlerts()).toEqual([]);
  });

  it('takes refusals at unknown names from one address as one account, not a stuffing attack', async () => {
    const { store, monitor } = await world();
    await appendAll(
      store,
      Array.from({ length: 30 }, (_, i) => ({
        ...throttledLogin(null, start + i * 5_000, 50),
        source: '203.0.113.77',
      })),
    );
    await monitor.scan();
    expect(await store.listAlerts()).toEqual([]);
  });

  it('raises one admin alert for one source trying many accounts', async () => {
    const { store, monitor } = await world();
    const victims = Array.from({ length: 12 }, () => freshName());
    await appendAll(
      store,
      victims.map((user, i) => failedLogin(user, start + i * 1000, '203.0.113.9')),
    );
    await monitor.scan();
    const alerts = await store.listAlerts();
    expect(alerts.map((a) => a.rule)).toEqual(['credential-stuffing']);
    expect(alerts[0]).toMatchObject({ audience: null, admin: true, count: 3 });
    // Nobody but admins reads it.
    expect(await store.listAlerts(victims[0])).toEqual([]);
  });

  it('is quiet for a few wrong passwords on a few accounts', async () => {
    const { store, monitor } = await world();
    const users = Array.from({ length: 3 }, () => freshName());
    await appendAll(
      store,
      users.flatMap((user, i) => [failedLogin(user, start + i), failedLogin(user, start + 10 + i)]),
    );
    await monitor.scan();
    expect(await store.listAlerts()).toEqual([]);
  });

  it('alerts the owner once for 20 refusals of one user on their entries', async () => {
    const { store, monitor } = await world();
    const alice = freshName();
    const bob = freshName();
    const refusal = (i: number, actor = bob): AuditEvent => ({
      time: start + i * 1000,
      event: 'access.refused',
      actor,
      subjects: [alice],
      entry: newFileId(),
      source: '127.0.0.1',
      details: { op: 'entry.get', kind: 'not-exist' },
    });
    await appendAll(
      store,
      Array.from({ length: 20 }, (_, i) => refusal(i)),
    );
    await monitor.scan();
    const alerts = await store.listAlerts(alice);
    expect(alerts).toHaveLength(1);
    expect(alerts[0]).toMatchObject({ rule: 'permission-probing', count: 20 });
    expect(alerts[0]?.summary).toContain(bob);
    expect(await store.listAlerts(bob)).toEqual([]);
    // Alice's own refusals (a stale id, say) are no probe.
    await appendAll(
      store,
      Array.from({ length: 20 }, (_, i) => refusal(100 + i, alice)),
    );
    await monitor.scan();
    expect(await store.listAlerts()).toHaveLength(1);
  });

  it('alerts a user whose sessions see repeated replays, and not for one or two', async () => {
    const { store, monitor } = await world();
    const alice = freshName();
    const bob = freshName();
    const refused = (user: UserName, i: number): AuditEvent => ({
      time: start + i * 1000,
      event: 'access.refused',
      actor: user,
      subjects: [user],
      entry: null,
      source: '127.0.0.1',
      details: { op: 'request.auth', kind: 'permission', reason: 'replay' },
    });
    await appendAll(store, [
      ...Array.from({ length: 8 }, (_, i) => refused(alice, i)),
      refused(bob, 1),
      refused(bob, 2),
    ]);
    await monitor.scan();
    const alerts = await store.listAlerts();
    expect(alerts).toHaveLength(1);
    expect(alerts[0]).toMatchObject({ rule: 'session-misuse', audience: alice, count: 8 });
  });

  it('protects the entries of a deletion burst until the alert is acknowledged', async () => {
    const { store, monitor } = await world();
    const alice = freshName();
    const ids = Array.from({ length: defaultMonitor.burstDeletions + 5 }, () => newFileId());
    await appendAll(
      store,
      ids.map((id, i) => ({
        time: start + i * 100,
        event: 'entry.deleted' as const,
        actor: alice,
        subjects: [alice],
        entry: id,
        source: '127.0.0.1',
        details: { version: 2 },
      })),
    );
    await monitor.scan();
    const [alert] = await store.listAlerts(alice);
    expect(alert).toMatchObject({ rule: 'deletion-burst', severity: 'critical' });
    expect(alert?.count).toBe(ids.length);
    for (const id of ids) expect(await store.protectingAlerts(id)).toEqual([alert?.id]);
    const acked = await store.ackAlert(alert?.id ?? 0, start + 60_000);
    expect(acked.ackedAt).toBe(start + 60_000);
    for (const id of ids) expect(await store.protectingAlerts(id)).toEqual([]);
    // Acknowledged alerts come after unread ones.
    await store.raiseAlert(
      {
        audience: alice,
        admin: false,
        rule: 'test',
        severity: 'warning',
        summary: 's',
        action: 'a',
        dedupeKey: 'other',
        time: start,
        count: 1,
      },
      1000,
      [],
      () => failedLogin(null, start),
    );
    expect((await store.listAlerts(alice)).map((a) => a.rule)).toEqual(['test', 'deletion-burst']);
  });

  /** `actor` wrote a new version of `owner`'s live file `entry` (an `entry.overwritten`). */
  const overwritten = (
    actor: UserName,
    owner: UserName,
    entry: FileId,
    time: number,
  ): AuditEvent => ({
    time,
    event: 'entry.overwritten',
    actor,
    subjects: [owner],
    entry,
    source: '127.0.0.1',
    details: { version: 2 },
  });

  it('alerts the owner once for one account overwriting 100 files, and protects them all', async () => {
    const { store, monitor } = await world();
    const alice = freshName();
    const mallory = freshName();
    const ids = Array.from({ length: defaultMonitor.burstOverwrites + 5 }, () => newFileId());
    const events = ids.map((id, i) => overwritten(mallory, alice, id, start + i * 100));
    // Ten more versions of the first file in the middle of it: each is counted, once a file.
    events.splice(
      50,
      0,
      ...Array.from({ length: 10 }, (_, i) =>
        overwritten(mallory, alice, ids[0]!, start + 5000 + i),
      ),
    );
    await appendAll(store, events);
    await monitor.scan();
    const alerts = await store.listAlerts();
    expect(alerts).toHaveLength(1);
    const [alert] = alerts;
    expect(alert).toMatchObject({
      rule: 'overwrite-burst',
      audience: alice,
      admin: true,
      severity: 'critical',
      count: events.length,
    });
    expect(alert?.summary).toContain(mallory);
    for (const id of ids) expect(await store.protectingAlerts(id)).toEqual([alert?.id]);
    await store.ackAlert(alert?.id ?? 0, start + 60_000);
    for (const id of ids) expect(await store.protectingAlerts(id)).toEqual([]);
  });

  it('is quiet for many versions of a few files, and for a slow stream of overwrites', async () => {
    const { store, monitor } = await world();
    const alice = freshName();
    const bob = freshName();
    const editing = newFileId();
    const others = Array.from({ length: defaultMonitor.burstOverwrites - 2 }, () => newFileId());
    await appendAll(store, [
      // An editor autosaving one file 150 times, among 98 other files: 99 files in all.
      ...Array.from({ length: 150 }, (_, i) => overwritten(alice, alice, editing, start + i)),
      ...others.map((id, i) => overwritten(alice, alice, id, start + 200 + i)),
      // Bob, a writer, overwrites 60 of alice's files: his count is his own.
      ...others.slice(0, 60).map((id, i) => overwritten(bob, alice, id, start + 400 + i)),
      // 150 files over 15 minutes: never 100 within 5.
      ...Array.from({ length: 150 }, (_, i) =>
        overwritten(bob, bob, newFileId(), start + 10_000 + i * 6000),
      ),
    ]);
    await monitor.scan();
    expect(await store.listAlerts()).toEqual([]);
  });

  it('keeps its windows over a restart: counts go on, nothing is raised or counted twice', async () => {
    const { store } = await world();
    const alice = freshName();
    const guesses = (from: number, n: number) =>
      Array.from({ length: n }, (_, i) => failedLogin(alice, start + (from + i) * 1000));
    const first = createDirectoryMonitor({ store, policy: defaultMonitor, after: 0 });
    await appendAll(store, guesses(0, 15));
    await first.scan();
    expect(await store.listAlerts()).toEqual([]);
    // The directory restarts: the new process replays the last hour and raises nothing for it.
    const second = createDirectoryMonitor({ store, policy: defaultMonitor });
    await second.scan();
    expect(await store.listAlerts()).toEqual([]);
    await appendAll(store, guesses(15, 5));
    await second.scan();
    const raised = await store.listAlerts(alice);
    expect(raised).toHaveLength(1);
    expect(raised[0]).toMatchObject({ rule: 'password-guessing', count: 20 });
    // Another restart, then one more guess: the same alert, counted up by one.
    const third = createDirectoryMonitor({ store, policy: defaultMonitor });
    await third.scan();
    expect((await store.listAlerts(alice))[0]?.count).toBe(20);
    await appendAll(store, guesses(20, 1));
    await third.scan();
    const after = await store.listAlerts(alice);
    expect(after).toHaveLength(1);
    expect(after[0]).toMatchObject({ id: raised[0]?.id, count: 21 });
    const logged = (await store.listAudit(0, 100)).filter((r) => r.event === 'alert');
    expect(logged).toHaveLength(1);
  });

  it('keeps an overwrite burst going over a restart, protecting the files after it too', async () => {
    const { store } = await world();
    const alice = freshName();
    const ids = Array.from({ length: defaultMonitor.burstOverwrites }, () => newFileId());
    const events = ids.map((id, i) => overwritten(alice, alice, id, start + i * 100));
    const first = createDirectoryMonitor({ store, policy: defaultMonitor, after: 0 });
    await appendAll(store, events.slice(0, 60));
    await first.scan();
    const second = createDirectoryMonitor({ store, policy: defaultMonitor });
    await second.scan();
    await appendAll(store, events.slice(60));
    await second.scan();
    const [alert, ...rest] = await store.listAlerts(alice);
    expect(rest).toEqual([]);
    expect(alert).toMatchObject({ rule: 'overwrite-burst', count: ids.length });
    for (const id of ids) expect(await store.protectingAlerts(id)).toEqual([alert?.id]);
  });

  it('is quiet for a few deletions and for purges', async () => {
    const { store, monitor } = await world();
    const alice = freshName();
    await appendAll(
      store,
      Array.from({ length: 200 }, (_, i): AuditEvent => ({
        time: start + i,
        event: 'entry.deleted',
        actor: alice,
        subjects: [alice],
        entry: newFileId(),
        source: '127.0.0.1',
        // Every fourth a deletion, the rest purges (the owner emptying the trash).
        details: i % 4 === 0 ? { version: 2 } : { version: 2, purged: true },
      })),
    );
    await monitor.scan();
    expect(await store.listAlerts()).toEqual([]);
  });
});

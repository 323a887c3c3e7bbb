/**
 * The monitor's "must hold" list (issue 9, docs/monitor.md), each rule triggered by a scripted
 * attacker against real processes: a `peervault directory` and two `peervault peer`s, the
 * users working through their peers' local APIs as the shell does.
 *
 * - 10,000 password guesses at one account from one address raise one alert, not 10,000, and
 *   get only a handful of answers; the owner still logs in from elsewhere at once.
 * - Ransomware on alice's device deleting 500 files within a minute raises one deletion-burst
 *   alert, the trash purge is refused while it is unread, and all 500 come back.
 * - One address trying a dozen accounts, another user probing 20 of alice's entries, 100
 *   overwrites within minutes, a stolen session used after alice ended it, and one captured
 *   request replayed six times each raise one alert for whoever must act, and nothing more.
 * - A directory whose database is edited to roll an entry back below the version alice's peer
 *   saw is caught by that peer: the read is refused and `alerts` lists a device alert; the
 *   folder still lists, the ledger marked as refused (`ls` warns), and `rmdir -r` stops.
 * - The same intruder swapping a version for one whose signature is broken is caught by every
 *   read: the bytes are refused, alice's device keeps an `entry-forged` alert, and the report
 *   it sends raises `entry-integrity` for alice at the directory.
 *
 * The peer-side rules (bad blocks, forks by gossip, key substitution) have their own files:
 * quarantine.test.ts, malicious-peer.test.ts and fork.test.ts.
 */
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as opaque from '@serenity-kit/opaque';
import Database from 'better-sqlite3';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiAlert, LocalApi } from '../../src/cli/local-api.js';
import { DirectoryClient } from '../../src/client/directory-client.js';
import { type CborMap, decodeCanonical, encodeCanonical } from '../../src/crypto/canonical.js';
import { type AlertsResponse, routes } from '../../src/wire/directory-api.js';
import { createPinnedAgent } from '../../src/wire/pinned-tls.js';
import { authHeader, signRequest } from '../../src/wire/request-auth.js';
import { goodPassword } from '../helpers/directory.js';
import { expectKindAsync } from '../helpers/expect-error.js';
import { type ProcessNetwork, startProcessNetwork } from '../helpers/process-network.js';

const bin = fileURLToPath(new URL('../../bin/peervault.js', import.meta.url));

/** Runs `work` over `items` with at most `limit` in flight. */
async function eachLimited<T>(
  items: readonly T[],
  limit: number,
  work: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < items.length) await work(items[next++]!);
    }),
  );
}

describe('scripted attackers against a network of real processes', () => {
  let net: ProcessNetwork;
  let alice: LocalApi;

  beforeAll(async () => {
    net = await startProcessNetwork({
      peers: 2,
      replicas: 2,
      // Both peers and the attacker come from loopback: the per-address request limit is
      // raised so that the rules under test, not the DoS guard, answer the attacker.
      directoryArgs: ['--rate-limit', '100000'],
      allowAlerts: [
        'password-guessing',
        'credential-stuffing',
        'permission-probing',
        'session-misuse',
        'deletion-burst',
        'overwrite-burst',
        'entry-integrity',
      ],
    });
    await net.register('alice', goodPassword('alice'));
    alice = new LocalApi({ url: net.peers[0]!.proc.ready.api, token: net.peers[0]!.token });
    await alice.login('alice', goodPassword('alice'));
  }, 60_000);
  afterAll(async () => net?.close());

  const directoryAlerts = async (rule: string): Promise<ApiAlert[]> =>
    (await alice.alerts()).alerts.filter((a) => a.origin === 'directory' && a.rule === rule);

  /** The directory's database, as an intruder (or an admin's script) reads it. */
  const directoryDb = () =>
    new Database(join(dirname(net.peers[0]!.data), 'directory', 'directory.db'));

  /** The alerts of `rule` as stored (admin-only ones included), read from the database. */
  const storedAlerts = (rule: string) => {
    const db = directoryDb();
    try {
      return db
        .prepare<[string], { audience: string | null; count: number; summary: string }>(
          'SELECT audience, count, summary FROM alerts WHERE rule = ?',
        )
        .all(rule);
    } finally {
      db.close();
    }
  };

  /** Polls until `read` gives a non-empty list (the monitor scans after requests and every 10 s). */
  async function eventually<T>(read: () => Promise<T[]> | T[]): Promise<T[]> {
    let got: T[] = [];
    for (let i = 0; i < 100 && got.length === 0; i++) {
      got = await read();
      if (got.length === 0) await new Promise((resolve) => setTimeout(resolve, 200));
    }
    return got;
  }

  it('10,000 guesses at one account: one alert, a throttled guesser, the owner not slowed', async () => {
    await opaque.ready;
    const attacker = await DirectoryClient.connect({
      ...net.directory.ready,
      localAddress: '127.0.0.9',
    });
    // One KE1 serves every guess: the directory cannot tell, and it counts the same.
    const request = opaque.client.startLogin({ password: 'hunter2' }).startLoginRequest;
    let answered = 0;
    let throttled = 0;
    let next = 0;
    const started = Date.now();
    try {
      await Promise.all(
        Array.from({ length: 16 }, async () => {
          while (next < 10_000) {
            next++;
            try {
              await attacker.call('POST', routes.loginStart, { user: 'alice', request });
              answered++;
            } catch (err) {
              if ((err as { kind?: string }).kind !== 'throttled') throw err;
              throttled++;
            }
          }
        }),
      );
    } finally {
      await attacker.close();
    }
    const seconds = (Date.now() - started) / 1000;
    expect(answered + throttled).toBe(10_000);
    // 5 free tries, then one per expired backoff (1 s, 2 s, 4 s, ...) while the attack ran.
    expect(answered).toBeLessThanOrEqual(5 + Math.ceil(Math.log2(seconds + 1)) + 1);

    // alice logs in through her other peer (another address) at once, and sees one alert.
    const began = Date.now();
    await net.peers[1]!.login('alice', goodPassword('alice'));
    expect(Date.now() - began).toBeLessThan(5_000);
    // The refused guesses reach the monitor coalesced (throttled-logins.ts), within seconds.
    let guessing: ApiAlert[] = [];
    for (let i = 0; i < 100 && (guessing[0]?.count ?? 0) < throttled; i++) {
      await new Promise((resolve) => setTimeout(resolve, 200));
      guessing = await directoryAlerts('password-guessing');
    }
    expect(guessing).toHaveLength(1);
    expect(guessing[0]!.count).toBe(throttled);
    expect(guessing[0]).toMatchObject({ audience: 'alice', severity: 'warning', ackedAt: null });
    expect(guessing[0]!.action).toMatch(/peervault passwd/);
  }, 180_000);

  it('one address trying a dozen accounts: one admin alert, and the address throttled', async () => {
    await opaque.ready;
    const victims = Array.from({ length: 12 }, (_, i) => `victim${i}`);
    for (const name of victims) await net.register(name, goodPassword(name));
    const stuffer = await DirectoryClient.connect({
      ...net.directory.ready,
      localAddress: '127.0.0.10',
    });
    const request = opaque.client.startLogin({ password: 'password1' }).startLoginRequest;
    let throttled = 0;
    try {
      for (let round = 0; round < 4; round++) {
        for (const user of victims) {
          try {
            await stuffer.call('POST', routes.loginStart, { user, request });
          } catch (err) {
            if ((err as { kind?: string }).kind !== 'throttled') throw err;
            throttled++;
          }
        }
      }
    } finally {
      await stuffer.close();
    }
    expect(throttled).toBeGreaterThan(0);
    // Admins only: no victim is told (each saw too few tries to be a target by itself).
    const stuffing = await eventually(() => storedAlerts('credential-stuffing'));
    expect(stuffing).toHaveLength(1);
    expect(stuffing[0]).toMatchObject({ audience: null });
    expect(stuffing[0]!.summary).toContain('127.0.0.10');
    expect(storedAlerts('password-guessing').filter((a) => a.audience !== 'alice')).toEqual([]);
  }, 60_000);

  it("another user probing 20 of alice's entries: alice is told who, the prober nothing", async () => {
    await net.register('mallory', goodPassword('mallory'));
    for (let i = 0; i < 20; i++) {
      await alice.writeFile(`/alice/private-${i}.txt`, Buffer.from(`secret ${i}`), 'create');
    }
    // mallory learned the ids (peers and gossip see them); she asks the directory for each.
    const db = directoryDb();
    const ids = db
      .prepare<[], { id: string }>(
        "SELECT id FROM entries WHERE owner = 'alice' AND kind = 'file' ORDER BY id LIMIT 20",
      )
      .all()
      .map((r) => r.id);
    db.close();
    const mallory = await DirectoryClient.connect(net.directory.ready);
    try {
      const session = await mallory.login('mallory', goodPassword('mallory'));
      for (const id of ids) {
        await expectKindAsync(
          'not-exist',
          mallory.call('GET', routes.entry.replace(':id', id), undefined, session),
        );
      }
      const probing = await eventually(() => directoryAlerts('permission-probing'));
      expect(probing).toHaveLength(1);
      expect(probing[0]).toMatchObject({ audience: 'alice', count: 20 });
      expect(probing[0]!.summary).toContain('mallory');
      const own = await mallory.call<AlertsResponse>('GET', routes.alerts, undefined, session);
      expect(own.alerts).toEqual([]);
    } finally {
      await mallory.close();
    }
  }, 60_000);

  it('500 deletions within a minute: one burst alert, purge refused, all 500 restorable', async () => {
    await alice.mkdir('/alice/work');
    const names = Array.from(
      { length: 500 },
      (_, i) => `/alice/work/f${String(i).padStart(3, '0')}`,
    );
    await eachLimited(names, 4, async (name) => {
      await alice.writeFile(name, Buffer.from(`contents of ${name}`), 'create');
    });

    const began = Date.now();
    await eachLimited(names, 4, (name) => alice.remove(name));
    expect(Date.now() - began).toBeLessThan(60_000);

    const bursts = await directoryAlerts('deletion-burst');
    expect(bursts).toHaveLength(1);
    expect(bursts[0]).toMatchObject({ audience: 'alice', severity: 'critical', ackedAt: null });
    expect(bursts[0]!.count).toBeGreaterThanOrEqual(100);
    expect(bursts[0]!.action).toMatch(/restore from the trash/);

    // Purging what the burst deleted is refused until alice acknowledges the alert.
    const kept = await expectKindAsync('conflict', alice.purge(names[0]!));
    expect(kept.message).toMatch(/acknowledge alert/);
    expect((await alice.trash()).filter((e) => e.path?.startsWith('/alice/work/'))).toHaveLength(
      500,
    );
    await eachLimited(names, 4, async (name) => {
      await alice.restore(name);
    });
    expect((await alice.list('/alice/work')).map((e) => e.name).sort()).toEqual(
      names.map((n) => n.slice('/alice/work/'.length)),
    );
    for (const name of [names[0]!, names[250]!, names[499]!])
      expect(await alice.readText(name)).toBe(`contents of ${name}`);
  }, 300_000);

  it('100 files overwritten within minutes: one burst alert, every earlier version kept', async () => {
    const names = Array.from(
      { length: 100 },
      (_, i) => `/alice/work/f${String(i).padStart(3, '0')}`,
    );
    // Ransomware encrypting in place: each file gets a new version of garbage.
    await eachLimited(names, 4, async (name) => {
      await alice.writeFile(name, Buffer.from(`encrypted ${name}`));
    });
    const bursts = await eventually(() => directoryAlerts('overwrite-burst'));
    expect(bursts).toHaveLength(1);
    expect(bursts[0]).toMatchObject({ audience: 'alice', severity: 'critical', ackedAt: null });
    expect(bursts[0]!.action).toMatch(/restore PATH --version N/);
    // Any file comes back as it was.
    const [first] = names;
    const versions = await alice.versions(first!);
    const before = versions.filter((v) => !v.deleted).at(-2)!;
    await alice.restore(first!, { version: before.version });
    expect(await alice.readText(first!)).toBe(`contents of ${first!}`);
  }, 120_000);

  it('a stolen session used after alice ended it: alice is told, the thief gets nothing', async () => {
    const thief = await DirectoryClient.connect({
      ...net.directory.ready,
      localAddress: '127.0.0.11',
    });
    try {
      const stolen = await thief.login('alice', goodPassword('alice'));
      // alice notices and ends every session of hers, then logs in again.
      await alice.logout({ everywhere: true });
      await alice.login('alice', goodPassword('alice'));
      for (let i = 0; i < 6; i++) {
        await expectKindAsync('revoked', thief.call('GET', routes.trash, undefined, stolen));
      }
      const misuse = await eventually(() => directoryAlerts('session-misuse'));
      expect(misuse).toHaveLength(1);
      expect(misuse[0]).toMatchObject({ audience: 'alice', severity: 'critical', count: 6 });
      expect(misuse[0]!.action).toMatch(/revocate/);
    } finally {
      await thief.close();
    }
  }, 60_000);

  it('one captured request replayed six times: refused each time, and dave is told', async () => {
    await net.register('dave', goodPassword('dave'));
    const daveClient = await DirectoryClient.connect(net.directory.ready);
    const agent = createPinnedAgent({ fingerprint: net.directory.ready.fingerprint });
    try {
      const session = await daveClient.login('dave', goodPassword('dave'));
      // A request of dave's as a compromised proxy or a debugging log would keep it.
      const header = signRequest(session.deviceKey, {
        session: session.id,
        method: 'GET',
        path: routes.trash,
        body: new Uint8Array(0),
        time: Date.now(),
      });
      const send = async () => {
        const res = await request(net.directory.ready.url + routes.trash, {
          headers: { [authHeader]: header },
          dispatcher: agent,
        });
        return { status: res.statusCode, body: (await res.body.json()) as { kind?: string } };
      };
      expect((await send()).status).toBe(200);
      for (let i = 0; i < 6; i++) {
        const replayed = await send();
        expect(replayed.status).toBe(403);
        expect(replayed.body.kind).toBe('permission');
      }
      const alerts = await eventually(
        async () =>
          (await daveClient.call<AlertsResponse>('GET', routes.alerts, undefined, session)).alerts,
      );
      expect(alerts).toHaveLength(1);
      expect(alerts[0]).toMatchObject({ rule: 'session-misuse', audience: 'dave', count: 6 });
      // dave's own session still works: a replay does not end it.
      await daveClient.call('GET', routes.trash, undefined, session);
    } finally {
      await agent.close();
      await daveClient.close();
    }
  }, 60_000);

  it('a rollback edited into the database is caught by the peer that saw the newer version', async () => {
    const path = '/alice/books/ledger.txt';
    await alice.mkdir('/alice/books');
    await alice.writeFile('/alice/books/notes.txt', Buffer.from('notes'), 'create');
    await alice.writeFile('/alice/books/old.txt', Buffer.from('old'), 'create');
    await alice.remove('/alice/books/old.txt');
    await alice.writeFile(path, Buffer.from('balance 1'), 'create');
    await alice.writeFile(path, Buffer.from('balance 2'));
    await alice.writeFile(path, Buffer.from('balance 3'));
    await alice.writeFile(path, Buffer.from('balance 4'));
    expect(await alice.readText(path)).toBe('balance 4');

    // An intruder with the directory's database puts version 3 back as the newest (the ledger
    // is the file written last).
    const db = directoryDb();
    let id: string;
    try {
      ({ id } = db
        .prepare<[], { id: string }>(
          "SELECT id FROM entries WHERE kind = 'file' ORDER BY updated_at DESC LIMIT 1",
        )
        .get()!);
      const v3 = db
        .prepare<[string], { envelope: Buffer; writer: string }>(
          'SELECT envelope, writer FROM entry_versions WHERE id = ? AND version = 3',
        )
        .get(id)!;
      db.prepare('UPDATE entries SET envelope = ?, version = 3, writer = ? WHERE id = ?').run(
        v3.envelope,
        v3.writer,
        id,
      );
      db.prepare('DELETE FROM entry_versions WHERE id = ? AND version = 4').run(id);
    } finally {
      db.close();
    }

    // alice's peer refuses the old bytes and tells her why; `alerts` lists it as this device's.
    const refused = await expectKindAsync('integrity', alice.readText(path));
    expect(refused.message).toMatch(/this device saw version 4/);
    const device = (await alice.alerts()).alerts.filter((a) => a.origin === 'device');
    expect(device).toHaveLength(1);
    expect(device[0]).toMatchObject({
      rule: 'entry-rollback',
      audience: 'alice',
      subject: id,
      ackedAt: null,
    });
    expect(device[0]!.evidence).toMatch(/directory 3, seen 4/);
    // The folder still lists: the ledger marked as refused, the rest as usual.
    const listed = await alice.list('/alice/books');
    expect(listed.map((e) => [e.name, e.writer, e.refused === undefined])).toEqual([
      ['ledger.txt', '?', false],
      ['notes.txt', 'alice', true],
    ]);
    expect(listed[0]!.refused).toMatch(/this device saw version 4/);
    // The trash still lists, with paths (they come from a walk of the live tree).
    expect((await alice.trash()).map((t) => t.path)).toContain('/alice/books/old.txt');
    // A recursive delete does not go ahead around it: nothing in the folder is removed.
    await expectKindAsync('integrity', alice.rmdir('/alice/books', true));
    expect(await alice.readText('/alice/books/notes.txt')).toBe('notes');

    // `peervault ls` lists both and warns about the ledger on stderr; --json says why.
    const ls = (...extra: string[]) =>
      spawnSync(
        process.execPath,
        [
          bin,
          'ls',
          '/alice/books',
          '--peer',
          net.peers[0]!.data,
          '--user',
          'alice',
          '--password-stdin',
          ...extra,
        ],
        { input: goodPassword('alice'), encoding: 'utf8', timeout: 60_000 },
      );
    const text = ls();
    expect(text.status).toBe(0);
    expect(text.stdout.split('\n').filter(Boolean)).toEqual(['ledger.txt', 'notes.txt']);
    expect(text.stderr).toMatch(
      /warning: ledger\.txt did not verify and cannot be opened: .*saw version 4/,
    );
    const json = ls('--json');
    expect(json.status).toBe(0);
    const entries = JSON.parse(json.stdout) as { name: string; refused?: string }[];
    expect(entries.map((e) => [e.name, e.refused !== undefined])).toEqual([
      ['ledger.txt', true],
      ['notes.txt', false],
    ]);
  }, 60_000);

  it('a version with a broken signature edited into the database is refused and reported', async () => {
    const path = '/alice/safe/contract.txt';
    await alice.mkdir('/alice/safe');
    await alice.writeFile(path, Buffer.from('pay 10'), 'create');
    await alice.writeFile(path, Buffer.from('pay 20'));
    expect(await alice.readText(path)).toBe('pay 20');

    // The intruder rewrites one signature byte of the current version, in both tables.
    const db = directoryDb();
    let id: string;
    try {
      const row = db
        .prepare<[], { id: string; envelope: Buffer; version: number }>(
          "SELECT id, envelope, version FROM entries WHERE kind = 'file' ORDER BY updated_at DESC LIMIT 1",
        )
        .get()!;
      id = row.id;
      const envelope = decodeCanonical(new Uint8Array(row.envelope), 'test') as CborMap;
      const sig = Uint8Array.from(envelope.sig as Uint8Array);
      sig[0]! ^= 0x01;
      const forged = Buffer.from(encodeCanonical({ ...envelope, sig }));
      expect(forged.equals(row.envelope)).toBe(false);
      db.prepare('UPDATE entries SET envelope = ? WHERE id = ?').run(forged, id);
      db.prepare('UPDATE entry_versions SET envelope = ? WHERE id = ? AND version = ?').run(
        forged,
        id,
        row.version,
      );
    } finally {
      db.close();
    }

    await expectKindAsync('integrity', alice.readText(path));
    const device = (await alice.alerts()).alerts.filter(
      (a) => a.origin === 'device' && a.subject === id,
    );
    expect(device).toHaveLength(1);
    expect(device[0]).toMatchObject({ rule: 'entry-forged', audience: 'alice', ackedAt: null });
    // The directory is told; alice's alert there names the entry and what was served.
    const reported = await eventually(async () =>
      (await directoryAlerts('entry-integrity')).filter((a) => a.summary.includes(id)),
    );
    expect(reported).toHaveLength(1);
    expect(reported[0]!.summary).toMatch(/a device of yours was served a forged version/);
    // A second read is refused the same way and raises nothing new.
    await expectKindAsync('integrity', alice.readText(path));
    expect(
      (await alice.alerts()).alerts.filter((a) => a.origin === 'device' && a.subject === id),
    ).toHaveLength(1);
  }, 60_000);
});

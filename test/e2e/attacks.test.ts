/**
 * The monitor's "must hold" list (issue 9, docs/monitor.md), each rule triggered by a scripted
 * attacker against real processes: a `peervault directory` and two `peervault peer`s, the
 * users working through their peers' local APIs as the shell does.
 *
 * - 10,000 password guesses at one account from one address raise one alert, not 10,000, and
 *   get only a handful of answers; the owner still logs in from elsewhere at once.
 * - Ransomware on alice's device deleting 500 files within a minute raises one deletion-burst
 *   alert, the trash purge is refused while it is unread, and all 500 come back.
 * - A directory whose database is edited to roll an entry back below the version alice's peer
 *   saw is caught by that peer: the read is refused and `alerts` lists a device alert; the
 *   folder still lists, the ledger marked as refused (`ls` warns), and `rmdir -r` stops.
 *
 * The peer-side rules (bad blocks, forks by gossip, key substitution) have their own files:
 * quarantine.test.ts, malicious-peer.test.ts and fork.test.ts.
 */
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as opaque from '@serenity-kit/opaque';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiAlert, LocalApi } from '../../src/cli/local-api.js';
import { DirectoryClient } from '../../src/client/directory-client.js';
import { routes } from '../../src/wire/directory-api.js';
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
      allowAlerts: ['password-guessing', 'deletion-burst', 'entry-integrity'],
    });
    await net.register('alice', goodPassword('alice'));
    alice = new LocalApi({ url: net.peers[0]!.proc.ready.api, token: net.peers[0]!.token });
    await alice.login('alice', goodPassword('alice'));
  }, 60_000);
  afterAll(async () => net?.close());

  const directoryAlerts = async (rule: string): Promise<ApiAlert[]> =>
    (await alice.alerts()).alerts.filter((a) => a.origin === 'directory' && a.rule === rule);

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

    // An intruder with the directory's database puts version 3 back as the newest. (The
    // restored files of the burst above are at version 3; only the ledger reached 4.)
    const db = new Database(join(dirname(net.peers[0]!.data), 'directory', 'directory.db'));
    let id: string;
    try {
      ({ id } = db
        .prepare<[], { id: string }>("SELECT id FROM entries WHERE version = 4 AND kind = 'file'")
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
});

/**
 * A forked directory, caught by gossip between peers (src/peer/head-gossip.ts), with real
 * processes: a directory and two peers, alice's agent on one and bob's on the other. The
 * directory's database is edited to roll alice's file back below the version her peer saw,
 * and bob (who never saw that version) writes another one under the same number: each device
 * alone sees a consistent history, but when the peers gossip, both learn the truth and raise
 * an `entry-fork` alert for their user (`alerts` lists it as this device's). The quiet half:
 * honest gossip, with both users reading and writing, raises nothing.
 *
 * Also the audit log's witnesses: a peer keeps every checkpoint the directory signs; when an
 * intruder cuts the log back in the database, the peer raises `audit-log-rewritten` for its
 * users and sends the checkpoint it kept to the directory, which checks its own signature
 * against what is left of its log and tells the admins.
 */
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiAlert, LocalApi } from '../../src/cli/local-api.js';
import { DirectoryClient } from '../../src/client/directory-client.js';
import { IdentityKeys } from '../../src/crypto/identity.js';
import { parseUserName } from '../../src/interface/names.js';
import { type AlertsResponse, routes } from '../../src/wire/directory-api.js';
import { chainHash, makeGenesis } from '../../src/wire/key-log.js';
import { goodPassword } from '../helpers/directory.js';
import { type ProcessNetwork, startProcessNetwork } from '../helpers/process-network.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('peers gossiping what they saw catch a forked directory', () => {
  let net: ProcessNetwork;
  let alice: LocalApi;
  let bob: LocalApi;

  beforeAll(async () => {
    net = await startProcessNetwork({
      peers: 2,
      replicas: 2,
      peerArgs: ['--gossip-interval', '200ms'],
      // The fork, reported to the directory's monitor by the peers that find it.
      // The key log swapped in the database below: the directory's self-check may see it.
      allowAlerts: ['entry-integrity', 'audit-log-broken'],
    });
    await net.register('alice', goodPassword('alice'));
    await net.register('bob', goodPassword('bob'));
    const api = (i: number) =>
      new LocalApi({ url: net.peers[i]!.proc.ready.api, token: net.peers[i]!.token });
    alice = api(0);
    bob = api(1);
    await alice.login('alice', goodPassword('alice'));
    await bob.login('bob', goodPassword('bob'));
  }, 60_000);
  afterAll(async () => net?.close());

  const deviceAlerts = async (api: LocalApi): Promise<ApiAlert[]> =>
    (await api.alerts()).alerts.filter((a) => a.origin === 'device');

  it('raises nothing while the directory is honest', async () => {
    await alice.writeFile('/alice/notes.txt', Buffer.from('n1'), 'create', [
      { user: 'bob', right: 'w' },
    ]);
    expect(await bob.readText('/alice/notes.txt')).toBe('n1');
    await bob.writeFile('/alice/notes.txt', Buffer.from('n2'));
    expect(await alice.readText('/alice/notes.txt')).toBe('n2');
    await sleep(1_000); // several gossip rounds
    expect(await deviceAlerts(alice)).toEqual([]);
    expect(await deviceAlerts(bob)).toEqual([]);
  });

  it('shows both users a fork when each was shown its own version 3', async () => {
    const path = '/alice/plan.txt';
    await alice.writeFile(path, Buffer.from('plan 1'), 'create', [{ user: 'bob', right: 'w' }]);
    await alice.writeFile(path, Buffer.from('plan 2'));
    expect(await bob.readText(path)).toBe('plan 2'); // bob's peer saw version 2
    await alice.writeFile(path, Buffer.from('plan 3 by alice')); // alice's saw version 3

    // The directory forgets alice's version 3, as an intruder with its database would.
    const db = new Database(join(dirname(net.peers[0]!.data), 'directory', 'directory.db'));
    try {
      const { id } = db
        .prepare<[string], { id: string }>('SELECT id FROM entries WHERE version = 3 AND kind = ?')
        .get('file')!;
      const v2 = db
        .prepare<[string], { envelope: Buffer; writer: string }>(
          'SELECT envelope, writer FROM entry_versions WHERE id = ? AND version = 2',
        )
        .get(id)!;
      db.prepare('UPDATE entries SET envelope = ?, version = 2, writer = ? WHERE id = ?').run(
        v2.envelope,
        v2.writer,
        id,
      );
      db.prepare('DELETE FROM entry_versions WHERE id = ? AND version = 3').run(id);
    } finally {
      db.close();
    }
    // bob, shown version 2, writes his own version 3; nothing is amiss from where he stands.
    await bob.writeFile(path, Buffer.from('plan 3 by bob'));
    expect(await bob.readText(path)).toBe('plan 3 by bob');

    // Gossip: both peers hold two validly signed versions 3 and tell their users.
    let aliceSaw: ApiAlert[] = [];
    let bobSaw: ApiAlert[] = [];
    for (let i = 0; i < 50 && (aliceSaw.length === 0 || bobSaw.length === 0); i++) {
      await sleep(200);
      aliceSaw = await deviceAlerts(alice);
      bobSaw = await deviceAlerts(bob);
    }
    for (const [saw, user] of [
      [aliceSaw, 'alice'],
      [bobSaw, 'bob'],
    ] as const) {
      expect(saw).toHaveLength(1);
      expect(saw[0]).toMatchObject({
        origin: 'device',
        rule: 'entry-fork',
        audience: user,
        severity: 'critical',
        ackedAt: null,
      });
      expect(saw[0]!.evidence).toMatch(/^version 3: this device [0-9a-f]{16}, peer /);
    }
    // The peers also told the directory, for their users: alice (the owner) sees it there too,
    // on any device, before she has read the file anywhere.
    let reported: ApiAlert[] = [];
    for (let i = 0; i < 50 && reported.length === 0; i++) {
      reported = (await alice.alerts()).alerts.filter(
        (a) => a.origin === 'directory' && a.rule === 'entry-integrity',
      );
      if (reported.length === 0) await sleep(200);
    }
    expect(reported).toHaveLength(1);
    expect(reported[0]).toMatchObject({ audience: 'alice', severity: 'critical' });
    // alice's own peer refuses the forked file outright.
    await expect(alice.readText(path)).rejects.toMatchObject({ kind: 'integrity' });
    // Acknowledged, it stays read: later gossip rounds do not raise it again.
    const acked = await alice.ackAlert(aliceSaw[0]!.id, 'device');
    expect(acked.ackedAt).not.toBeNull();
    await sleep(600);
    expect((await deviceAlerts(alice)).filter((a) => a.ackedAt === null)).toEqual([]);
  });

  it('catches a directory that shows a newcomer a substituted key for alice, when peers gossip', async () => {
    // alice's and bob's peers saw alice's real key log (bob read her files above).
    const carolPeer = await net.addPeer();
    await net.register('carol', goodPassword('carol'));
    const carol = new LocalApi({ url: carolPeer.proc.ready.api, token: carolPeer.token });
    await carol.login('carol', goodPassword('carol'));
    await carol.writeFile('/carol/hello.txt', Buffer.from('hi'), 'create');

    // The directory swaps alice's key log for one whose keys it holds.
    const db = new Database(join(dirname(net.peers[0]!.data), 'directory', 'directory.db'));
    const real = db
      .prepare<[string], { seq: number; envelope: Buffer; hash: Buffer }>(
        'SELECT seq, envelope, hash FROM key_log WHERE user_name = ? ORDER BY seq',
      )
      .all('alice');
    const user = parseUserName('alice');
    const fake = makeGenesis(user, IdentityKeys.generate(), Date.now());
    try {
      db.prepare('DELETE FROM key_log WHERE user_name = ?').run('alice');
      db.prepare('INSERT INTO key_log (user_name, seq, envelope, hash) VALUES (?, 0, ?, ?)').run(
        'alice',
        fake,
        chainHash(fake),
      );
      // carol, who never saw alice's keys, shares with "alice": her peer trusts the log it is
      // shown (first use) and wraps the file key to the directory's key. That is the attack.
      await carol.writeFile('/carol/for-alice.txt', Buffer.from('secret'), 'create', [
        { user: 'alice', right: 'r' },
      ]);

      const keyAlerts = async (api: LocalApi) =>
        (await deviceAlerts(api)).filter((a) => a.rule === 'key-log-fork');
      let carolSaw: ApiAlert[] = [];
      let bobSaw: ApiAlert[] = [];
      for (let i = 0; i < 50 && (carolSaw.length === 0 || bobSaw.length === 0); i++) {
        await sleep(200);
        carolSaw = await keyAlerts(carol);
        bobSaw = await keyAlerts(bob);
      }
      for (const saw of [carolSaw, bobSaw]) {
        expect(saw).toHaveLength(1);
        expect(saw[0]).toMatchObject({ subject: 'key-log:alice', severity: 'critical' });
        expect(saw[0]!.action).toMatch(/compare it with/);
        expect(saw[0]!.evidence).toMatch(/^event 0: this device [0-9a-f]{16} \(key /);
      }
    } finally {
      db.prepare('DELETE FROM key_log WHERE user_name = ?').run('alice');
      for (const row of real) {
        db.prepare('INSERT INTO key_log (user_name, seq, envelope, hash) VALUES (?, ?, ?, ?)').run(
          'alice',
          row.seq,
          row.envelope,
          row.hash,
        );
      }
      db.close();
    }
  });
});

describe("a peer's witnesses catch an audit log cut back in the directory's database", () => {
  let net: ProcessNetwork;

  beforeAll(async () => {
    net = await startProcessNetwork({
      peers: 1,
      replicas: 1,
      // A checkpoint every 5 records (or 300 ms), fetched by the peer every 200 ms.
      directoryArgs: ['--checkpoint', '5,300ms'],
      peerArgs: ['--gossip-interval', '200ms'],
      allowAlerts: ['audit-log-rewritten', 'audit-log-broken'],
    });
  }, 60_000);
  afterAll(async () => net?.close());

  it('raises the device alert, and the directory confirms it to the admins', async () => {
    const peer = net.peers[0]!;
    const directoryData = join(dirname(peer.data), 'directory');
    await net.register('alice', goodPassword('alice'));
    await net.register('bob', goodPassword('bob'));
    const bin = fileURLToPath(new URL('../../bin/peervault.js', import.meta.url));
    const admin = spawnSync(
      process.execPath,
      [bin, 'directory', 'admin', 'add', 'bob', '--data', directoryData],
      { encoding: 'utf8', timeout: 30_000 },
    );
    expect(admin.status, admin.stderr).toBe(0);
    const alice = new LocalApi({ url: peer.proc.ready.api, token: peer.token });
    await alice.login('alice', goodPassword('alice'));
    await alice.writeFile('/alice/diary.txt', Buffer.from('day 1'), 'create');
    await alice.writeFile('/alice/diary.txt', Buffer.from('day 2'));

    // The peer keeps the checkpoints it is shown.
    const witnessed = () => {
      const db = new Database(join(peer.data, 'seen.sqlite'), { readonly: true });
      try {
        return db
          .prepare<[], { seq: number | null }>('SELECT max(seq) AS seq FROM audit_checkpoint')
          .get()!.seq;
      } finally {
        db.close();
      }
    };
    let kept: number | null = null;
    for (let i = 0; i < 50 && (kept ?? 0) < 5; i++) {
      kept = witnessed();
      if ((kept ?? 0) < 5) await sleep(100);
    }
    expect(kept).toBeGreaterThanOrEqual(5);
    expect((await alice.alerts()).alerts).toEqual([]);

    // The intruder removes the log's last records and the checkpoints that signed them.
    const cut = kept! - 3;
    const db = new Database(join(directoryData, 'directory.db'));
    try {
      db.prepare('DELETE FROM audit_log WHERE seq > ?').run(cut);
      db.prepare('DELETE FROM audit_checkpoints WHERE seq > ?').run(cut);
    } finally {
      db.close();
    }

    let device: ApiAlert[] = [];
    for (let i = 0; i < 50 && device.length === 0; i++) {
      device = (await alice.alerts()).alerts.filter(
        (a) => a.origin === 'device' && a.rule === 'audit-log-rewritten',
      );
      if (device.length === 0) await sleep(100);
    }
    expect(device).toHaveLength(1);
    expect(device[0]!.evidence).toMatch(new RegExp(`this device holds record ${kept!}`));

    // The admin reads the directory's own confirmation: it checked its signature, not the peer.
    const client = await DirectoryClient.connect(net.directory.ready);
    try {
      const bobSession = await client.login('bob', goodPassword('bob'));
      let confirmed: AlertsResponse['alerts'] = [];
      for (let i = 0; i < 50 && confirmed.length === 0; i++) {
        confirmed = (
          await client.call<AlertsResponse>('GET', routes.alerts, undefined, bobSession)
        ).alerts.filter((a) => a.rule === 'audit-log-rewritten');
        if (confirmed.length === 0) await sleep(100);
      }
      expect(confirmed).toHaveLength(1);
      expect(confirmed[0]).toMatchObject({ audience: null, severity: 'critical' });
      expect(confirmed[0]!.summary).toContain(`peer ${peer.proc.ready.fingerprint}`);
      expect(confirmed[0]!.summary).toMatch(new RegExp(`record ${kept!}`));
    } finally {
      await client.close();
    }
  }, 90_000);
});

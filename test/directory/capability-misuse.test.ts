/**
 * `POST /v1/peers/capability-misuse` on both engines (docs/monitor.md `capability-misuse`):
 * only registered peers may report; a report raises one warning for the user and admins that
 * names the reporting peer, and is recorded in the audit log; a flood of reports (from one
 * peer or many, real or made up) stays one alert, counted up, and at most
 * `maxRecordedMisuseReports` records.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DirectoryClient, DirectorySession } from '../../src/client/directory-client.js';
import { fingerprint } from '../../src/crypto/identity.js';
import { SigningKeyPair } from '../../src/crypto/keys.js';
import { maxRecordedMisuseReports } from '../../src/directory/routes/sessions.js';
import { toBase64url } from '../../src/wire/base64.js';
import {
  type AlertsResponse,
  type CapabilityMisuseResponse,
  peerRecordHeader,
  routes,
} from '../../src/wire/directory-api.js';
import { signPeerRecord } from '../../src/wire/peer-record.js';
import {
  engines,
  goodPassword,
  startTestDirectory,
  type TestDirectory,
} from '../helpers/directory.js';
import { expectKindAsync } from '../helpers/expect-error.js';

describe.each(engines)('capability misuse reports on %s', (engine) => {
  let dir: TestDirectory;
  let client: DirectoryClient;
  let admin: DirectorySession;
  let port = 7700;

  /** A fresh user, registered and logged in. */
  async function user(): Promise<DirectorySession> {
    const name = `u${randomBytes(4).toString('hex')}`;
    await client.register(name, goodPassword(name));
    return client.login(name, goodPassword(name));
  }

  /** A registered peer (anyone can register one: a heartbeat with a self-signed record). */
  async function addPeer(): Promise<SigningKeyPair> {
    const peer = SigningKeyPair.generate();
    const record = signPeerRecord(peer, {
      address: `127.0.0.1:${port++}`,
      capacity: 1 << 20,
      time: Date.now(),
    });
    await client.call('POST', routes.heartbeat, { record: toBase64url(record) });
    return peer;
  }

  /** The credential of the peers' routes: a fresh record signed by `peer`. */
  const asPeer = (peer: SigningKeyPair, time = Date.now()) => ({
    headers: {
      [peerRecordHeader]: toBase64url(
        signPeerRecord(peer, { address: '127.0.0.1:1', capacity: 1, time }),
      ),
    },
  });

  const report = (peer: SigningKeyPair, about: string, reason = 'foreign') =>
    client.call<CapabilityMisuseResponse>(
      'POST',
      routes.capabilityMisuse,
      { user: about, reason },
      undefined,
      asPeer(peer),
    );

  const misuseAlerts = async (session: DirectorySession) =>
    (await client.call<AlertsResponse>('GET', routes.alerts, undefined, session)).alerts.filter(
      (a) => a.rule === 'capability-misuse',
    );

  const misuseRecords = async (about: string) =>
    (await dir.running.store.listAudit(0, 10_000)).filter(
      (r) => r.event === 'capability.misused' && r.subjects.includes(about),
    );

  beforeAll(async () => {
    dir = await startTestDirectory(engine, {}, { allowAlerts: ['capability-misuse'] });
    client = await dir.client();
    admin = await user();
    await dir.running.store.setRole(admin.user, 'admin');
  }, 60_000);
  afterAll(async () => dir?.stop());

  it('alerts the user and admins, names the peer, and records the report', async () => {
    const alice = await user();
    const peer = await addPeer();
    const { alert } = await report(peer, alice.user, 'stale');
    const [seen, ...rest] = await misuseAlerts(alice);
    expect(rest).toEqual([]);
    expect(seen).toMatchObject({
      id: alert,
      audience: alice.user,
      admin: true,
      severity: 'warning',
      count: 1,
      ackedAt: null,
    });
    expect(seen?.summary).toContain(fingerprint(peer.publicKey));
    expect(seen?.action).toMatch(/devices/);
    expect(seen?.action).toMatch(/revocate/);
    // The admins read it too.
    expect((await misuseAlerts(admin)).map((a) => a.id)).toContain(alert);
    const [record, ...more] = await misuseRecords(alice.user);
    expect(more).toEqual([]);
    expect(record).toMatchObject({ actor: null, subjects: [alice.user], entry: null });
    expect(JSON.parse(record!.details)).toEqual({
      reason: 'stale',
      peer: toBase64url(peer.publicKey),
      alert,
    });
  });

  it('counts 50 reports from five peers up into one alert', async () => {
    const bob = await user();
    const peers = [await addPeer(), await addPeer(), await addPeer(), await addPeer()];
    peers.push(await addPeer());
    const ids = new Set<number>();
    for (let i = 0; i < 50; i++) {
      ids.add(
        (await report(peers[i % peers.length]!, bob.user, i % 2 ? 'stale' : 'foreign')).alert,
      );
    }
    expect(ids.size).toBe(1);
    const [alert, ...rest] = await misuseAlerts(bob);
    expect(rest).toEqual([]);
    expect(alert?.count).toBe(50);
    // The summary names the first reporter; the audit log names every one.
    expect(alert?.summary).toContain(fingerprint(peers[0]!.publicKey));
    const reporters = new Set(
      (await misuseRecords(bob.user)).map((r) => (JSON.parse(r.details) as { peer: string }).peer),
    );
    expect(reporters).toEqual(new Set(peers.map((p) => toBase64url(p.publicKey))));
    // One `alert` record for the one alert.
    const alertRecords = (await dir.running.store.listAudit(0, 10_000)).filter(
      (r) => r.event === 'alert' && r.subjects.includes(bob.user),
    );
    expect(alertRecords).toHaveLength(1);
  });

  it(`records at most ${maxRecordedMisuseReports} reports of one alert (made-up reports cannot fill the log)`, async () => {
    const carol = await user();
    const peer = await addPeer();
    const total = maxRecordedMisuseReports + 10;
    for (let i = 0; i < total; i++) await report(peer, carol.user);
    expect((await misuseAlerts(carol))[0]?.count).toBe(total);
    expect(await misuseRecords(carol.user)).toHaveLength(maxRecordedMisuseReports);
  });

  it('refuses reports from anything but a registered peer, and about nobody', async () => {
    const dave = await user();
    const body = { user: dave.user, reason: 'foreign' };
    // No peer record: a user's session is not a peer.
    await expectKindAsync('permission', client.call('POST', routes.capabilityMisuse, body));
    await expectKindAsync('permission', client.call('POST', routes.capabilityMisuse, body, dave));
    // A validly signed record of a key that never registered.
    await expectKindAsync(
      'permission',
      client.call(
        'POST',
        routes.capabilityMisuse,
        body,
        undefined,
        asPeer(SigningKeyPair.generate()),
      ),
    );
    // A registered peer's old record (replayed).
    const peer = await addPeer();
    await expectKindAsync(
      'permission',
      client.call(
        'POST',
        routes.capabilityMisuse,
        body,
        undefined,
        asPeer(peer, Date.now() - 60 * 60 * 1000),
      ),
    );
    // A garbage record.
    await expectKindAsync(
      'permission',
      client.call('POST', routes.capabilityMisuse, body, undefined, {
        headers: { [peerRecordHeader]: 'AAAA' },
      }),
    );
    await expectKindAsync('not-exist', report(peer, 'nobody'));
    await expectKindAsync('invalid', report(peer, dave.user, 'bored'));
    expect(await misuseAlerts(dave)).toEqual([]);
    expect(await misuseRecords(dave.user)).toEqual([]);
  });
});

/**
 * Peer health on both engines: `POST /v1/reports` strikes (one per peer, reporter and block),
 * the quarantine rule (K distinct blocks from at least two distinct reporters), a quarantined
 * peer left out of the signed live list, the `integrity.reported` and `alert` audit records, and
 * `GET /v1/peers/health`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DirectoryClient, DirectorySession } from '../../src/client/directory-client.js';
import { directoryCommand } from '../../src/cli/commands/directory.js';
import { fingerprint } from '../../src/crypto/identity.js';
import { SigningKeyPair } from '../../src/crypto/keys.js';
import { newFileId, randomBytesOf } from '../../src/crypto/random.js';
import { blockIdFromBytes, type BlockId, type FileId } from '../../src/interface/ids.js';
import { toBase64url } from '../../src/wire/base64.js';
import { type DirEntryBody, signDirEntry } from '../../src/wire/dir-entry.js';
import { type AuditResponse, routes } from '../../src/wire/directory-api.js';
import { signEntryAcl } from '../../src/wire/entry-acl.js';
import { openPeerList, signPeerRecord } from '../../src/wire/peer-record.js';
import {
  engines,
  goodPassword,
  startTestDirectory,
  type TestDirectory,
} from '../helpers/directory.js';
import { expectKindAsync } from '../helpers/expect-error.js';

const newBlock = (): BlockId => blockIdFromBytes(randomBytesOf(32));

describe.each(engines)('peer reports and quarantine on %s', (engine) => {
  let dir: TestDirectory;
  let client: DirectoryClient;
  let alice: DirectorySession;
  let bob: DirectorySession;
  let admin: DirectorySession;
  let port = 7600;

  const addPeer = async (): Promise<SigningKeyPair> => {
    const peer = SigningKeyPair.generate();
    const record = signPeerRecord(peer, {
      address: `127.0.0.1:${port++}`,
      capacity: 1 << 20,
      time: Date.now(),
    });
    await client.call('POST', routes.heartbeat, { record: toBase64url(record) });
    return peer;
  };

  const report = (
    session: DirectorySession,
    peer: SigningKeyPair,
    block = newBlock(),
    file = newFileId(),
  ) => client.reportPeer(session, { peer: peer.publicKey, reason: 'integrity', block, file });

  /** A fresh user, registered and logged in. */
  async function user(): Promise<DirectorySession> {
    const name = `u${Buffer.from(randomBytesOf(4)).toString('hex')}`;
    await client.register(name, goodPassword(name));
    return client.login(name, goodPassword(name));
  }

  /** Creates `owner`'s entry `id` under `parent` (a root folder when null), readable by `readers`. */
  async function create(
    owner: DirectorySession,
    parent: FileId | null,
    readers: DirectorySession[],
  ): Promise<FileId> {
    const id = newFileId();
    const acl = { r: readers.map((r) => r.user), w: [] };
    const body: DirEntryBody = {
      id,
      parent,
      owner: owner.user,
      version: 1,
      kind: parent === null ? 'dir' : 'file',
      tag: parent === null ? new Uint8Array(32) : Uint8Array.from(Buffer.from(id.padEnd(32, 'x'))),
      name: new Uint8Array(0),
      label: new Uint8Array(0),
      meta: new Uint8Array(0),
      keys: Object.fromEntries([owner.user, ...acl.r].map((u) => [u, Uint8Array.of(1)])),
      acl,
      aclCert: signEntryAcl(owner.identity.signing, {
        entry: id,
        owner: owner.user,
        version: 1,
        ...acl,
      }),
      deleted: null,
      prev: new Uint8Array(32),
      time: Date.now(),
    };
    const envelope = signDirEntry(owner.identity.signing, body);
    await client.call('POST', routes.entries, { envelope: toBase64url(envelope) }, owner);
    return id;
  }

  const listed = async (peer: SigningKeyPair): Promise<boolean> => {
    const { peers } = await client.peers();
    return peers.some((p) => toBase64url(p.key) === toBase64url(peer.publicKey));
  };

  const healthOf = async (peer: SigningKeyPair) =>
    (await client.peerHealth()).peers.find((p) => p.key === toBase64url(peer.publicKey));

  beforeAll(async () => {
    // Peers are quarantined on purpose: each quarantine tells the reporters and admins.
    dir = await startTestDirectory(
      engine,
      { quarantineBlocks: 3, quarantineReporters: 2 },
      { allowAlerts: ['peer-quarantined'] },
    );
    client = await dir.client();
    for (const user of ['alice', 'bob', 'carol']) {
      await client.register(user, goodPassword(user));
    }
    alice = await client.login('alice', goodPassword('alice'));
    bob = await client.login('bob', goodPassword('bob'));
    admin = await client.login('carol', goodPassword('carol'));
    await dir.running.store.setRole(admin.user, 'admin');
  }, 60_000);
  afterAll(async () => dir?.stop());

  it('counts one strike per reporter and block, however often it is reported', async () => {
    const peer = await addPeer();
    const block = newBlock();
    expect(await report(alice, peer, block)).toEqual({ counted: true, quarantined: false });
    for (let i = 0; i < 5; i++) {
      expect(await report(alice, peer, block)).toEqual({ counted: false, quarantined: false });
    }
    expect(await healthOf(peer)).toMatchObject({
      strikes: 1,
      blocks: 1,
      reporters: 1,
      quarantinedAt: null,
    });
    // Another reporter of the same block is another strike, but still one block.
    expect(await report(bob, peer, block)).toEqual({ counted: true, quarantined: false });
    expect(await healthOf(peer)).toMatchObject({ strikes: 2, blocks: 1, reporters: 2 });
    expect(await listed(peer)).toBe(true);
  });

  it('does not let one user quarantine an honest peer alone, however many blocks it names', async () => {
    const honest = await addPeer();
    for (let i = 0; i < 10; i++) {
      expect((await report(alice, honest)).quarantined).toBe(false);
    }
    expect(await healthOf(honest)).toMatchObject({ blocks: 10, reporters: 1, quarantinedAt: null });
    expect(await listed(honest)).toBe(true);
  });

  it('quarantines after K distinct blocks from two reporters: left out of the signed list, alerted', async () => {
    const bad = await addPeer();
    const other = await addPeer();
    expect((await report(alice, bad)).quarantined).toBe(false);
    expect((await report(alice, bad)).quarantined).toBe(false);
    expect(await listed(bad)).toBe(true);
    expect(await report(bob, bad)).toEqual({ counted: true, quarantined: true });

    // The signed list (checked against the directory's key) leaves it out; others stay.
    const { list } = await client.call<{ list: string }>('GET', routes.peers);
    const opened = openPeerList(
      Buffer.from(list, 'base64url'),
      Buffer.from(client.info.identityKey, 'base64url'),
    );
    const keys = opened.peers.map((p) => toBase64url(p.key));
    expect(keys).not.toContain(toBase64url(bad.publicKey));
    expect(keys).toContain(toBase64url(other.publicKey));
    // Heartbeats do not bring it back.
    await client.call('POST', routes.heartbeat, {
      record: toBase64url(
        signPeerRecord(bad, { address: '127.0.0.1:7599', capacity: 1, time: Date.now() + 1 }),
      ),
    });
    expect(await listed(bad)).toBe(false);
    expect(await healthOf(bad)).toMatchObject({ strikes: 3, blocks: 3, reporters: 2 });
    expect((await healthOf(bad))?.quarantinedAt).toEqual(expect.any(Number));
    // Later reports still count, and say it is quarantined.
    expect(await report(alice, bad)).toEqual({ counted: true, quarantined: true });

    // The admin reads the reports and one alert; the reporters read the alert too.
    const all = await client.call<AuditResponse>(
      'GET',
      `${routes.audit}?limit=1000`,
      undefined,
      admin,
    );
    const about = all.records.filter((r) => r.details['peer'] === toBase64url(bad.publicKey));
    expect(about.filter((r) => r.event === 'integrity.reported')).toHaveLength(4);
    // One alert for the admins and one for each reporter, each also an `alert` record.
    const alerts = (await dir.running.store.listAlerts()).filter(
      (a) => a.rule === 'peer-quarantined',
    );
    expect(alerts.map((a) => a.audience).sort()).toEqual([alice.user, bob.user, null].sort());
    expect(alerts.find((a) => a.audience === null)).toMatchObject({
      admin: true,
      severity: 'critical',
    });
    const recorded = all.records.filter(
      (r) => r.event === 'alert' && r.details['rule'] === 'peer-quarantined',
    );
    expect(recorded).toHaveLength(3);
    // A later report raises no further alert.
    expect(
      (await dir.running.store.listAlerts()).filter((a) => a.rule === 'peer-quarantined'),
    ).toHaveLength(3);
  });

  it('tells the owner of the files whose blocks were bad, and no one whose file a reporter named but may not read', async () => {
    const dave = await user();
    const eve = await user();
    const shared = await create(dave, await create(dave, null, []), [alice, bob]);
    const private_ = await create(eve, await create(eve, null, []), []);
    const bad = await addPeer();
    await report(alice, bad, newBlock(), shared);
    await report(alice, bad, newBlock(), private_);
    expect(await report(bob, bad, newBlock(), shared)).toMatchObject({ quarantined: true });

    const alerts = (await dir.running.store.listAlerts()).filter(
      (a) => a.rule === 'peer-quarantined' && a.summary.includes(fingerprint(bad.publicKey)),
    );
    expect(alerts.map((a) => a.audience).sort()).toEqual(
      [alice.user, bob.user, dave.user, null].sort(),
    );
    // dave read nothing himself: his alert says what to do about his blocks.
    expect(alerts.find((a) => a.audience === dave.user)!.action).toMatch(
      /blocks of your files on it failed verification.*peervault repair/,
    );
    expect(alerts.find((a) => a.audience === alice.user)!.action).toMatch(/nothing was read/);
  });

  it('is released by the operator: listed again, strikes forgotten, recorded', async () => {
    const peer = await addPeer();
    await report(alice, peer);
    await report(alice, peer);
    expect((await report(bob, peer)).quarantined).toBe(true);
    expect(await listed(peer)).toBe(false);
    const printed: string[] = [];
    if (engine === 'sqlite') {
      // `peervault directory peers release FINGERPRINT`, next to the running directory.
      const io = { out: (text: string) => printed.push(text), err: () => undefined };
      const code = await directoryCommand.run(
        ['peers', 'release', fingerprint(peer.publicKey), '--data', dir.dataDir],
        io,
      );
      expect(code).toBe(0);
      expect(printed.join('\n')).toContain('is released');
    } else {
      expect(await dir.running.store.releasePeer(toBase64url(peer.publicKey))).toBe(true);
    }
    expect(await listed(peer)).toBe(true);
    expect(await healthOf(peer)).toBeUndefined();
    // One more report is one strike, not a quarantine again.
    expect(await report(alice, peer)).toEqual({ counted: true, quarantined: false });
    expect(await dir.running.store.releasePeer(toBase64url(peer.publicKey))).toBe(false);
  });

  it('refuses reports without a session, about unknown peers, or malformed', async () => {
    const peer = await addPeer();
    await expectKindAsync(
      'permission',
      client.call('POST', routes.reports, {
        peer: toBase64url(peer.publicKey),
        reason: 'integrity',
        block: newBlock(),
        file: newFileId(),
      }),
    );
    await expectKindAsync('not-exist', report(alice, SigningKeyPair.generate()));
    await expectKindAsync(
      'invalid',
      client.call(
        'POST',
        routes.reports,
        {
          peer: toBase64url(peer.publicKey),
          reason: 'bored',
          block: newBlock(),
          file: newFileId(),
        },
        alice,
      ),
    );
  });
});

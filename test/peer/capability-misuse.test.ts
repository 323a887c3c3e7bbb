/**
 * Replayed capabilities from the attacker's side (issue 9, docs/monitor.md `capability-misuse`):
 * a registered peer sends a peer a capability its user validly signed but addressed to another
 * peer, or one that expired an hour ago. The peer refuses it and tells the directory, which
 * alerts the user. What must NOT be reported: an honest agent's capability that expired seconds
 * ago (a slow transfer), and a junk capability naming the user but not signed by their key
 * (anyone can write a name).
 *
 * Two levels: the block server alone (buildBlockServer, `onCapabilityMisuse` observed exactly),
 * and a real peer (startPeer) with a real directory over HTTPS.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { DirectoryClient, DirectorySession } from '../../src/client/directory-client.js';
import { SigningKeyPair } from '../../src/crypto/keys.js';
import { FsError } from '../../src/interface/errors.js';
import { type BlockId, blockIdFromBytes, fileIdFromBytes } from '../../src/interface/ids.js';
import { parseUserName, type UserName } from '../../src/interface/names.js';
import { type BlockClient, createBlockClient } from '../../src/peer/block-client.js';
import { buildBlockServer } from '../../src/peer/block-routes.js';
import { createMemoryBlockStore } from '../../src/peer/blockstore/memory-store.js';
import { type RunningPeer, startPeer } from '../../src/peer/service.js';
import { toBase64url } from '../../src/wire/base64.js';
import {
  blockOps,
  type CapabilityMisuse,
  issueCapability,
  maxCapabilityLifetimeMs,
  staleCapabilityMarginMs,
} from '../../src/wire/capability.js';
import { routes } from '../../src/wire/directory-api.js';
import { signPeerRecord } from '../../src/wire/peer-record.js';
import { createSelfSignedCertificate, type TlsIdentity } from '../../src/wire/tls-certificate.js';
import { goodPassword, startTestDirectory, type TestDirectory } from '../helpers/directory.js';
import { expectKindAsync } from '../helpers/expect-error.js';

const tlsOf = (key: SigningKeyPair): TlsIdentity =>
  createSelfSignedCertificate(key, { commonName: 'peervault peer' });
const randomBlock = (): BlockId => blockIdFromBytes(randomBytes(32));
const file = fileIdFromBytes(randomBytes(16));
const hour = 60 * 60 * 1000;

/** A capability from `issuer` (signed by `signer`) for `block` at `audience`, issued at `now`. */
function capabilityOf(
  signer: SigningKeyPair,
  issuer: UserName,
  audience: Uint8Array,
  block: BlockId,
  now = Date.now(),
): Uint8Array {
  return issueCapability(signer, {
    issuer,
    file,
    ops: blockOps,
    blocks: [block],
    audience,
    now,
  });
}

describe('the block server tells onCapabilityMisuse of replays, and only of them', () => {
  const serverKey = SigningKeyPair.generate();
  const otherPeer = SigningKeyPair.generate().publicKey;
  const clientKey = SigningKeyPair.generate();
  const alice = parseUserName('alice');
  const aliceKey = SigningKeyPair.generate();
  const mallory = SigningKeyPair.generate();
  const misuses: [UserName, CapabilityMisuse][] = [];
  const badSigners: UserName[] = [];
  let app: FastifyInstance;
  let client: BlockClient;
  let address: { address: string; key: Uint8Array };

  beforeAll(async () => {
    app = buildBlockServer({
      identity: tlsOf(serverKey),
      store: createMemoryBlockStore({ capacity: 1 << 20 }),
      self: serverKey.publicKey,
      issuerKey: (user) =>
        user === alice
          ? Promise.resolve(aliceKey.publicKey)
          : Promise.reject(new FsError('not-exist', 'no such user', { op: 'keys' })),
      peerAllowed: (key) => Promise.resolve(Buffer.from(key).equals(clientKey.publicKey)),
      onBadSigner: (issuer) => badSigners.push(issuer),
      onCapabilityMisuse: (issuer, misuse) => misuses.push([issuer, misuse]),
      onRefusal: () => undefined,
      now: () => Date.now(),
    });
    await app.listen({ host: '127.0.0.1', port: 0 });
    address = {
      address: `127.0.0.1:${(app.server.address() as AddressInfo).port}`,
      key: serverKey.publicKey,
    };
    client = createBlockClient({ identity: tlsOf(clientKey) });
  });
  afterAll(async () => {
    await client?.close();
    await app?.close();
  });
  beforeEach(() => {
    misuses.length = 0;
    badSigners.length = 0;
  });

  const get = (cap: Uint8Array, block: BlockId) =>
    expectKindAsync('permission', client.get(address, block, cap));

  it('reports a validly signed capability for another peer as foreign', async () => {
    const block = randomBlock();
    await get(capabilityOf(aliceKey, alice, otherPeer, block), block);
    expect(misuses).toEqual([[alice, 'foreign']]);
  });

  it('reports one that expired an hour ago as stale', async () => {
    const block = randomBlock();
    await get(capabilityOf(aliceKey, alice, serverKey.publicKey, block, Date.now() - hour), block);
    expect(misuses).toEqual([[alice, 'stale']]);
  });

  it('does not report an honest capability that expired seconds, or minutes within the margin, ago', async () => {
    const lifetime = 5 * 60 * 1000; // issueCapability's default
    for (const late of [5_000, staleCapabilityMarginMs - 60_000]) {
      const block = randomBlock();
      const issued = Date.now() - lifetime - late;
      await get(capabilityOf(aliceKey, alice, serverKey.publicKey, block, issued), block);
    }
    expect(misuses).toEqual([]);
  });

  it('does not report a junk capability naming alice but not signed by her key, even for another peer or long expired', async () => {
    const block = randomBlock();
    await get(capabilityOf(mallory, alice, otherPeer, block), block);
    await get(capabilityOf(mallory, alice, serverKey.publicKey, block, Date.now() - hour), block);
    expect(misuses).toEqual([]);
    // It goes the revoked-key way instead (which reports only keys alice revoked).
    expect(badSigners).toEqual([alice, alice]);
  });

  it('does not report capabilities of unknown users, nor for another block or operation', async () => {
    const block = randomBlock();
    await get(capabilityOf(mallory, parseUserName('carol'), otherPeer, block), block);
    await get(capabilityOf(aliceKey, alice, serverKey.publicKey, randomBlock()), block);
    const hasOnly = issueCapability(aliceKey, {
      issuer: alice,
      file,
      ops: ['has'],
      blocks: [block],
      audience: serverKey.publicKey,
      now: Date.now(),
    });
    await get(hasOnly, block);
    expect(misuses).toEqual([]);
    expect(maxCapabilityLifetimeMs).toBeLessThanOrEqual(staleCapabilityMarginMs);
  });
});

describe('a real peer tells a real directory, which alerts the user', () => {
  let dir: TestDirectory;
  let directory: DirectoryClient;
  let peer: RunningPeer;
  let dataDir: string;
  const events: Record<string, unknown>[] = [];
  const attackerKey = SigningKeyPair.generate();
  let attacker: BlockClient;

  /** A fresh user, registered and logged in. */
  async function user(): Promise<DirectorySession> {
    const name = `u${randomBytes(4).toString('hex')}`;
    await directory.register(name, goodPassword(name));
    return directory.login(name, goodPassword(name));
  }

  /** The user's unacknowledged capability-misuse alerts, waiting up to `ms` for one. */
  async function misuseAlerts(name: string, ms = 5_000) {
    const until = Date.now() + ms;
    for (;;) {
      const found = (await dir.running.store.listAlerts(parseUserName(name))).filter(
        (a) => a.rule === 'capability-misuse',
      );
      if (found.length > 0 || Date.now() > until) return found;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  beforeAll(async () => {
    dir = await startTestDirectory('sqlite', {}, { allowAlerts: ['capability-misuse'] });
    directory = await dir.client();
    dataDir = mkdtempSync(join(tmpdir(), 'pv-misuse-'));
    // The attacker is a registered, live peer (anyone can register one).
    await directory.call('POST', routes.heartbeat, {
      record: toBase64url(
        signPeerRecord(attackerKey, { address: '127.0.0.1:1', capacity: 1, time: Date.now() }),
      ),
    });
    peer = await startPeer({
      dataDir,
      directory: dir.endpoint,
      listen: '127.0.0.1:0',
      api: '127.0.0.1:0',
      log: (event) => events.push(event),
    });
    attacker = createBlockClient({ identity: tlsOf(attackerKey) });
  }, 60_000);
  afterAll(async () => {
    await attacker?.close();
    await peer?.close();
    await dir?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  const target = () => ({ address: peer.listen, key: peer.key });
  const send = (cap: Uint8Array, block: BlockId) =>
    expectKindAsync('permission', attacker.get(target(), block, cap));

  it('alerts the user when a capability of theirs for another peer is replayed to it', async () => {
    const victim = await user();
    const block = randomBlock();
    const elsewhere = SigningKeyPair.generate().publicKey;
    await send(capabilityOf(victim.identity.signing, victim.user, elsewhere, block), block);
    const [alert, ...rest] = await misuseAlerts(victim.user);
    expect(rest).toEqual([]);
    expect(alert).toMatchObject({
      audience: victim.user,
      admin: true,
      severity: 'warning',
      count: 1,
    });
    // It names the reporting peer, and says what to do.
    expect(alert?.summary).toContain(peer.fingerprint);
    expect(alert?.action).toContain('devices');
    expect(alert?.action).toContain('revocate');
    expect(events).toContainEqual(
      expect.objectContaining({
        event: 'capability.misused',
        user: victim.user,
        reason: 'foreign',
      }),
    );
    // The directory recorded the report, naming the peer.
    const records = await dir.running.store.listAudit(0, 1000, victim.user);
    expect(records.filter((r) => r.event === 'capability.misused')).toHaveLength(1);
    expect(
      JSON.parse(records.find((r) => r.event === 'capability.misused')!.details),
    ).toMatchObject({ reason: 'foreign', peer: toBase64url(peer.key) });
  });

  it('alerts the user when a capability of theirs that expired an hour ago is replayed', async () => {
    const victim = await user();
    const block = randomBlock();
    const old = Date.now() - hour;
    await send(capabilityOf(victim.identity.signing, victim.user, peer.key, block, old), block);
    const [alert] = await misuseAlerts(victim.user);
    expect(alert).toMatchObject({ rule: 'capability-misuse', count: 1 });
    expect(events).toContainEqual(
      expect.objectContaining({ event: 'capability.misused', user: victim.user, reason: 'stale' }),
    );
  });

  it('reports a flood once a minute per user, so one alert with a small count', async () => {
    const victim = await user();
    const elsewhere = SigningKeyPair.generate().publicKey;
    for (let i = 0; i < 20; i++) {
      const block = randomBlock();
      await send(capabilityOf(victim.identity.signing, victim.user, elsewhere, block), block);
    }
    const [alert, ...rest] = await misuseAlerts(victim.user);
    expect(rest).toEqual([]);
    expect(alert?.count).toBe(1);
    expect(
      events.filter((e) => e['event'] === 'capability.misused' && e['user'] === victim.user),
    ).toHaveLength(1);
  });

  it('reports neither a just-expired capability nor a junk one naming the user', async () => {
    const honest = await user();
    const lifetime = 5 * 60 * 1000;
    const late = randomBlock();
    await send(
      capabilityOf(
        honest.identity.signing,
        honest.user,
        peer.key,
        late,
        Date.now() - lifetime - 5_000,
      ),
      late,
    );
    const junk = randomBlock();
    const mallory = SigningKeyPair.generate();
    await send(capabilityOf(mallory, honest.user, SigningKeyPair.generate().publicKey, junk), junk);
    await send(capabilityOf(mallory, honest.user, peer.key, junk, Date.now() - hour), junk);
    // A report, had there been one, is sent before this control's (same peer, in order).
    const control = await user();
    const block = randomBlock();
    const elsewhere = SigningKeyPair.generate().publicKey;
    await send(capabilityOf(control.identity.signing, control.user, elsewhere, block), block);
    expect(await misuseAlerts(control.user)).toHaveLength(1);
    expect(await misuseAlerts(honest.user, 0)).toEqual([]);
    expect(
      events.filter((e) => e['user'] === honest.user && e['event'] === 'capability.misused'),
    ).toEqual([]);
    // The refusals themselves were logged as always.
    expect(events.filter((e) => e['event'] === 'block.refused').length).toBeGreaterThan(0);
  });
});

/**
 * The gossip routes from the attacker's side (src/peer/head-gossip.ts), over real mutual TLS
 * with entries signed by real users at a real directory: only registered peers may call;
 * heads of entries this peer never saw are ignored (nothing is stored); a "fork" whose evidence
 * does not verify raises nothing; a genuine second version under a number this peer kept
 * raises one `entry-fork` alert for the user who saw it, and the evidence goes both ways.
 */
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeFile } from '../../src/client/files.js';
import { resolve } from '../../src/client/namespace.js';
import { openSeenVersions, type SeenVersions } from '../../src/client/seen-versions.js';
import { IdentityKeys } from '../../src/crypto/identity.js';
import { SigningKeyPair } from '../../src/crypto/keys.js';
import { newFileId } from '../../src/crypto/random.js';
import { parseFileId } from '../../src/interface/ids.js';
import { parseUserName } from '../../src/interface/names.js';
import { parsePath } from '../../src/interface/paths.js';
import {
  type BlockClient,
  createBlockClient,
  type PeerAddress,
} from '../../src/peer/block-client.js';
import { buildBlockServer } from '../../src/peer/block-routes.js';
import { createMemoryBlockStore } from '../../src/peer/blockstore/memory-store.js';
import { gossipRoutes, registerGossipRoutes, startHeadGossip } from '../../src/peer/head-gossip.js';
import { signAuditCheckpoint } from '../../src/wire/audit-log.js';
import { toBase64url } from '../../src/wire/base64.js';
import { decodeDirEntryUnverified, signDirEntry } from '../../src/wire/dir-entry.js';
import { chainHash, makeGenesis } from '../../src/wire/key-log.js';
import { createSelfSignedCertificate } from '../../src/wire/tls-certificate.js';
import { type Agents, bytesOf, startAgents } from '../helpers/agents.js';
import { expectKindAsync } from '../helpers/expect-error.js';

const tlsOf = (key: SigningKeyPair) => createSelfSignedCertificate(key, { commonName: 'peer' });

describe('gossip routes', () => {
  let agents: Agents<'alice'>;
  let app: FastifyInstance;
  let seen: SeenVersions;
  let server: PeerAddress;
  let friend: BlockClient;
  let stranger: BlockClient;
  let envelope: Uint8Array;
  const events: Record<string, unknown>[] = [];
  const rewriteReports: Uint8Array[][] = [];
  const bob = parseUserName('bob');
  /** Stands for the directory's identity key, which signs its audit checkpoints. */
  const directoryKey = SigningKeyPair.generate();

  beforeAll(async () => {
    agents = await startAgents(['alice'], { peers: 1, replicas: 1 });
    const { alice } = agents.ctx;
    const path = parsePath('/alice/g.txt', alice.session.user);
    await writeFile(alice, path, bytesOf('gossip'), { mode: 'create' });
    envelope = (await resolve(alice, path)).envelope;

    const serverKey = SigningKeyPair.generate();
    const friendKey = SigningKeyPair.generate();
    seen = openSeenVersions(':memory:');
    // bob's device (this peer) saw version 1 of alice's file.
    const body = decodeDirEntryUnverified(envelope);
    seen.record([
      { entry: body.id, version: 1, hash: chainHash(envelope), envelope, user: bob, at: 1 },
    ]);
    const peerAllowed = (key: Uint8Array) =>
      Promise.resolve(Buffer.from(key).equals(Buffer.from(friendKey.publicKey)));
    app = buildBlockServer({
      identity: tlsOf(serverKey),
      store: createMemoryBlockStore({ capacity: 1024 * 1024 }),
      self: serverKey.publicKey,
      issuerKey: () => Promise.reject(new Error('unused')),
      peerAllowed,
      onRefusal: () => undefined,
      now: () => Date.now(),
    });
    registerGossipRoutes(app, {
      seen,
      directory: agents.client,
      directoryKey: directoryKey.publicKey,
      self: serverKey.publicKey,
      peerAllowed,
      log: (event) => events.push(event),
      reportRewrite: (checkpoints) => rewriteReports.push([...checkpoints]),
    });
    await app.listen({ host: '127.0.0.1', port: 0 });
    server = {
      address: `127.0.0.1:${(app.server.address() as AddressInfo).port}`,
      key: serverKey.publicKey,
    };
    friend = createBlockClient({ identity: tlsOf(friendKey) });
    stranger = createBlockClient({ identity: tlsOf(SigningKeyPair.generate()) });
  });
  afterAll(async () => {
    await friend.close();
    await stranger.close();
    await app.close();
    seen.close();
    await agents.close();
  });

  const heads = (entry: string, version: number, hash: Uint8Array) => ({
    v: 1,
    heads: [{ entry, version, hash: toBase64url(hash) }],
  });

  it('answers only live registered peers', async () => {
    const body = decodeDirEntryUnverified(envelope);
    await expectKindAsync(
      'permission',
      stranger.exchange(server, gossipRoutes.heads, heads(body.id, 1, new Uint8Array(32)), 4096),
    );
    await expectKindAsync(
      'permission',
      stranger.exchange(
        server,
        gossipRoutes.compare,
        { v: 1, envelope: toBase64url(envelope) },
        4096,
      ),
    );
  });

  it('ignores versions it never saw, and stores nothing of them', async () => {
    const unknown = parseFileId('A'.repeat(22));
    const answer = await friend.exchange(
      server,
      gossipRoutes.heads,
      heads(unknown, 7, new Uint8Array(32).fill(1)),
      4096,
    );
    expect(answer).toEqual({ differ: [], keysDiffer: [] });
    expect(seen.latest(unknown)).toBeUndefined();
    const body = decodeDirEntryUnverified(envelope);
    // The same version: nothing differs.
    expect(
      await friend.exchange(
        server,
        gossipRoutes.heads,
        heads(body.id, 1, chainHash(envelope)),
        4096,
      ),
    ).toEqual({ differ: [], keysDiffer: [] });
    // A newer version claimed by a peer is not news either (and plants nothing).
    expect(
      await friend.exchange(
        server,
        gossipRoutes.heads,
        heads(body.id, 5, new Uint8Array(32)),
        4096,
      ),
    ).toEqual({ differ: [], keysDiffer: [] });
    expect(seen.latest(body.id)!.version).toBe(1);
    await expectKindAsync(
      'invalid',
      friend.exchange(server, gossipRoutes.heads, { v: 2, heads: [] }, 4096),
    );
  });

  it('raises nothing for a claimed fork whose evidence does not verify', async () => {
    const body = decodeDirEntryUnverified(envelope);
    const stranger = SigningKeyPair.generate();
    const forged = signDirEntry(stranger, { ...body, time: body.time + 1 });
    expect(
      await friend.exchange(server, gossipRoutes.heads, heads(body.id, 1, chainHash(forged)), 4096),
    ).toEqual({ differ: [{ entry: body.id, version: 1 }], keysDiffer: [] });
    const answer = await friend.exchange(
      server,
      gossipRoutes.compare,
      { v: 1, envelope: toBase64url(forged) },
      1 << 20,
    );
    expect(answer).toEqual({ envelope: null });
    expect(seen.alerts(bob)).toEqual([]);
    expect(events.some((e) => e.event === 'gossip.bad-evidence')).toBe(true);
  });

  it('raises one entry-fork alert for a second validly signed version, and shows its own', async () => {
    const body = decodeDirEntryUnverified(envelope);
    // What a directory that showed another reader another version 1 would have had signed.
    const other = signDirEntry(agents.ctx.alice.session.identity.signing, {
      ...body,
      time: body.time + 1,
    });
    for (let i = 0; i < 2; i++) {
      const answer = (await friend.exchange(
        server,
        gossipRoutes.compare,
        { v: 1, envelope: toBase64url(other) },
        1 << 20,
      )) as { envelope: string };
      expect(answer.envelope).toBe(toBase64url(envelope));
    }
    const alerts = seen.alerts(bob);
    expect(alerts).toHaveLength(1);
    expect(alerts[0]).toMatchObject({ rule: 'entry-fork', subject: body.id, count: 2 });
    expect(alerts[0]!.evidence).toMatch(/^version 1: this device [0-9a-f]{16}, peer /);
  });

  it('flags a key-log pin it cannot square with its own, and proves a substituted log', async () => {
    const alice = parseUserName('alice');
    const pin = agents.client.keyPins.get(alice)!;
    const claim = (head: Uint8Array, seq = pin.seq) => ({
      v: 1,
      heads: [],
      keys: [{ user: 'alice', seq, head: toBase64url(head) }],
    });
    expect(await friend.exchange(server, gossipRoutes.heads, claim(pin.head), 4096)).toEqual({
      differ: [],
      keysDiffer: [],
    });
    expect(
      await friend.exchange(server, gossipRoutes.heads, claim(new Uint8Array(32).fill(7)), 4096),
    ).toEqual({ differ: [], keysDiffer: ['alice'] });

    // The real log, shown back: nothing to say.
    const { envelopes } = await agents.client.keyLogWithEvents(alice);
    const show = (entries: Uint8Array[]) =>
      friend.exchange(
        server,
        gossipRoutes.keyLog,
        { v: 1, user: 'alice', entries: entries.map(toBase64url) },
        1 << 20,
      );
    expect(await show(envelopes)).toEqual({ entries: null });
    expect(seen.alerts(bob).filter((a) => a.rule === 'key-log-fork')).toEqual([]);

    // A log that does not verify (an event cut short) says nothing either.
    expect(await show([envelopes[0]!.subarray(0, 40)])).toEqual({ entries: null });
    expect(seen.alerts(bob).filter((a) => a.rule === 'key-log-fork')).toEqual([]);

    // Another self-signed log for alice: this device's users hear of it, and get ours back.
    const substituted = [makeGenesis(alice, IdentityKeys.generate(), Date.now())];
    expect(await show(substituted)).toEqual({ entries: envelopes.map(toBase64url) });
    const raised = seen.alerts(bob).filter((a) => a.rule === 'key-log-fork');
    expect(raised).toHaveLength(1);
    expect(raised[0]).toMatchObject({ subject: 'key-log:alice', severity: 'critical' });
    expect(raised[0]!.evidence).toMatch(/^event 0: this device [0-9a-f]{16} \(key /);
  });

  it('keeps the audit checkpoints peers show, and catches a directory that signed two heads for one record', async () => {
    const checkpoint = (hash: number, key = directoryKey) =>
      toBase64url(
        signAuditCheckpoint(key, { seq: 40, hash: new Uint8Array(32).fill(hash), time: 1 }),
      );
    const send = (envelope: string) =>
      friend.exchange(server, gossipRoutes.heads, { v: 1, heads: [], checkpoint: envelope }, 4096);
    const rewritten = () => seen.alerts(bob).filter((a) => a.rule === 'audit-log-rewritten');
    await send(checkpoint(1));
    expect(seen.latestWitnessed()).toMatchObject({ seq: 40 });
    await send(checkpoint(1)); // the same again: nothing
    await send(checkpoint(2, SigningKeyPair.generate())); // not the directory's: ignored
    expect(rewritten()).toEqual([]);
    expect(seen.witnessed(0, 10)).toHaveLength(1);
    expect(rewriteReports).toEqual([]);
    await send(checkpoint(2));
    expect(rewritten()).toHaveLength(1);
    expect(rewritten()[0]!.evidence).toMatch(
      /^record 40: this device holds 0101010101010101, peer /,
    );
    // Both signed heads go to the directory, which can check its own signatures.
    expect(rewriteReports.map((r) => r.map(toBase64url))).toEqual([[checkpoint(1), checkpoint(2)]]);
  });
});

describe('checkpoints from the directory', () => {
  let agents: Agents<'alice'>;
  const directoryKey = SigningKeyPair.generate();
  const bob = parseUserName('bob');

  beforeAll(async () => {
    agents = await startAgents(['alice'], { peers: 1, replicas: 1 });
  });
  afterAll(async () => agents.close());

  it('catches a directory whose newest checkpoint goes back, or vanishes, and reports what it kept', async () => {
    const seen = openSeenVersions(':memory:');
    // bob has used this device (he saw a version), so he hears of it.
    const envelope = new Uint8Array(8);
    seen.record([
      {
        entry: newFileId(),
        version: 1,
        hash: new Uint8Array(32),
        envelope,
        user: bob,
        at: 1,
      },
    ]);
    const signed = (seq: number) =>
      signAuditCheckpoint(directoryKey, { seq, hash: new Uint8Array(32).fill(seq), time: seq });
    let served: Uint8Array | null = null;
    const reports: Uint8Array[][] = [];
    const gossip = startHeadGossip({
      seen,
      directory: agents.client,
      directoryKey: directoryKey.publicKey,
      self: SigningKeyPair.generate().publicKey,
      peerAllowed: () => Promise.resolve(false),
      log: () => undefined,
      reportRewrite: (checkpoints) => reports.push([...checkpoints]),
      client: createBlockClient({ identity: tlsOf(SigningKeyPair.generate()) }),
      peers: () => Promise.resolve([]),
      intervalMs: 3_600_000,
      fetchCheckpoint: () => Promise.resolve(served),
    });
    const rewritten = () => seen.alerts(bob).filter((a) => a.rule === 'audit-log-rewritten');
    try {
      await gossip.round(); // none yet: nothing to say
      for (const seq of [10, 12, 12]) {
        served = signed(seq);
        await gossip.round();
      }
      expect(seen.latestWitnessed()).toMatchObject({ seq: 12 });
      expect(rewritten()).toEqual([]);
      expect(reports).toEqual([]);

      served = signed(5); // cut back below what this device kept
      await gossip.round();
      expect(rewritten()).toHaveLength(1);
      expect(rewritten()[0]!.evidence).toBe(
        'newest checkpoint: this device holds record 12, the directory now 5',
      );
      const texts = () => reports.map((r) => r.map(toBase64url));
      expect(texts()).toEqual([[toBase64url(signed(12))]]);

      served = null; // cut back to before any checkpoint
      await gossip.round();
      expect(rewritten()).toHaveLength(1);
      expect(rewritten()[0]!.count).toBe(2);
      expect(texts().at(-1)).toEqual([toBase64url(signed(12))]);
    } finally {
      gossip.stop();
      seen.close();
    }
  });
});

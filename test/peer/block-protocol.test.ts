/**
 * The peer-to-peer block protocol from the attacker's side, over real mutual-TLS 1.3 HTTPS on
 * 127.0.0.1: a genuine peer (buildBlockServer over a memory store) and genuine clients
 * (createBlockClient), plus impostors of every kind — a client with no capability or a bad one,
 * a client that is not a registered peer or has no certificate, a server that serves wrong
 * bytes or is not the pinned key, an uploader of bytes that are not the block — and a wiretap
 * that must never see plaintext.
 */
import { randomBytes } from 'node:crypto';
import { type AddressInfo, connect as netConnect, createServer as createNetServer } from 'node:net';
import { Readable } from 'node:stream';
import Fastify, { type FastifyInstance } from 'fastify';
import { request } from 'undici';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { blockIdOf } from '../../src/crypto/block-id.js';
import { toHex, utf8 } from '../../src/crypto/bytes.js';
import { joinSealedChunk, sealChunk } from '../../src/crypto/chunk.js';
import { SigningKeyPair } from '../../src/crypto/keys.js';
import { SecretBytes } from '../../src/crypto/secret.js';
import { type BlockStore, maxBlockBytes } from '../../src/interface/block-store.js';
import type { ErrorKind } from '../../src/interface/errors.js';
import { type BlockId, blockIdFromBytes, fileIdFromBytes } from '../../src/interface/ids.js';
import { parseUserName, type UserName } from '../../src/interface/names.js';
import { FsError } from '../../src/interface/errors.js';
import {
  type BlockClient,
  challengeProof,
  createBlockClient,
  type PeerAddress,
} from '../../src/peer/block-client.js';
import { type BlockRefusal, buildBlockServer } from '../../src/peer/block-routes.js';
import { createMemoryBlockStore } from '../../src/peer/blockstore/memory-store.js';
import { toBase64url } from '../../src/wire/base64.js';
import {
  type BlockOp,
  blockOps,
  capabilityHeader,
  issueCapability,
} from '../../src/wire/capability.js';
import { createPinnedAgent, tlsServerOptions } from '../../src/wire/pinned-tls.js';
import { createSelfSignedCertificate, type TlsIdentity } from '../../src/wire/tls-certificate.js';
import { corruptForTesting } from '../helpers/block-stores.js';
import { expectKindAsync, flipByte } from '../helpers/expect-error.js';

// ---------------------------------------------------------------------------------------------
// The cast: peers (TLS identities) and users (capability issuers).
// ---------------------------------------------------------------------------------------------

const peerIdentity = (key: SigningKeyPair): TlsIdentity =>
  createSelfSignedCertificate(key, { commonName: 'peervault peer' });

const serverKey = SigningKeyPair.generate();
const serverTls = peerIdentity(serverKey);
const clientKey = SigningKeyPair.generate(); // a registered live peer
const clientTls = peerIdentity(clientKey);
const strangerKey = SigningKeyPair.generate(); // a valid certificate, but not a registered peer
const strangerTls = peerIdentity(strangerKey);

const alice = parseUserName('alice');
const aliceKey = SigningKeyPair.generate(); // alice's current key in her key log
const malloryKey = SigningKeyPair.generate(); // not alice's key, whatever he signs
const carol = parseUserName('carol'); // unknown to the directory
const carolKey = SigningKeyPair.generate();
const userKeys = new Map<UserName, Uint8Array>([[alice, aliceKey.publicKey]]);

const fileId = fileIdFromBytes(randomBytes(16));
const fileKey = new SecretBytes(new Uint8Array(randomBytes(32)));

interface SealedBlock {
  id: BlockId;
  parts: readonly Uint8Array[];
  bytes: Uint8Array;
}

let nextIndex = 0;
/** A sealed chunk of `plaintext`, as a block. */
function sealedBlock(plaintext: Uint8Array = randomBytes(4096)): SealedBlock {
  const chunk = sealChunk(
    fileKey,
    { fileId, version: 1, index: nextIndex++, final: false },
    plaintext,
  );
  return { id: blockIdOf(chunk.parts), parts: chunk.parts, bytes: joinSealedChunk(chunk) };
}

interface Grant {
  ops?: readonly BlockOp[];
  blocks?: readonly BlockId[];
  audience?: Uint8Array;
  now?: number;
  issuer?: UserName;
  signer?: SigningKeyPair;
}

/** A capability from alice for the server peer, unless the grant says otherwise. */
function capability(grant: Grant = {}): Uint8Array {
  return issueCapability(grant.signer ?? aliceKey, {
    issuer: grant.issuer ?? alice,
    file: fileId,
    ops: grant.ops ?? blockOps,
    blocks: grant.blocks ?? [],
    audience: grant.audience ?? serverKey.publicKey,
    now: grant.now ?? Date.now(),
  });
}

const randomBlockId = (): BlockId => blockIdFromBytes(randomBytes(32));

// ---------------------------------------------------------------------------------------------
// Peers under test.
// ---------------------------------------------------------------------------------------------

interface TestPeer {
  app: FastifyInstance;
  store: BlockStore;
  address: PeerAddress;
  refusals: BlockRefusal[];
  integrityReports: BlockId[];
  /** How many requests reached the first gate. */
  gateCalls: number;
}

/** Clients are closed before servers, as a peer leaving the network would. */
const clients: BlockClient[] = [];
const closers: (() => Promise<void>)[] = [];
afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await Promise.all(closers.map((close) => close()));
});

const portOf = (app: FastifyInstance): number => (app.server.address() as AddressInfo).port;

async function startPeer(options: { capacity?: number } = {}): Promise<TestPeer> {
  const peer: Partial<TestPeer> & { refusals: BlockRefusal[]; integrityReports: BlockId[] } = {
    refusals: [],
    integrityReports: [],
    gateCalls: 0,
  };
  const store = createMemoryBlockStore({
    capacity: options.capacity ?? 256 * 1024 * 1024,
    onIntegrityFailure: (report) => peer.integrityReports.push(report.id),
  });
  const app = buildBlockServer({
    identity: serverTls,
    store,
    self: serverKey.publicKey,
    issuerKey: (user) => {
      const key = userKeys.get(user);
      if (key === undefined) {
        return Promise.reject(new FsError('not-exist', 'no such user', { op: 'keys' }));
      }
      return Promise.resolve(key);
    },
    peerAllowed: (key) => {
      peer.gateCalls! += 1;
      return Promise.resolve(Buffer.from(key).equals(clientKey.publicKey));
    },
    onRefusal: (event) => peer.refusals.push(event),
    now: () => Date.now(),
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  closers.push(() => app.close());
  return Object.assign(peer, {
    app,
    store,
    address: { address: `127.0.0.1:${portOf(app)}`, key: serverKey.publicKey },
  }) as TestPeer;
}

function newClient(identity: TlsIdentity = clientTls): BlockClient {
  const client = createBlockClient({ identity });
  clients.push(client);
  return client;
}

/** A raw HTTPS request over mutual TLS (or none, without `identity`), pinned to the server. */
async function raw(
  peer: TestPeer,
  method: 'GET' | 'PUT' | 'HEAD' | 'POST',
  path: string,
  init: {
    identity?: TlsIdentity;
    capability?: string;
    headers?: Record<string, string>;
    body?: Buffer | Readable;
  } = {},
): Promise<{ status: number; json: { kind?: ErrorKind } | undefined; bytes: Buffer }> {
  const agent = createPinnedAgent(
    { publicKey: serverKey.publicKey },
    init.identity === undefined ? {} : { clientCertificate: init.identity },
  );
  try {
    const response = await request(`https://${peer.address.address}${path}`, {
      method,
      dispatcher: agent,
      headers: {
        ...init.headers,
        ...(init.capability === undefined ? {} : { [capabilityHeader]: init.capability }),
      },
      body: init.body ?? null,
    });
    const bytes = Buffer.from(await response.body.arrayBuffer());
    let json: { kind?: ErrorKind } | undefined;
    try {
      json = JSON.parse(bytes.toString()) as { kind?: ErrorKind };
    } catch {
      json = undefined;
    }
    return { status: response.statusCode, json, bytes };
  } finally {
    await agent.close();
  }
}

let peer: TestPeer;
let client: BlockClient;
beforeAll(async () => {
  peer = await startPeer();
  client = newClient();
});
beforeEach(() => {
  peer.refusals.length = 0;
});

/** Runs `op` on `block` through the real client with `cap`. */
function attempt(op: BlockOp, block: SealedBlock, cap: Uint8Array): Promise<unknown> {
  switch (op) {
    case 'put':
      return client.put(peer.address, block.id, block.parts, cap);
    case 'get':
      return client.get(peer.address, block.id, cap);
    case 'has':
      return client.has(peer.address, block.id, cap);
    case 'challenge':
      return client.challenge(peer.address, block.id, randomBytes(32), cap);
  }
}

/** The one refusal the last request caused, checked to carry nothing secret. */
function onlyRefusal(secrets: readonly Uint8Array[]): BlockRefusal {
  expect(peer.refusals).toHaveLength(1);
  const refusal = peer.refusals[0]!;
  expect(refusal.reason.length).toBeGreaterThan(0);
  const text = JSON.stringify(refusal);
  for (const secret of secrets.filter((s) => s.length > 0)) {
    // Neither the capability nor block contents, in any spelling, reach the refusal log.
    for (const spelling of [
      toBase64url(secret),
      toHex(secret),
      Buffer.from(secret).toString('base64'),
    ]) {
      expect(text).not.toContain(spelling.slice(0, 24));
    }
  }
  return refusal;
}

// ---------------------------------------------------------------------------------------------

describe('a round trip with a valid capability', () => {
  it('puts sealed parts, then has, gets and challenges the block', async () => {
    const block = sealedBlock(randomBytes(200_000));
    const cap = capability({ blocks: [block.id] });
    expect(await client.has(peer.address, block.id, cap)).toBe(false);
    await client.put(peer.address, block.id, block.parts, cap);
    expect(await peer.store.has(block.id)).toBe(true);
    expect(await client.has(peer.address, block.id, cap)).toBe(true);
    expect(Buffer.from(await client.get(peer.address, block.id, cap))).toEqual(
      Buffer.from(block.bytes),
    );
    const nonce = randomBytes(32);
    const proof = await client.challenge(peer.address, block.id, nonce, cap);
    expect(Buffer.from(proof)).toEqual(Buffer.from(challengeProof(nonce, block.bytes)));
    // Putting the same block again is fine (stores are idempotent).
    await client.put(peer.address, block.id, block.bytes, cap);
    expect(peer.refusals).toEqual([]);
  });

  it('accepts a capability naming the most blocks allowed (a 60 KiB header)', async () => {
    const block = sealedBlock();
    const blocks = [...Array.from({ length: 1023 }, randomBlockId), block.id];
    const cap = capability({ blocks });
    expect(toBase64url(cap).length).toBeGreaterThan(16 * 1024); // over node's default limit
    await client.put(peer.address, block.id, block.parts, cap);
    expect(Buffer.from(await client.get(peer.address, block.id, cap))).toEqual(
      Buffer.from(block.bytes),
    );
  });

  it('answers not-exist for an absent block, and reports it', async () => {
    const block = sealedBlock();
    const cap = capability({ blocks: [block.id] });
    await expectKindAsync('not-exist', client.get(peer.address, block.id, cap));
    await expectKindAsync(
      'not-exist',
      client.challenge(peer.address, block.id, randomBytes(16), cap),
    );
    expect(peer.refusals.map((r) => r.kind)).toEqual(['not-exist', 'not-exist']);
  });
});

describe('failures that are not the peer lying', () => {
  it('answers unavailable for a peer that cannot be reached', async () => {
    const closed = await startPeer();
    const address = closed.address;
    await closed.app.close();
    const block = sealedBlock();
    await expectKindAsync(
      'unavailable',
      client.get(address, block.id, capability({ blocks: [block.id] })),
    );
  });

  it("surfaces the caller's abort as an AbortError, not as a fault of the peer", async () => {
    const block = sealedBlock();
    const cap = capability({ blocks: [block.id] });
    const controller = new AbortController();
    controller.abort();
    const aborted = client.put(peer.address, block.id, block.parts, cap, {
      signal: controller.signal,
    });
    await expect(aborted).rejects.toMatchObject({ name: 'AbortError' });
    await expect(aborted).rejects.not.toBeInstanceOf(FsError);
  });
});

describe('capabilities: every bad one is refused, nothing stored, nothing served', () => {
  const cases: [string, (op: BlockOp, block: BlockId) => Uint8Array][] = [
    [
      'expired',
      (op, block) => capability({ ops: [op], blocks: [block], now: Date.now() - 20 * 60_000 }),
    ],
    [
      'not yet valid',
      (op, block) => capability({ ops: [op], blocks: [block], now: Date.now() + 10 * 60_000 }),
    ],
    ['for another block', (op) => capability({ ops: [op], blocks: [randomBlockId()] })],
    [
      'for another operation',
      (op, block) => capability({ ops: blockOps.filter((o) => o !== op), blocks: [block] }),
    ],
    [
      'for another peer',
      (op, block) => capability({ ops: [op], blocks: [block], audience: strangerKey.publicKey }),
    ],
    [
      "signed by a key other than the issuer's current key",
      (op, block) => capability({ ops: [op], blocks: [block], signer: malloryKey }),
    ],
    [
      'from an unknown issuer',
      (op, block) => capability({ ops: [op], blocks: [block], issuer: carol, signer: carolKey }),
    ],
    ['malformed (random bytes)', () => new Uint8Array(randomBytes(150))],
    [
      'malformed (truncated)',
      (op, block) => capability({ ops: [op], blocks: [block] }).subarray(0, -7),
    ],
    ['empty', () => new Uint8Array(0)],
  ];

  for (const op of blockOps) {
    describe(`for ${op}`, () => {
      it.each(cases)('refuses a capability %s', async (_name, make) => {
        const block = sealedBlock();
        // The block is present for the read operations, absent for put.
        if (op !== 'put') await peer.store.put(block.id, block.parts);
        const cap = make(op, block.id);
        await expectKindAsync('permission', attempt(op, block, cap));
        if (op === 'put') expect(await peer.store.has(block.id)).toBe(false);
        const refusal = onlyRefusal([cap, block.bytes.subarray(0, 64)]);
        expect(refusal).toMatchObject({
          op,
          kind: 'permission',
          block: block.id,
          clientKey: toBase64url(clientKey.publicKey),
        });
      });
    });
  }

  it('refuses a request with no capability header at all, for every route', async () => {
    const block = sealedBlock();
    await peer.store.put(block.id, block.parts);
    const path = `/v1/blocks/${block.id}`;
    const other = sealedBlock();
    const answers = [
      await raw(peer, 'PUT', `/v1/blocks/${other.id}`, {
        identity: clientTls,
        headers: { 'content-type': 'application/octet-stream' },
        body: Buffer.from(other.bytes),
      }),
      await raw(peer, 'GET', path, { identity: clientTls }),
      await raw(peer, 'HEAD', path, { identity: clientTls }),
      await raw(peer, 'POST', `${path}/challenge`, {
        identity: clientTls,
        headers: { 'content-type': 'application/json' },
        body: Buffer.from(JSON.stringify({ nonce: toBase64url(randomBytes(16)) })),
      }),
    ];
    expect(answers.map((a) => a.status)).toEqual([403, 403, 403, 403]);
    expect(answers.map((a) => a.json?.kind)).toEqual([
      'permission',
      'permission',
      undefined,
      'permission',
    ]);
    // The GET answer is an error, never the block.
    expect(answers[1]!.bytes.includes(Buffer.from(block.bytes.subarray(0, 64)))).toBe(false);
    expect(await peer.store.has(other.id)).toBe(false);
    expect(peer.refusals.map((r) => [r.op, r.kind])).toEqual([
      ['put', 'permission'],
      ['get', 'permission'],
      ['has', 'permission'],
      ['challenge', 'permission'],
    ]);
  });

  it('refuses a capability header that is not base64url', async () => {
    const block = sealedBlock();
    const answer = await raw(peer, 'GET', `/v1/blocks/${block.id}`, {
      identity: clientTls,
      capability: '!!not base64url!!',
    });
    expect([answer.status, answer.json?.kind]).toEqual([403, 'permission']);
    expect(onlyRefusal([]).kind).toBe('permission');
  });
});

describe('mutual TLS: only registered peers are served', () => {
  it('refuses a client whose TLS key is not a registered live peer', async () => {
    const stranger = newClient(strangerTls);
    const block = sealedBlock();
    const cap = capability({ blocks: [block.id] }); // a perfectly valid capability
    await expectKindAsync('permission', stranger.put(peer.address, block.id, block.parts, cap));
    expect(await peer.store.has(block.id)).toBe(false);
    expect(onlyRefusal([cap])).toMatchObject({
      op: 'put',
      kind: 'permission',
      clientKey: toBase64url(strangerKey.publicKey),
    });
    await peer.store.put(block.id, block.parts);
    peer.refusals.length = 0;
    await expectKindAsync('permission', stranger.get(peer.address, block.id, cap));
    await expectKindAsync('permission', stranger.has(peer.address, block.id, cap));
    expect(peer.refusals.map((r) => r.op)).toEqual(['get', 'has']);
  });

  it("refuses a stranger's large upload before reading it, and says so", async () => {
    const stranger = newClient(strangerTls);
    const block = sealedBlock(randomBytes(6 * 1024 * 1024));
    const cap = capability({ blocks: [block.id] });
    // The refusal is answered from the headers (an onRequest gate); the client still learns
    // `permission`, not a broken connection.
    await expectKindAsync('permission', stranger.put(peer.address, block.id, block.parts, cap));
    expect(await peer.store.has(block.id)).toBe(false);
    // And the connection is still good for a legitimate client afterwards.
    await client.put(peer.address, block.id, block.parts, cap);
    expect(await peer.store.has(block.id)).toBe(true);
  });

  it('refuses a client that presents no certificate', async () => {
    const block = sealedBlock();
    await peer.store.put(block.id, block.parts);
    const answer = await raw(peer, 'GET', `/v1/blocks/${block.id}`, {
      capability: toBase64url(capability({ blocks: [block.id] })),
    });
    expect([answer.status, answer.json?.kind]).toEqual([403, 'permission']);
    const refusal = onlyRefusal([block.bytes.subarray(0, 64)]);
    expect(refusal.clientKey).toBeUndefined();
  });
});

describe('the client never returns bytes that are not the block', () => {
  const evilKey = SigningKeyPair.generate();
  const genuine = sealedBlock();
  const other = sealedBlock();
  let mode: 'genuine' | 'flipped' | 'truncated' | 'other' | 'empty' | 'huge' | 'endless';
  let evil: PeerAddress;

  beforeAll(async () => {
    // A peer with a perfectly valid TLS identity (the client pins it) that lies about content.
    const app = Fastify({
      https: tlsServerOptions(peerIdentity(evilKey)),
    });
    app.get('/v1/blocks/:id', async (_request, reply) => {
      void reply.type('application/octet-stream');
      switch (mode) {
        case 'genuine':
          return Buffer.from(genuine.bytes);
        case 'flipped':
          return Buffer.from(flipByte(genuine.bytes, 500));
        case 'truncated':
          return Buffer.from(genuine.bytes.subarray(0, -1));
        case 'other':
          return Buffer.from(other.bytes);
        case 'empty':
          return Buffer.alloc(0);
        case 'huge':
          return Buffer.alloc(maxBlockBytes + 1);
        case 'endless':
          // No content length: the client must stop reading at the limit on its own.
          return reply.send(
            Readable.from(
              (function* () {
                for (let i = 0; i < 12; i++) yield Buffer.alloc(1024 * 1024, i);
              })(),
            ),
          );
      }
    });
    app.post('/v1/blocks/:id/challenge', (_request, reply) => reply.send({ proof: 'not-a-proof' }));
    await app.listen({ host: '127.0.0.1', port: 0 });
    closers.push(() => app.close());
    evil = { address: `127.0.0.1:${portOf(app)}`, key: evilKey.publicKey };
  });

  it('reads the genuine block from it (the control)', async () => {
    mode = 'genuine';
    const bytes = await client.get(evil, genuine.id, capability({ blocks: [genuine.id] }));
    expect(Buffer.from(bytes)).toEqual(Buffer.from(genuine.bytes));
  });

  it.each(['flipped', 'truncated', 'other', 'empty', 'huge', 'endless'] as const)(
    'throws integrity when the peer serves a %s block',
    async (served) => {
      mode = served;
      await expectKindAsync(
        'integrity',
        client.get(evil, genuine.id, capability({ blocks: [genuine.id] })),
      );
    },
  );

  it('throws integrity for a malformed challenge proof', async () => {
    await expectKindAsync(
      'integrity',
      client.challenge(evil, genuine.id, randomBytes(16), capability({ blocks: [genuine.id] })),
    );
  });

  it('refuses a server whose key does not match the pin, before sending anything', async () => {
    const block = sealedBlock();
    const before = peer.gateCalls;
    const impostor: PeerAddress = { address: peer.address.address, key: evilKey.publicKey };
    const cap = capability({ blocks: [block.id] });
    await expectKindAsync('integrity', client.put(impostor, block.id, block.parts, cap));
    await expectKindAsync('integrity', client.get(impostor, block.id, cap));
    expect(peer.gateCalls).toBe(before); // no request reached the server
    expect(await peer.store.has(block.id)).toBe(false);
  });

  it('serves integrity, never the bytes, for a block corrupted at rest', async () => {
    const block = sealedBlock();
    await peer.store.put(block.id, block.parts);
    corruptForTesting(peer.store, block.id, (bytes) => flipByte(bytes, 100));
    await expectKindAsync(
      'integrity',
      client.get(peer.address, block.id, capability({ blocks: [block.id] })),
    );
    expect(peer.integrityReports).toContain(block.id);
    expect(onlyRefusal([block.bytes.subarray(0, 64)])).toMatchObject({
      op: 'get',
      kind: 'integrity',
    });
  });
});

describe('uploads: only the block named, and no more than a block', () => {
  it('refuses bytes that do not hash to the id, and stores nothing', async () => {
    const named = sealedBlock();
    const sent = sealedBlock();
    const cap = capability({ blocks: [named.id] });
    await expectKindAsync('integrity', client.put(peer.address, named.id, sent.parts, cap));
    await expectKindAsync(
      'integrity',
      client.put(peer.address, named.id, flipByte(named.bytes, 0), cap),
    );
    expect(await peer.store.has(named.id)).toBe(false);
    expect(await peer.store.has(sent.id)).toBe(false);
    expect(peer.refusals.map((r) => [r.op, r.kind])).toEqual([
      ['put', 'integrity'],
      ['put', 'integrity'],
    ]);
  });

  it('refuses an oversized block in the client, before sending it', async () => {
    const huge = new Uint8Array(maxBlockBytes + 1);
    const id = blockIdOf(huge);
    const before = peer.gateCalls;
    await expectKindAsync(
      'invalid',
      client.put(peer.address, id, huge, capability({ blocks: [id] })),
    );
    expect(peer.gateCalls).toBe(before);
  });

  it('refuses an oversized body at the server, announced or streamed', async () => {
    const huge = Buffer.alloc(maxBlockBytes + 1, 7);
    const id = blockIdOf(huge);
    const cap = toBase64url(capability({ blocks: [id] }));
    const headers = { 'content-type': 'application/octet-stream' };
    const announced = await raw(peer, 'PUT', `/v1/blocks/${id}`, {
      identity: clientTls,
      capability: cap,
      headers,
      body: huge,
    });
    const streamed = await raw(peer, 'PUT', `/v1/blocks/${id}`, {
      identity: clientTls,
      capability: cap,
      headers,
      body: Readable.from(
        (function* () {
          for (let i = 0; i <= 8; i++) yield huge.subarray(i * 1024 * 1024, (i + 1) * 1024 * 1024);
        })(),
      ),
    });
    expect([announced.status, announced.json?.kind]).toEqual([400, 'invalid']);
    expect([streamed.status, streamed.json?.kind]).toEqual([400, 'invalid']);
    expect(await peer.store.has(id)).toBe(false);
  });

  it('refuses a malformed block id and an unexpected content type', async () => {
    const block = sealedBlock();
    const cap = toBase64url(capability({ blocks: [block.id] }));
    const badId = await raw(peer, 'GET', '/v1/blocks/not-a-block-id', {
      identity: clientTls,
      capability: cap,
    });
    const badType = await raw(peer, 'PUT', `/v1/blocks/${block.id}`, {
      identity: clientTls,
      capability: cap,
      headers: { 'content-type': 'text/plain' },
      body: Buffer.from(block.bytes),
    });
    expect([badId.status, badId.json?.kind]).toEqual([400, 'invalid']);
    expect([badType.status, badType.json?.kind]).toEqual([400, 'invalid']);
    expect(await peer.store.has(block.id)).toBe(false);
  });

  it('answers unavailable when the store is full', async () => {
    const small = await startPeer({ capacity: 1000 });
    const block = sealedBlock();
    await expectKindAsync(
      'unavailable',
      client.put(small.address, block.id, block.parts, capability({ blocks: [block.id] })),
    );
    expect(small.refusals.map((r) => r.kind)).toEqual(['unavailable']);
  });
});

describe('storage challenges', () => {
  it('proves possession: the proof is challengeProof(nonce, block), and only that', async () => {
    const block = sealedBlock();
    const otherBlock = sealedBlock();
    await peer.store.put(block.id, block.parts);
    await peer.store.put(otherBlock.id, otherBlock.parts);
    const cap = capability({ ops: ['challenge'], blocks: [block.id, otherBlock.id] });
    const nonce = randomBytes(16);
    const proof = Buffer.from(await client.challenge(peer.address, block.id, nonce, cap));
    expect(proof).toEqual(Buffer.from(challengeProof(nonce, block.bytes)));
    expect(proof).toEqual(Buffer.from(challengeProof(nonce, block.parts))); // parts hash the same
    const otherNonce = Buffer.from(
      await client.challenge(peer.address, block.id, randomBytes(16), cap),
    );
    const otherProof = Buffer.from(await client.challenge(peer.address, otherBlock.id, nonce, cap));
    expect(otherNonce).not.toEqual(proof);
    expect(otherProof).not.toEqual(proof);
    expect(otherProof).toEqual(Buffer.from(challengeProof(nonce, otherBlock.bytes)));
  });

  it('refuses nonces shorter than 16 or longer than 64 bytes', async () => {
    const block = sealedBlock();
    await peer.store.put(block.id, block.parts);
    const cap = capability({ blocks: [block.id] });
    await expectKindAsync(
      'invalid',
      client.challenge(peer.address, block.id, randomBytes(15), cap),
    );
    await expectKindAsync(
      'invalid',
      client.challenge(peer.address, block.id, randomBytes(65), cap),
    );
    expect((await client.challenge(peer.address, block.id, randomBytes(64), cap)).length).toBe(32);
  });
});

describe('on the wire', () => {
  it('carries no plaintext and no sealed bytes in the clear, in either direction', async () => {
    const marker = 'THE-PLAINTEXT-MARKER-0123456789';
    const block = sealedBlock(utf8(marker.repeat(4096)));
    const recorded: Buffer[] = [];
    // A wiretap: a plain TCP proxy in front of the peer that keeps every byte it forwards.
    const tap = createNetServer((inbound) => {
      const outbound = netConnect(portOf(peer.app), '127.0.0.1');
      inbound.on('data', (bytes: Buffer) => recorded.push(bytes));
      outbound.on('data', (bytes: Buffer) => recorded.push(bytes));
      inbound.pipe(outbound).pipe(inbound);
      inbound.on('error', () => outbound.destroy());
      outbound.on('error', () => inbound.destroy());
    });
    await new Promise<void>((resolve) => tap.listen(0, '127.0.0.1', resolve));
    closers.push(
      () =>
        new Promise<void>((resolve) => {
          tap.close(() => resolve());
        }),
    );
    const tapped = newClient();
    const via: PeerAddress = {
      address: `127.0.0.1:${(tap.address() as AddressInfo).port}`,
      key: serverKey.publicKey,
    };
    const cap = capability({ blocks: [block.id] });
    await tapped.put(via, block.id, block.parts, cap);
    expect(Buffer.from(await tapped.get(via, block.id, cap))).toEqual(Buffer.from(block.bytes));
    await tapped.close();

    const wire = Buffer.concat(recorded);
    expect(wire.length).toBeGreaterThan(2 * block.bytes.length); // the block went both ways
    for (const needle of [marker, toHex(utf8(marker)), Buffer.from(marker).toString('base64')]) {
      expect(wire.includes(Buffer.from(needle)), needle).toBe(false);
    }
    // Nor the sealed block itself: TLS encrypts it again on the wire.
    expect(wire.includes(Buffer.from(block.bytes.subarray(100, 164)))).toBe(false);
  });
});

describe('onStored: who stored each block', () => {
  const storedBy: { id: BlockId; issuer: UserName; file: string }[] = [];
  let recording: PeerAddress;
  let recordingStore: BlockStore;

  beforeAll(async () => {
    recordingStore = createMemoryBlockStore({ capacity: 64 * 1024 * 1024 });
    const app = buildBlockServer({
      identity: serverTls,
      store: recordingStore,
      self: serverKey.publicKey,
      issuerKey: (user) => {
        const key = userKeys.get(user);
        return key === undefined
          ? Promise.reject(new FsError('not-exist', 'no such user', { op: 'keys' }))
          : Promise.resolve(key);
      },
      peerAllowed: (key) => Promise.resolve(Buffer.from(key).equals(clientKey.publicKey)),
      onRefusal: () => undefined,
      onStored: (id, cap) => storedBy.push({ id, issuer: cap.issuer, file: cap.file }),
      now: () => Date.now(),
    });
    await app.listen({ host: '127.0.0.1', port: 0 });
    closers.push(() => app.close());
    recording = { address: `127.0.0.1:${portOf(app)}`, key: serverKey.publicKey };
  });
  beforeEach(() => {
    storedBy.length = 0;
  });

  it("is told the verified capability's issuer and file after a put", async () => {
    const block = sealedBlock();
    await client.put(recording, block.id, block.parts, capability({ blocks: [block.id] }));
    expect(storedBy).toEqual([{ id: block.id, issuer: alice, file: fileId }]);
  });

  it('is not called for a refused put, nor for reads', async () => {
    const block = sealedBlock();
    const other = sealedBlock();
    await expectKindAsync(
      'permission',
      client.put(
        recording,
        block.id,
        block.parts,
        capability({ blocks: [block.id], signer: malloryKey }),
      ),
    );
    await expectKindAsync(
      'integrity',
      client.put(recording, block.id, other.parts, capability({ blocks: [block.id] })),
    );
    await expectKindAsync(
      'permission',
      newClient(strangerTls).put(
        recording,
        block.id,
        block.parts,
        capability({ blocks: [block.id] }),
      ),
    );
    expect(await recordingStore.has(block.id)).toBe(false);
    await recordingStore.put(other.id, other.parts);
    const cap = capability({ blocks: [other.id] });
    await client.get(recording, other.id, cap);
    await client.has(recording, other.id, cap);
    expect(storedBy).toEqual([]);
  });
});

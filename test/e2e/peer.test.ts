/**
 * Peers as real processes beside a real directory: they register and appear in the signed
 * peer list; they store and serve sealed blocks only with a valid capability over mutual TLS;
 * no plaintext reaches their disks; a corrupted stored block is caught, reported and never
 * served; the local API needs its token and logs users in at the peer.
 */
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes as randomBytesFor } from 'node:crypto';
import { Readable } from 'node:stream';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DirectoryClient } from '../../src/client/directory-client.js';
import { blockIdOf } from '../../src/crypto/block-id.js';
import { toHex, utf8 } from '../../src/crypto/bytes.js';
import { joinSealedChunk, sealChunk } from '../../src/crypto/chunk.js';
import { SigningKeyPair } from '../../src/crypto/keys.js';
import { newFileId, newSymmetricKey } from '../../src/crypto/random.js';
import type { IdentityKeys } from '../../src/crypto/identity.js';
import type { BlockId, FileId } from '../../src/interface/ids.js';
import { parseUserName } from '../../src/interface/names.js';
import { ensureRoot } from '../../src/client/namespace.js';
import { createBlockClient } from '../../src/peer/block-client.js';
import { toBase64url } from '../../src/wire/base64.js';
import { issueCapability } from '../../src/wire/capability.js';
import { routes } from '../../src/wire/directory-api.js';
import { signPeerRecord } from '../../src/wire/peer-record.js';
import { createSelfSignedCertificate } from '../../src/wire/tls-certificate.js';
import { LocalApi } from '../../src/cli/local-api.js';
import { goodPassword } from '../helpers/directory.js';
import { expectKindAsync } from '../helpers/expect-error.js';
import {
  type ProcessNetwork,
  type ProcessPeer,
  startProcessNetwork,
} from '../helpers/process-network.js';

describe('peers as real processes', () => {
  let net: ProcessNetwork;
  const peers: { proc: ProcessPeer['proc']; data: string; key: Uint8Array }[] = [];
  let client: DirectoryClient;
  let alice: IdentityKeys;
  const me = SigningKeyPair.generate(); // this test acts as a third peer, registered in-process
  const blocks = createBlockClient({
    identity: createSelfSignedCertificate(me, { commonName: 'test-peer' }),
  });
  const marker = 'THE-PLAINTEXT-MARKER-7Q2Z';

  beforeAll(async () => {
    net = await startProcessNetwork({ peers: 2, capacity: '64M' });
    for (const peer of net.peers)
      peers.push({ proc: peer.proc, data: peer.data, key: new Uint8Array(0) });
    client = await DirectoryClient.connect(net.directory.ready);
    alice = await client.register('alice', goodPassword('alice'));
    await client.call('POST', routes.heartbeat, {
      record: toBase64url(
        signPeerRecord(me, { address: '127.0.0.1:9', capacity: 1, time: Date.now() }),
      ),
    });
    const { peers: listed } = await client.peers();
    for (const peer of peers) {
      const found = listed.find((p) => p.address === peer.proc.ready.listen);
      if (!found) throw new Error(`peer ${peer.proc.ready.listen} did not register`);
      peer.key = found.key;
    }
  }, 60_000);

  afterAll(async () => {
    await blocks.close();
    await client?.close();
    await net?.close();
  });

  const sealedBlock = (text: string) => {
    const sealed = joinSealedChunk(
      sealChunk(
        newSymmetricKey(),
        { fileId: newFileId(), version: 1, index: 0, final: true },
        utf8(text),
      ),
    );
    return { id: blockIdOf(sealed), bytes: sealed };
  };
  /** The file these blocks are stored under (it has no entry: a file being created). */
  const testFile = newFileId();
  const capFor = (
    peerKey: Uint8Array,
    id: ReturnType<typeof blockIdOf>,
    ops: ('put' | 'get' | 'has' | 'challenge')[],
    issuer = alice.signing,
    as: { user?: string; file?: FileId } = {},
  ) =>
    issueCapability(issuer, {
      issuer: parseUserName(as.user ?? 'alice'),
      file: as.file ?? testFile,
      ops,
      blocks: [id],
      audience: peerKey,
      now: Date.now(),
    });

  it('registers every peer with the directory, in a list signed by the pinned key', () => {
    expect(peers.every((p) => p.key.length === 32)).toBe(true);
  });

  it('stores and serves a sealed block with a valid capability, and no plaintext reaches the disk', async () => {
    const peer = peers[0]!;
    const block = sealedBlock(`${marker} `.repeat(2000));
    const address = { address: peer.proc.ready.listen, key: peer.key };
    await blocks.put(address, block.id, block.bytes, capFor(peer.key, block.id, ['put']));
    const back = await blocks.get(address, block.id, capFor(peer.key, block.id, ['get']));
    expect(Buffer.compare(back, block.bytes)).toBe(0);
    const scan = (dir: string): Buffer[] =>
      readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
        e.isDirectory() ? scan(join(dir, e.name)) : [readFileSync(join(dir, e.name))],
      );
    const disk = Buffer.concat(scan(peer.data));
    expect(disk.includes(Buffer.from(marker))).toBe(false);
    expect(disk.toString('latin1').includes(toHex(utf8(marker)))).toBe(false);
  });

  it('serves nothing without a valid capability: none, for another block, another peer, or a forged signer', async () => {
    // A capability addressed to another peer is a replay: the peer tells the directory.
    net.allowAlerts(['capability-misuse']);
    const peer = peers[0]!;
    const address = { address: peer.proc.ready.listen, key: peer.key };
    const block = sealedBlock('secret');
    await blocks.put(address, block.id, block.bytes, capFor(peer.key, block.id, ['put']));
    const other = sealedBlock('other');
    await expectKindAsync(
      'permission',
      blocks.get(address, block.id, capFor(peer.key, other.id, ['get'])),
    );
    await expectKindAsync(
      'permission',
      blocks.get(address, block.id, capFor(peers[1]!.key, block.id, ['get'])),
    );
    await expectKindAsync(
      'permission',
      blocks.get(address, block.id, capFor(peer.key, block.id, ['get'], SigningKeyPair.generate())),
    );
    await expectKindAsync(
      'permission',
      blocks.get(address, block.id, capFor(peer.key, block.id, ['put'])),
    );
    await peer.proc.logged('block.refused');
  });

  it("lets only the file's owner or grantees use its blocks, and a block only under its own file", async () => {
    const peer = peers[0]!;
    const address = { address: peer.proc.ready.listen, key: peer.key };
    const mallory = await client.register('mallory', goodPassword('mallory'));
    const asMallory = (id: BlockId, ops: ('put' | 'get' | 'has')[], file?: FileId) =>
      capFor(peer.key, id, ops, mallory.signing, { user: 'mallory', ...(file ? { file } : {}) });

    // A block alice stored under a file that has no entry yet: only she can read it back.
    const block = sealedBlock('alice only');
    await blocks.put(address, block.id, block.bytes, capFor(peer.key, block.id, ['put']));
    await expectKindAsync(
      'permission',
      blocks.get(address, block.id, asMallory(block.id, ['get'])),
    );
    await expectKindAsync(
      'permission',
      blocks.get(address, block.id, asMallory(block.id, ['get'], newFileId())),
    );
    expect(await blocks.has(address, block.id, capFor(peer.key, block.id, ['has']))).toBe(true);

    // A file with an entry (alice's root): mallory may not store under it, alice may; and a
    // block is served only under the file it was stored under, even to its owner.
    const session = await client.login('alice', goodPassword('alice'));
    const root = await ensureRoot({ directory: client, session });
    const rootFile = root.body.id;
    const mine = sealedBlock('under the root');
    await expectKindAsync(
      'permission',
      blocks.put(address, mine.id, mine.bytes, asMallory(mine.id, ['put'], rootFile)),
    );
    await blocks.put(
      address,
      mine.id,
      mine.bytes,
      capFor(peer.key, mine.id, ['put'], alice.signing, { file: rootFile }),
    );
    const back = await blocks.get(
      address,
      mine.id,
      capFor(peer.key, mine.id, ['get'], alice.signing, { file: rootFile }),
    );
    expect(Buffer.compare(back, mine.bytes)).toBe(0);
    await expectKindAsync(
      'permission',
      blocks.get(address, mine.id, asMallory(mine.id, ['get'], rootFile)),
    );
    await expectKindAsync(
      'permission',
      blocks.get(
        address,
        block.id,
        capFor(peer.key, block.id, ['get'], alice.signing, { file: rootFile }),
      ),
    );
    await peer.proc.logged("the capability's issuer may not write this file");
    await peer.proc.logged('this block belongs to another file');
  });

  it('refuses, within seconds, a capability signed with a key its user has revoked; takes the new key at once', async () => {
    net.allowAlerts(['revoked-key-use']); // the thief's use of rita's revoked key, on purpose
    const peer = peers[0]!;
    const address = { address: peer.proc.ready.listen, key: peer.key };
    await client.register('rita', goodPassword('rita'));
    const session = await client.login('rita', goodPassword('rita'));
    const stolen = session.identity.signing;
    const asRita = (id: BlockId, ops: ('put' | 'get')[], key: SigningKeyPair) =>
      capFor(peer.key, id, ops, key, { user: 'rita' });
    const block = sealedBlock('rita only');
    await blocks.put(address, block.id, block.bytes, asRita(block.id, ['put'], stolen));
    await blocks.get(address, block.id, asRita(block.id, ['get'], stolen));
    // rita revokes; the thief keeps the old key.
    await client.revokeKeys(session);
    const fresh = session.identity.signing;
    const back = await blocks.get(address, block.id, asRita(block.id, ['get'], fresh));
    expect(Buffer.compare(back, block.bytes)).toBe(0);
    const started = Date.now();
    let refusedAfter: number | undefined;
    while (Date.now() - started < 10_000) {
      try {
        await blocks.get(address, block.id, asRita(block.id, ['get'], stolen));
        await new Promise((resolve) => setTimeout(resolve, 200));
      } catch (err) {
        expect((err as { kind?: string }).kind).toBe('permission');
        refusedAfter = Date.now() - started;
        break;
      }
    }
    expect(refusedAfter, 'the stolen key kept working').toBeDefined();
    expect(refusedAfter!).toBeLessThan(5_000);
    // And for good: every peer refuses it.
    for (const other of peers) {
      await expectKindAsync(
        'permission',
        blocks.get(
          { address: other.proc.ready.listen, key: other.key },
          block.id,
          capFor(other.key, block.id, ['get'], stolen, { user: 'rita' }),
        ),
      );
    }
    // The monitor tells rita (and admins) that someone used her revoked key; once, counted up.
    let alerts: { rule: string; audience: string | null }[] = [];
    for (let i = 0; i < 50 && !alerts.some((a) => a.rule === 'revoked-key-use'); i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      ({ alerts } = await client.call<{ alerts: { rule: string; audience: string | null }[] }>(
        'GET',
        routes.alerts,
        undefined,
        session,
      ));
    }
    expect(alerts.filter((a) => a.rule === 'revoked-key-use')).toHaveLength(1);
    await peer.proc.logged('"event":"revoked-key.used"');
  });

  it('catches a flipped bit in a stored block, reports it, and never serves it', async () => {
    const peer = peers[1]!;
    const address = { address: peer.proc.ready.listen, key: peer.key };
    const block = sealedBlock('to be corrupted');
    await blocks.put(address, block.id, block.bytes, capFor(peer.key, block.id, ['put']));
    const find = (dir: string): string | undefined => {
      for (const e of readdirSync(dir, { withFileTypes: true })) {
        const path = join(dir, e.name);
        if (e.isDirectory()) {
          const hit = find(path);
          if (hit) return hit;
        } else if (e.name.includes(block.id)) return path;
      }
      return undefined;
    };
    const file = find(peer.data);
    expect(file).toBeDefined();
    const bytes = readFileSync(file!);
    bytes[bytes.length - 3]! ^= 1;
    writeFileSync(file!, bytes, { mode: statSync(file!).mode });
    await expectKindAsync(
      'integrity',
      blocks.get(address, block.id, capFor(peer.key, block.id, ['get'])),
    );
    await peer.proc.logged('block.integrity');
  });

  it('keeps its local API behind the token, and logs users in there', async () => {
    const peer = peers[0]!;
    const token = readFileSync(join(peer.data, 'api-token'), 'utf8').trim();
    expect(statSync(join(peer.data, 'api-token')).mode & 0o777).toBe(0o600);
    const call = async (path: string, body?: unknown, headers: Record<string, string> = {}) => {
      const res = await request(peer.proc.ready.api + path, {
        method: body === undefined ? 'GET' : 'POST',
        headers: {
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          ...headers,
        },
        body: body === undefined ? null : JSON.stringify(body),
      });
      return { status: res.statusCode, body: (await res.body.json()) as Record<string, unknown> };
    };
    expect((await call('/v1/status')).body['kind']).toBe('permission');
    expect(
      (await call('/v1/status', undefined, { authorization: 'Bearer wrong' })).body['kind'],
    ).toBe('permission');
    const auth = { authorization: `Bearer ${token}` };
    const login = await call('/v1/login', { user: 'alice', password: goodPassword('alice') }, auth);
    expect(login.status).toBe(200);
    const who = await call('/v1/whoami', undefined, {
      ...auth,
      'x-peervault-session': String(login.body['token']),
    });
    expect(who.body['user']).toBe('alice');
    const wrong = await call(
      '/v1/login',
      { user: 'alice', password: 'not the password at all' },
      auth,
    );
    expect(wrong.body['kind']).toBe('permission');
  });
});

/** One call to a peer's local API, with its token and optionally a session; answers status and bytes. */
async function api(
  peer: ProcessPeer,
  method: 'GET' | 'POST' | 'PUT' | 'DELETE',
  path: string,
  options: { json?: unknown; bytes?: Uint8Array; session?: string } = {},
): Promise<{ status: number; bytes: Buffer }> {
  const res = await request(peer.url(path), {
    method,
    headers: {
      ...peer.headers(options.session),
      ...(options.json !== undefined ? { 'content-type': 'application/json' } : {}),
      ...(options.bytes !== undefined ? { 'content-type': 'application/octet-stream' } : {}),
    },
    body:
      options.json !== undefined
        ? JSON.stringify(options.json)
        : options.bytes !== undefined
          ? Buffer.from(options.bytes)
          : null,
  });
  return { status: res.statusCode, bytes: Buffer.from(await res.body.arrayBuffer()) };
}

describe('files through the agents of real peer processes', () => {
  let net: ProcessNetwork;
  let peers: ProcessPeer[];

  beforeAll(async () => {
    net = await startProcessNetwork({ peers: 3, capacity: '256M' });
    peers = net.peers;
    await net.register('alice', goodPassword('alice'));
  }, 60_000);
  afterAll(async () => net?.close());

  const login = (peer: ProcessPeer) => peer.login('alice', goodPassword('alice'));

  it('writes a file through one peer and reads it byte-identical through another, with no plaintext on any disk', async () => {
    const onA = await login(peers[0]!);
    const onB = await login(peers[1]!);
    const marker = Buffer.from('FILE-PLAINTEXT-MARKER-93K1 ');
    const data = Buffer.concat([Buffer.alloc(3 * 1024 * 1024 + 777, marker), marker]);
    expect(
      (await api(peers[0]!, 'POST', '/v1/fs/mkdir', { json: { path: '/alice/pcs' }, session: onA }))
        .status,
    ).toBe(200);
    const put = await api(
      peers[0]!,
      'PUT',
      `/v1/fs/file?path=${encodeURIComponent('/alice/pcs/team5.txt')}`,
      { bytes: data, session: onA },
    );
    expect(put.status).toBe(200);
    const got = await api(
      peers[1]!,
      'GET',
      `/v1/fs/file?path=${encodeURIComponent('/alice/pcs/team5.txt')}`,
      { session: onB },
    );
    expect(got.status).toBe(200);
    expect(Buffer.compare(got.bytes, data)).toBe(0);
    const listing = JSON.parse(
      (
        await api(peers[1]!, 'GET', `/v1/fs/list?path=${encodeURIComponent('/alice/pcs')}`, {
          session: onB,
        })
      ).bytes.toString(),
    ) as { entries: { name: string }[] };
    expect(listing.entries.map((e) => e.name)).toEqual(['team5.txt']);
    const scan = (dir: string): Buffer[] =>
      readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
        e.isDirectory() ? scan(join(dir, e.name)) : [readFileSync(join(dir, e.name))],
      );
    for (const peer of peers) {
      const disk = Buffer.concat(scan(peer.data));
      expect(disk.includes(marker)).toBe(false);
      expect(disk.includes(Buffer.from('team5.txt'))).toBe(false);
    }
  });

  it("logs out at one peer without ending the same user's session at another, unless everywhere", async () => {
    const atA = new LocalApi({ url: peers[0]!.proc.ready.api, token: peers[0]!.token });
    const atB = new LocalApi({ url: peers[1]!.proc.ready.api, token: peers[1]!.token });
    await atA.login('alice', goodPassword('alice'));
    await atB.login('alice', goodPassword('alice'));
    const tokenAtA = atA.session!;
    await atA.logout();
    // The peer forgot that session (and its keys) ...
    await expect(new LocalApi(atA.endpoint, tokenAtA).whoami()).rejects.toMatchObject({
      kind: 'permission',
    });
    // ... and alice at the other peer carries on.
    expect((await atB.whoami()).user).toBe('alice');
    expect((await atB.list('/alice')).length).toBeGreaterThanOrEqual(0);

    await atA.login('alice', goodPassword('alice'));
    await atB.logout({ everywhere: true });
    const ended = await atA.list('/alice').then(
      () => undefined,
      (err: unknown) => err as { kind?: string },
    );
    expect(['revoked', 'permission']).toContain(ended?.kind);
  });

  it('keeps a file readable after one of three peers is killed (R=3)', async () => {
    const onA = await login(peers[0]!);
    const data = Buffer.from(randomBytesFor(2 * 1024 * 1024));
    expect(
      (
        await api(peers[0]!, 'PUT', `/v1/fs/file?path=${encodeURIComponent('/alice/keep.bin')}`, {
          bytes: data,
          session: onA,
        })
      ).status,
    ).toBe(200);
    await peers[2]!.proc.kill();
    const got = await api(
      peers[0]!,
      'GET',
      `/v1/fs/file?path=${encodeURIComponent('/alice/keep.bin')}`,
      { session: onA },
    );
    expect(got.status).toBe(200);
    expect(Buffer.compare(got.bytes, data)).toBe(0);
  });
});

describe('a peer killed in the middle of an upload', () => {
  let net: ProcessNetwork;
  let peers: ProcessPeer[];

  beforeAll(async () => {
    net = await startProcessNetwork({ peers: 3, capacity: '256M' });
    peers = net.peers;
    await net.register('alice', goodPassword('alice'));
  }, 60_000);
  afterAll(async () => net?.close());

  const login = (peer: ProcessPeer) => peer.login('alice', goodPassword('alice'));

  it('survives a peer killed in the middle of an upload: the upload completes or fails clearly, and the previous version stays readable', async () => {
    const onA = await login(peers[0]!);
    const path = `/v1/fs/file?path=${encodeURIComponent('/alice/midway.bin')}`;
    const first = Buffer.from(randomBytesFor(1024 * 1024));
    expect((await api(peers[0]!, 'PUT', path, { bytes: first, session: onA })).status).toBe(200);
    // Version 2, streamed slowly enough that the kill lands in the middle.
    const second = Buffer.from(randomBytesFor(24 * 1024 * 1024));
    const slow = Readable.from(
      (async function* () {
        for (let i = 0; i < second.length; i += 1024 * 1024) {
          await new Promise((r) => setTimeout(r, 40));
          yield second.subarray(i, i + 1024 * 1024);
        }
      })(),
    );
    const upload = request(peers[0]!.proc.ready.api + path, {
      method: 'PUT',
      headers: {
        authorization: `Bearer ${peers[0]!.token}`,
        'x-peervault-session': onA,
        'content-type': 'application/octet-stream',
      },
      body: slow,
    }).then(
      async (res) => ({ status: res.statusCode, body: await res.body.text() }),
      (err: unknown) => ({ status: 0, body: String(err) }),
    );
    await new Promise((r) => setTimeout(r, 300));
    await peers[2]!.proc.kill();
    const outcome = await upload;
    console.log(`mid-upload kill outcome: HTTP ${outcome.status} ${outcome.body.slice(0, 160)}`);
    const read = await api(peers[0]!, 'GET', path, { session: onA });
    expect(read.status).toBe(200);
    if (outcome.status === 200) {
      expect(Buffer.compare(read.bytes, second)).toBe(0);
    } else {
      // A clear failure: the agent says what went wrong (or the connection was cut while sending).
      if (outcome.status !== 0)
        expect(JSON.parse(outcome.body)).toMatchObject({ kind: 'unavailable' });
      expect(Buffer.compare(read.bytes, first)).toBe(0);
    }
    // The dead peer stays in the directory's live list for up to a minute; meanwhile writes go
    // on with the two peers that are there (fewer copies, a warning; repair adds the rest).
    const third = Buffer.from(randomBytesFor(2 * 1024 * 1024 + 3));
    expect((await api(peers[0]!, 'PUT', path, { bytes: third, session: onA })).status).toBe(200);
    const again = await api(peers[1]!, 'GET', path, { session: await login(peers[1]!) });
    expect(Buffer.compare(again.bytes, third)).toBe(0);
    await peers[0]!.proc.logged('"event":"peer.unreachable"');
  });
});

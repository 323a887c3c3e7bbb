/**
 * Quarantine of a malicious storage peer, with real processes: a peer started with
 * PEERVAULT_TEST_MISBEHAVE=flip is caught by two users' agents on reads and reported to the
 * directory; after K bad blocks from two reporters it is quarantined (`peervault peers --json`
 * shows it), readers get byte-identical files throughout, repair copies its blocks elsewhere,
 * and new writes place nothing on it. The quiet test: an honest network raises no strike.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiPeer, LocalApi } from '../../src/cli/local-api.js';
import { DirectoryClient } from '../../src/client/directory-client.js';
import { parseBlockId } from '../../src/interface/ids.js';
import type { PeerAddress } from '../../src/peer/block-client.js';
import { rankPeers } from '../../src/peer/placement.js';
import { goodPassword } from '../helpers/directory.js';
import { blockIdsOn, readAll } from '../helpers/peer-files.js';
import {
  type ProcessNetwork,
  type ProcessPeer,
  startProcessNetwork,
} from '../helpers/process-network.js';

const bin = fileURLToPath(new URL('../../bin/peervault.js', import.meta.url));

/** `peervault peers --json --peer DATA`, parsed. */
function peersJson(peer: ProcessPeer): Promise<{ peers: ApiPeer[] }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, 'peers', '--json', '--peer', peer.data], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
    child.once('error', reject);
    child.once('close', (status) => {
      if (status !== 0) reject(new Error(`peervault peers exited ${status}`));
      else resolve(JSON.parse(Buffer.concat(out).toString('utf8')) as { peers: ApiPeer[] });
    });
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Written {
  api: LocalApi;
  path: string;
  data: Buffer;
}

describe('a peer that serves flipped bytes is quarantined', () => {
  let net: ProcessNetwork;
  let bad: ProcessPeer;
  let live: PeerAddress[];

  beforeAll(async () => {
    // The bad peer starts first, so the others' (cached) live lists include it from the start.
    // The bad peer is quarantined on purpose: that tells the reporters and admins.
    net = await startProcessNetwork({
      peers: 0,
      replicas: 3,
      capacity: '256M',
      allowAlerts: ['peer-quarantined'],
    });
    bad = await net.addPeer([], { PEERVAULT_TEST_MISBEHAVE: 'flip' });
    for (let i = 0; i < 3; i++) await net.addPeer();
    await net.register('alice', goodPassword('alice'));
    await net.register('bob', goodPassword('bob'));
    const directory = await DirectoryClient.connect(net.directory.ready);
    try {
      live = (await directory.peers()).peers.map((p) => ({ address: p.address, key: p.key }));
    } finally {
      await directory.close();
    }
    expect(live).toHaveLength(4);
  }, 60_000);
  afterAll(async () => net?.close());

  it('is reported on reads, quarantined after K bad blocks from two users, and placed on no more', async () => {
    const badKey = live.find((p) => p.address === bad.proc.ready.listen)!;
    const apis = async (user: string) => {
      const writer = new LocalApi({
        url: net.peers[1]!.proc.ready.api,
        token: net.peers[1]!.token,
      });
      const reader = new LocalApi({
        url: net.peers[2]!.proc.ready.api,
        token: net.peers[2]!.token,
      });
      await writer.login(user, goodPassword(user));
      await reader.login(user, goodPassword(user));
      return { writer, reader };
    };
    const alice = await apis('alice');
    const bob = await apis('bob');

    // Each user writes small files until `want` of them have a block that readers ask the bad
    // peer for first (so each read of it is a bad block caught and reported).
    const written: Written[] = [];
    const writeUntil = async (
      user: string,
      api: { writer: LocalApi; reader: LocalApi },
      want: number,
    ) => {
      let seen = blockIdsOn(bad);
      let hits = 0;
      for (let i = 0; i < 60 && hits < want; i++) {
        const path = `/${user}/f${i}.bin`;
        const data = randomBytes(32 * 1024 + i);
        await api.writer.writeFile(path, data);
        written.push({ api: api.reader, path, data });
        const now = blockIdsOn(bad);
        const fresh = [...now].filter((id) => !seen.has(id));
        seen = now;
        if (fresh.some((id) => rankPeers(parseBlockId(id), live)[0] === badKey)) hits++;
      }
      expect(hits).toBe(want);
    };
    await writeUntil('alice', alice, 2);
    await writeUntil('bob', bob, 1);

    // Nothing was read yet: no strike.
    const before = await peersJson(net.peers[0]!);
    expect(before.peers.every((p) => p.strikes === 0 && !p.quarantined)).toBe(true);

    // Readers never see bad bytes; their agents report each bad block.
    for (const file of written) {
      expect(Buffer.compare(await readAll(file.api, file.path), file.data)).toBe(0);
    }
    let shown: ApiPeer | undefined;
    for (let i = 0; i < 40; i++) {
      shown = (await peersJson(net.peers[0]!)).peers.find(
        (p) => p.fingerprint === bad.proc.ready.fingerprint,
      );
      if (shown?.quarantined === true) break;
      await sleep(250);
    }
    expect(shown).toMatchObject({ quarantined: true });
    expect(shown!.strikes).toBeGreaterThanOrEqual(3);
    const others = (await peersJson(net.peers[0]!)).peers.filter(
      (p) => p.fingerprint !== bad.proc.ready.fingerprint,
    );
    expect(others).toHaveLength(3);
    expect(others.every((p) => p.strikes === 0 && !p.quarantined)).toBe(true);

    // Still byte-identical, now without asking the quarantined peer.
    for (const file of written) {
      expect(Buffer.compare(await readAll(file.api, file.path), file.data)).toBe(0);
    }

    // Repair does not count its copies: every block it held is copied to the good peers.
    for (const api of [alice.writer, bob.writer]) {
      const summary = await api.repair();
      expect(summary).toMatchObject({ short: 0, lost: 0 });
    }
    expect((await alice.writer.repair()).copies).toBe(0);

    // New writes place nothing on it (once the writer's cached live list has expired).
    await sleep(6_000);
    const held = blockIdsOn(bad).size;
    for (let i = 0; i < 8; i++) {
      const path = `/alice/after${i}.bin`;
      const data = randomBytes(16 * 1024 + i);
      await alice.writer.writeFile(path, data);
      written.push({ api: alice.reader, path, data });
    }
    expect(blockIdsOn(bad).size).toBe(held);
    for (const file of written) {
      expect(Buffer.compare(await readAll(file.api, file.path), file.data)).toBe(0);
    }
  }, 180_000);
});

describe('an honest network raises no strike', () => {
  let net: ProcessNetwork;

  beforeAll(async () => {
    net = await startProcessNetwork({ peers: 3, replicas: 3, capacity: '256M' });
    await net.register('alice', goodPassword('alice'));
  }, 60_000);
  afterAll(async () => net?.close());

  it('writes, reads and audits without a report', async () => {
    const writer = new LocalApi({ url: net.peers[0]!.proc.ready.api, token: net.peers[0]!.token });
    const reader = new LocalApi({ url: net.peers[1]!.proc.ready.api, token: net.peers[1]!.token });
    await writer.login('alice', goodPassword('alice'));
    await reader.login('alice', goodPassword('alice'));
    for (let i = 0; i < 6; i++) {
      const data = randomBytes(20 * 1024 + i);
      await writer.writeFile(`/alice/q${i}.bin`, data);
      expect(Buffer.compare(await readAll(reader, `/alice/q${i}.bin`), data)).toBe(0);
    }
    expect(await writer.repair({ audit: true })).toMatchObject({ badPeers: [] });
    const { peers } = await peersJson(net.peers[2]!);
    expect(peers).toHaveLength(3);
    expect(peers.every((p) => p.strikes === 0 && !p.quarantined)).toBe(true);
    for (const peer of net.peers) {
      expect(peer.proc.stderr()).not.toContain('"event":"peer.bad"');
    }
  }, 90_000);
});

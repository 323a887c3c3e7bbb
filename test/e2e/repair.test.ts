/**
 * Repair through real peer processes: after a peer dies and a new one joins, the scheduled pass
 * copies every block to the newcomer (the file then reads with the original holders dead); an
 * audit pass (`peervault repair --audit`, here its local API route) catches a peer whose stored
 * copy rotted and puts a good copy elsewhere, and a hollow peer (PEERVAULT_TEST_MISBEHAVE=hollow:
 * it acknowledges every put and claims every block, but keeps nothing) is reported for claiming
 * blocks it does not hold: by `repair --audit`, and by the scheduled audits of a sample of the
 * blocks (`--audit-every`, `--audit-sample`) with nobody reading or repairing.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalApi } from '../../src/cli/local-api.js';
import { DirectoryClient } from '../../src/client/directory-client.js';
import { parseBlockId } from '../../src/interface/ids.js';
import { rankPeers } from '../../src/peer/placement.js';
import { goodPassword } from '../helpers/directory.js';
import { blockFileOn, blockIdsOn, readAll, until } from '../helpers/peer-files.js';
import {
  type ProcessNetwork,
  type ProcessPeer,
  startProcessNetwork,
} from '../helpers/process-network.js';

const password = goodPassword('alice');

async function loggedIn(peer: ProcessPeer): Promise<LocalApi> {
  const api = new LocalApi({ url: peer.proc.ready.api, token: peer.token });
  await api.login('alice', password);
  return api;
}

describe('scheduled repair after a peer dies and another joins', () => {
  let net: ProcessNetwork;

  beforeAll(async () => {
    net = await startProcessNetwork({
      peers: 3,
      replicas: 3,
      capacity: '256M',
      peerArgs: ['--repair-grace', '2s'],
    });
    await net.register('alice', password);
  }, 60_000);
  afterAll(async () => net?.close());

  it('copies every block to the new peer, so the file reads with the original holders gone', async () => {
    const [first, second, third] = net.peers as [ProcessPeer, ProcessPeer, ProcessPeer];
    const alice = await loggedIn(first);
    const data = randomBytes(3 * 1024 * 1024 + 1234);
    await alice.writeFile('/alice/keep.bin', data);
    const blocks = blockIdsOn(first).size;
    expect(blocks).toBeGreaterThanOrEqual(4);

    await third.proc.kill();
    const newcomer = await net.addPeer();
    // The join is noticed within a tick (1 s with a 2 s grace) and alice's agent repairs.
    await until(() => blockIdsOn(newcomer).size >= blocks, 30_000);

    // Only the newcomer still holds the blocks: the file must read from it alone.
    await first.proc.kill();
    await second.proc.kill();
    const reader = await loggedIn(newcomer);
    expect(Buffer.compare(await readAll(reader, '/alice/keep.bin'), data)).toBe(0);
  }, 90_000);
});

describe('an audit pass', () => {
  let net: ProcessNetwork;

  beforeAll(async () => {
    net = await startProcessNetwork({ peers: 4, replicas: 3, capacity: '256M' });
    await net.register('alice', password);
  }, 60_000);
  afterAll(async () => net?.close());

  it('catches a peer whose stored copy rotted, reports it, and restores R good copies', async () => {
    const alice = await loggedIn(net.peers[0]!);
    const data = randomBytes(512 * 1024);
    await alice.writeFile('/alice/audited.bin', data);
    const plain = await alice.repair();
    expect(plain).toMatchObject({ files: 1, copies: 0, short: 0, lost: 0, badPeers: [] });

    // Rot one stored block on a peer that holds one.
    const rotten = net.peers.find((peer) => blockIdsOn(peer).size > 0)!;
    const victim = blockFileOn(rotten, [...blockIdsOn(rotten)][0]!);
    const bytes = readFileSync(victim);
    bytes[bytes.length >> 1]! ^= 0x01;
    writeFileSync(victim, bytes);

    // Asking `has` cannot see it; a challenge can.
    expect((await alice.repair()).badPeers).toEqual([]);
    const audited = await alice.repair({ audit: true });
    expect(audited.badPeers).toEqual([rotten.proc.ready.fingerprint]);
    expect(audited.copies).toBeGreaterThanOrEqual(1);
    expect(audited).toMatchObject({ short: 0, lost: 0 });

    // A later audit finds everything in order, and the file reads back whole.
    expect(await alice.repair({ audit: true })).toMatchObject({ badPeers: [], short: 0, lost: 0 });
    expect(Buffer.compare(await readAll(alice, '/alice/audited.bin'), data)).toBe(0);
  }, 90_000);
});

describe('an audit pass over a hollow peer', () => {
  let net: ProcessNetwork;
  let hollow: ProcessPeer;

  beforeAll(async () => {
    // The hollow peer starts first, so the others' (cached) live lists include it from the start.
    net = await startProcessNetwork({ peers: 0, replicas: 3, capacity: '256M' });
    hollow = await net.addPeer([], { PEERVAULT_TEST_MISBEHAVE: 'hollow' });
    for (let i = 0; i < 4; i++) await net.addPeer();
    await net.register('alice', password);
  }, 60_000);
  afterAll(async () => net?.close());

  it('reports the peer that claims blocks it does not hold, and keeps R good copies', async () => {
    const alice = await loggedIn(net.peers[1]!);
    const directory = await DirectoryClient.connect(net.directory.ready);
    try {
      const live = (await directory.peers()).peers.map((p) => ({ address: p.address, key: p.key }));
      expect(live).toHaveLength(5);
      const hollowKey = live.find((p) => p.address === hollow.proc.ready.listen)!;
      const placedOnHollow = (id: string) =>
        rankPeers(parseBlockId(id), live).slice(0, 3).includes(hollowKey);
      const honestBlocks = () => new Set(net.peers.slice(1).flatMap((p) => [...blockIdsOn(p)]));

      // Files until one block is placed on the hollow peer (it acknowledged the put).
      const files: { path: string; data: Buffer }[] = [];
      for (let i = 0; i < 20 && ![...honestBlocks()].some(placedOnHollow); i++) {
        const file = { path: `/alice/h${i}.bin`, data: randomBytes(64 * 1024 + i) };
        await alice.writeFile(file.path, file.data);
        files.push(file);
      }
      expect([...honestBlocks()].some(placedOnHollow)).toBe(true);
      expect(blockIdsOn(hollow).size).toBe(0);

      // Asked with `has`, it says yes to everything: a plain pass sees nothing wrong.
      expect(await alice.repair()).toMatchObject({ badPeers: [], copies: 0 });
      // A challenge it cannot answer for a block it claims is a false claim, reported.
      const audited = await alice.repair({ audit: true });
      expect(audited.badPeers).toEqual([hollow.proc.ready.fingerprint]);
      expect(audited).toMatchObject({ short: 0, lost: 0 });
      expect(audited.copies).toBeGreaterThanOrEqual(1);
      // The agent reports in the background: the strike arrives shortly after the pass.
      const strikes = async () =>
        (await directory.peerHealth()).peers.find(
          (p) => p.key === Buffer.from(hollowKey.key).toString('base64url'),
        )?.strikes ?? 0;
      for (let i = 0; i < 40 && (await strikes()) === 0; i++) {
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
      expect(await strikes()).toBeGreaterThanOrEqual(1);
      for (const file of files) {
        expect(Buffer.compare(await readAll(alice, file.path), file.data)).toBe(0);
      }
    } finally {
      await directory.close();
    }
  }, 120_000);
});

describe('scheduled audits', () => {
  let net: ProcessNetwork;
  let hollow: ProcessPeer;

  beforeAll(async () => {
    // Audits every 500 ms over every block, so the test does not wait hours.
    net = await startProcessNetwork({
      peers: 0,
      replicas: 3,
      capacity: '256M',
      peerArgs: ['--audit-every', '500ms', '--audit-sample', '100'],
    });
    hollow = await net.addPeer([], { PEERVAULT_TEST_MISBEHAVE: 'hollow' });
    for (let i = 0; i < 3; i++) await net.addPeer();
    await net.register('alice', password);
  }, 60_000);
  afterAll(async () => net?.close());

  it('strike a peer that keeps nothing, with nobody reading or repairing', async () => {
    const alice = await loggedIn(net.peers[1]!);
    // With four peers and R=3, most blocks are placed on the hollow peer.
    for (let i = 0; i < 4; i++) await alice.writeFile(`/alice/cold${i}.bin`, randomBytes(40_000));
    const directory = await DirectoryClient.connect(net.directory.ready);
    try {
      const key = (await directory.peers()).peers.find(
        (p) => p.address === hollow.proc.ready.listen,
      )!.key;
      let strikes = 0;
      for (let i = 0; i < 60 && strikes === 0; i++) {
        strikes =
          (await directory.peerHealth()).peers.find(
            (p) => p.key === Buffer.from(key).toString('base64url'),
          )?.strikes ?? 0;
        if (strikes === 0) await new Promise((resolve) => setTimeout(resolve, 250));
      }
      expect(strikes).toBeGreaterThanOrEqual(1);
      // The agent's log says what ran: an audit pass over a sample, naming the hollow peer
      // (logged when the pass ends, which may be after its report reached the directory).
      const named = () =>
        net.peers[1]!.proc.stderr()
          .split('\n')
          .some(
            (line) =>
              line.includes('"event":"repair.pass"') &&
              line.includes('"sample":1') &&
              line.includes(hollow.proc.ready.fingerprint),
          );
      for (let i = 0; i < 60 && !named(); i++) {
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
      expect(named()).toBe(true);
    } finally {
      await directory.close();
    }
  }, 90_000);
});

/**
 * A malicious storage peer, as a real process (PEERVAULT_TEST_MISBEHAVE): whether it flips a
 * bit, truncates, or serves another block (a swap, or another file's block), a reader through
 * another peer's agent catches it on every read, gets the right bytes from another replica, and
 * reports the bad peer in its log.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalApi } from '../../src/cli/local-api.js';
import { DirectoryClient } from '../../src/client/directory-client.js';
import { parseBlockId } from '../../src/interface/ids.js';
import type { PeerAddress } from '../../src/peer/block-client.js';
import { rankPeers } from '../../src/peer/placement.js';
import { contentMisbehaviours } from '../../src/peer/misbehave.js';
import { goodPassword } from '../helpers/directory.js';
import { blockIdsOn, readAll } from '../helpers/peer-files.js';
import {
  type ProcessNetwork,
  type ProcessPeer,
  startProcessNetwork,
} from '../helpers/process-network.js';

const password = goodPassword('alice');

describe.each(contentMisbehaviours)('a peer that serves bad bytes (%s)', (mode) => {
  let net: ProcessNetwork;
  let bad: ProcessPeer;
  let live: PeerAddress[];

  beforeAll(async () => {
    // The bad peer starts first, so the others' (cached) live lists include it from the start.
    net = await startProcessNetwork({ peers: 0, replicas: 3, capacity: '256M' });
    bad = await net.addPeer([], { PEERVAULT_TEST_MISBEHAVE: mode });
    await net.addPeer();
    await net.addPeer();
    await net.register('alice', password);
    const directory = await DirectoryClient.connect(net.directory.ready);
    try {
      live = (await directory.peers()).peers.map((p) => ({ address: p.address, key: p.key }));
    } finally {
      await directory.close();
    }
    expect(live).toHaveLength(3);
  }, 60_000);
  afterAll(async () => net?.close());

  it('is caught on read, the reader gets the right bytes from another replica, and the bad peer is reported', async () => {
    const writer = new LocalApi({ url: net.peers[1]!.proc.ready.api, token: net.peers[1]!.token });
    const reader = new LocalApi({ url: net.peers[2]!.proc.ready.api, token: net.peers[2]!.token });
    await writer.login('alice', password);
    await reader.login('alice', password);
    const badKey = live.find((p) => p.address === bad.proc.ready.listen)!;

    // Write small files until one has a block that readers ask the bad peer for first.
    let target: { path: string; data: Buffer } | undefined;
    const written: { path: string; data: Buffer }[] = [];
    let seen = blockIdsOn(bad);
    for (let i = 0; i < 40 && target === undefined; i++) {
      const path = `/alice/f${i}.bin`;
      const data = randomBytes(64 * 1024 + i);
      await writer.writeFile(path, data);
      written.push({ path, data });
      const now = blockIdsOn(bad);
      const fresh = [...now].filter((id) => !seen.has(id));
      seen = now;
      if (fresh.some((id) => rankPeers(parseBlockId(id), live)[0] === badKey)) {
        target = { path, data };
      }
    }
    expect(target).toBeDefined();

    expect(Buffer.compare(await readAll(reader, target!.path), target!.data)).toBe(0);
    const reports = net.peers[2]!.proc.stderr()
      .split('\n')
      .filter((line) => line.includes('"event":"peer.bad"'))
      .map((line) => JSON.parse(line) as { key: string; reason: string });
    expect(reports).toContainEqual(
      expect.objectContaining({ key: bad.proc.ready.fingerprint, reason: 'integrity' }),
    );
    // Every file reads back exactly, whichever replica each block came from.
    for (const file of written) {
      expect(Buffer.compare(await readAll(reader, file.path), file.data)).toBe(0);
    }
  }, 90_000);
});

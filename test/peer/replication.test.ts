/**
 * Replication over real mutual-TLS block peers on 127.0.0.1 (memory stores): puts land on the
 * placed peers and pass over dead ones, reads fail over and catch peers serving bad bytes,
 * transfers stay within the concurrency bound, and repair restores lost replicas.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BlockId } from '../../src/interface/ids.js';
import type { BlockClient, PeerAddress } from '../../src/peer/block-client.js';
import { placeBlock, rankPeers } from '../../src/peer/placement.js';
import {
  type BadPeerReason,
  createReplicator,
  type Replicator,
  type ReplicatorInit,
} from '../../src/peer/replication.js';
import {
  type BlockNetwork,
  type NetworkPeer,
  randomBlock,
  startBlockNetwork,
} from '../helpers/block-network.js';
import { corruptForTesting } from '../helpers/block-stores.js';
import { expectKindAsync, flipByte } from '../helpers/expect-error.js';

let net: BlockNetwork;
/** The five peers that stay up. */
let live: PeerAddress[];
/** A peer that was registered but is down: its address refuses connections. */
let dead: PeerAddress;

beforeAll(async () => {
  net = await startBlockNetwork(6);
  const down = net.peers[5]!;
  await down.stop();
  dead = down.address;
  live = net.peers.slice(0, 5).map((peer) => peer.address);
});
afterAll(() => net.close());

interface Recorded {
  replicator: Replicator;
  warnings: string[];
  badPeers: [PeerAddress, BadPeerReason][];
}

function replicator(init: Partial<ReplicatorInit> = {}): Recorded {
  const warnings: string[] = [];
  const badPeers: [PeerAddress, BadPeerReason][] = [];
  return {
    replicator: createReplicator({
      client: net.client,
      capability: net.capability,
      onWarning: (message) => warnings.push(message),
      onBadPeer: (peer, reason) => badPeers.push([peer, reason]),
      ...init,
    }),
    warnings,
    badPeers,
  };
}

const peerOf = (address: PeerAddress): NetworkPeer =>
  net.peers.find((peer) => peer.address === address)!;

/** The live peers whose stores hold `id`. */
async function holdersOf(id: BlockId): Promise<PeerAddress[]> {
  const held = await Promise.all(live.map((address) => peerOf(address).store.has(id)));
  return live.filter((_, index) => held[index] === true);
}

/** A random block whose ranking over `peers` puts `peer` within the first `within`. */
function blockRanking(peer: PeerAddress, peers: readonly PeerAddress[], within: number) {
  for (;;) {
    const block = randomBlock();
    if (rankPeers(block.id, peers).slice(0, within).includes(peer)) return block;
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const sameSet = (a: readonly PeerAddress[], b: readonly PeerAddress[]) =>
  expect(new Set(a)).toEqual(new Set(b));

describe('putBlock', () => {
  it('stores a block on exactly the three placed peers', async () => {
    const { replicator: r, warnings } = replicator();
    for (let i = 0; i < 5; i++) {
      const block = randomBlock();
      const holders = await r.putBlock(block.id, block.bytes, live);
      expect(holders).toEqual(placeBlock(block.id, live, 3));
      sameSet(await holdersOf(block.id), holders);
    }
    expect(warnings).toEqual([]);
  });

  it('uses the two live peers there are, warning once, when three replicas are wanted', async () => {
    const { replicator: r, warnings } = replicator();
    const two = live.slice(0, 2);
    for (let i = 0; i < 3; i++) {
      const block = randomBlock();
      const holders = await r.putBlock(block.id, block.bytes, two);
      sameSet(holders, two);
      sameSet(await holdersOf(block.id), two);
    }
    expect(warnings).toHaveLength(1);
  });

  it('passes a dead placed peer over for the next candidate', async () => {
    const { replicator: r } = replicator();
    const peers = [...live, dead];
    const block = blockRanking(dead, peers, 3);
    const holders = await r.putBlock(block.id, block.bytes, peers);
    const expected = rankPeers(block.id, peers)
      .filter((peer) => peer !== dead)
      .slice(0, 3);
    expect(holders).toEqual(expected);
    sameSet(await holdersOf(block.id), expected);
  });

  it('counts the quorum over reachable peers: a listed peer that is down means fewer copies, with a warning', async () => {
    const unreachable: PeerAddress[] = [];
    const { replicator: r, warnings } = replicator({
      onUnreachable: (peer) => unreachable.push(peer),
    });
    const block = randomBlock();
    const holders = await r.putBlock(block.id, block.bytes, [live[0]!, live[1]!, dead]);
    sameSet(holders, [live[0]!, live[1]!]);
    expect(unreachable).toEqual([dead]);
    expect(warnings.join('\n')).toMatch(/2 of 3 replicas \(1 listed peer unreachable\)/);
    await expectKindAsync('unavailable', r.putBlock(block.id, block.bytes, [dead]));
    await expectKindAsync('unavailable', r.putBlock(block.id, block.bytes, []));
  });

  it('fails unavailable, saying how many acknowledged, when reachable peers refuse', async () => {
    const block = randomBlock();
    // A capability for another peer: every peer answers, and refuses.
    const refusing = replicator({
      capability: (peer, ids, ops) => net.capability(live[4]!, ids, ops),
    }).replicator;
    const error = await expectKindAsync(
      'unavailable',
      refusing.putBlock(block.id, block.bytes, [live[0]!, live[1]!, live[4]!]),
    );
    expect(error.message).toMatch(/\b1 of 3\b/);
  });

  it("surfaces the caller's abort as an AbortError, not as a failed put", async () => {
    const { replicator: r } = replicator();
    const block = randomBlock();
    const controller = new AbortController();
    controller.abort();
    const put = r.putBlock(block.id, block.bytes, live, { signal: controller.signal });
    await expect(put).rejects.toMatchObject({ name: 'AbortError' });
  });

  it('accepts fewer copies than replicas with a smaller write quorum', async () => {
    const { replicator: r } = replicator({ writeQuorum: 2 });
    const block = randomBlock();
    const holders = await r.putBlock(block.id, block.bytes, [live[0]!, live[1]!, dead]);
    sameSet(holders, [live[0]!, live[1]!]);
  });
});

describe('getBlock', () => {
  it('fails over past a dead peer ranked first', async () => {
    const tried: PeerAddress[] = [];
    const { replicator: r } = replicator({
      client: {
        ...net.client,
        get: (peer, ...rest) => {
          tried.push(peer);
          return net.client.get(peer, ...rest);
        },
      },
    });
    const peers = [...live, dead];
    const block = blockRanking(dead, peers, 1);
    await r.putBlock(block.id, block.bytes, live);
    const bytes = await r.getBlock(block.id, peers);
    expect(Buffer.from(bytes)).toEqual(Buffer.from(block.bytes));
    expect(tried[0]).toBe(dead);
  });

  it('reads past a replica rotted at rest, and reports that peer', async () => {
    const { replicator: r, badPeers } = replicator();
    const block = randomBlock();
    const holders = await r.putBlock(block.id, block.bytes, live);
    corruptForTesting(peerOf(holders[0]!).store, block.id, (bytes) => flipByte(bytes, 10));
    const bytes = await r.getBlock(block.id, live);
    expect(Buffer.from(bytes)).toEqual(Buffer.from(block.bytes));
    expect(badPeers).toEqual([[holders[0], 'integrity']]);
  });

  it('reads past a peer that serves flipped bytes, and reports that peer', async () => {
    const { replicator: r, badPeers } = replicator();
    const block = randomBlock();
    const holders = await r.putBlock(block.id, block.bytes, live);
    const liar = peerOf(holders[0]!);
    liar.lying = true;
    try {
      const bytes = await r.getBlock(block.id, live);
      expect(Buffer.from(bytes)).toEqual(Buffer.from(block.bytes));
    } finally {
      liar.lying = false;
    }
    expect(badPeers).toEqual([[holders[0], 'integrity']]);
  });

  it('reads past a holder that claims a block it cannot serve, and reports it in the background', async () => {
    const { replicator: r, badPeers } = replicator();
    const block = randomBlock();
    const holders = await r.putBlock(block.id, block.bytes, live);
    const hollow = peerOf(holders[0]!);
    await hollow.store.delete(block.id);
    hollow.claimsAll = true;
    try {
      expect(Buffer.from(await r.getBlock(block.id, live))).toEqual(Buffer.from(block.bytes));
      for (let i = 0; i < 50 && badPeers.length === 0; i++) await sleep(20);
      expect(badPeers).toEqual([[holders[0], 'audit']]);
    } finally {
      hollow.claimsAll = false;
    }
  });

  it('reads past a holder that lost a block and says so, and reports nobody', async () => {
    const { replicator: r, badPeers } = replicator();
    const block = randomBlock();
    const holders = await r.putBlock(block.id, block.bytes, live);
    await peerOf(holders[0]!).store.delete(block.id);
    expect(Buffer.from(await r.getBlock(block.id, live))).toEqual(Buffer.from(block.bytes));
    await sleep(200); // the background check has answered
    expect(badPeers).toEqual([]);
  });

  it('throws integrity when every replica is bad, and unavailable when none answers', async () => {
    const { replicator: r, badPeers } = replicator();
    const block = randomBlock();
    const holders = await r.putBlock(block.id, block.bytes, live);
    for (const holder of holders) {
      corruptForTesting(peerOf(holder).store, block.id, (bytes) => flipByte(bytes, 0));
    }
    await expectKindAsync('integrity', r.getBlock(block.id, live));
    sameSet(
      badPeers.map(([peer]) => peer),
      holders,
    );
    await expectKindAsync('unavailable', r.getBlock(randomBlock().id, live));
    await expectKindAsync('unavailable', r.getBlock(block.id, [dead]));
  });
});

describe('many blocks', () => {
  it('never has more transfers in flight than the bound, and keeps the order', async () => {
    let inFlight = 0;
    let most = 0;
    const counted =
      <A extends unknown[], R>(call: (...args: A) => Promise<R>) =>
      async (...args: A): Promise<R> => {
        inFlight += 1;
        most = Math.max(most, inFlight);
        try {
          await new Promise((resolve) => setTimeout(resolve, 5));
          return await call(...args);
        } finally {
          inFlight -= 1;
        }
      };
    const client: Pick<BlockClient, 'put' | 'get' | 'has' | 'challenge'> = {
      put: counted(net.client.put.bind(net.client)),
      get: counted(net.client.get.bind(net.client)),
      has: counted(net.client.has.bind(net.client)),
      challenge: counted(net.client.challenge.bind(net.client)),
    };
    const { replicator: r } = replicator({ client, concurrency: 4 });
    const blocks = Array.from({ length: 24 }, () => {
      const block = randomBlock(1024);
      return { id: block.id, parts: block.bytes };
    });
    const holders = await r.putBlocks(blocks, live);
    expect(most).toBe(4);
    expect(holders).toEqual(blocks.map((block) => placeBlock(block.id, live, 3)));

    most = 0;
    const read = await r.getBlocks(
      blocks.map((block) => block.id),
      live,
    );
    expect(most).toBe(4);
    expect(read.map((bytes) => Buffer.from(bytes))).toEqual(
      blocks.map((block) => Buffer.from(block.parts)),
    );
  });

  it('stops at the first failure and throws it', async () => {
    const { replicator: r } = replicator();
    const good = randomBlock();
    await r.putBlock(good.id, good.bytes, live);
    await expectKindAsync('unavailable', r.getBlocks([good.id, randomBlock().id], live));
  });
});

describe('repairBlock', () => {
  it('restores three replicas after a holder lost the block, byte for byte', async () => {
    const { replicator: r } = replicator();
    const block = randomBlock(64 * 1024);
    const holders = await r.putBlock(block.id, block.bytes, live);
    const loser = peerOf(holders[1]!);
    await loser.store.delete(block.id);
    expect(await holdersOf(block.id)).toHaveLength(2);

    const repaired = (await r.repairBlock(block.id, holders, live)).holders;
    expect(repaired).toEqual(placeBlock(block.id, live, 3));
    sameSet(await holdersOf(block.id), repaired);
    for (const holder of repaired) {
      const stored = await peerOf(holder).store.get(block.id);
      expect(Buffer.from(stored)).toEqual(Buffer.from(block.bytes));
    }
  });

  it('copies from a holder outside the placement to every placed peer', async () => {
    const { replicator: r } = replicator();
    const block = randomBlock();
    const outsider = rankPeers(block.id, live)[4]!;
    await net.client.put(
      outsider,
      block.id,
      block.bytes,
      net.capability(outsider, [block.id], ['put']),
    );
    const repaired = (await r.repairBlock(block.id, [outsider], live)).holders;
    const placed = placeBlock(block.id, live, 3);
    expect(repaired).toEqual(
      rankPeers(block.id, live).filter((peer) => [...placed, outsider].includes(peer)),
    );
    for (const peer of placed) {
      expect(Buffer.from(await peerOf(peer).store.get(block.id))).toEqual(Buffer.from(block.bytes));
    }
  });

  it('replaces a bad replica and a dead placed peer with the next candidates', async () => {
    const { replicator: r, badPeers } = replicator();
    const peers = [...live, dead];
    const block = blockRanking(dead, peers, 3);
    const holders = await r.putBlock(block.id, block.bytes, peers);
    const rotten = holders[0]!;
    peerOf(rotten).lying = true;
    try {
      const repaired = (await r.repairBlock(block.id, holders, peers)).holders;
      expect(repaired).not.toContain(rotten);
      expect(repaired).not.toContain(dead);
      expect(repaired.length).toBeGreaterThanOrEqual(3);
    } finally {
      peerOf(rotten).lying = false;
    }
    expect(badPeers.map(([peer]) => peer)).toContain(rotten);
  });

  it('audits with challenges: a holder that claims the block but serves other bytes is caught and replaced', async () => {
    const { replicator: r, badPeers } = replicator();
    const block = randomBlock(32 * 1024);
    const holders = await r.putBlock(block.id, block.bytes, live);
    // The lowest-ranked holder rots, so the verified copy comes from the best one.
    const rotten = holders[2]!;
    peerOf(rotten).lying = true;
    try {
      // Asked with `has`, it says yes: nothing to do, nothing noticed.
      const asked = await r.repairBlock(block.id, holders, live);
      expect(asked.copied).toEqual([]);
      expect(asked.holders).toContain(rotten);
      expect(badPeers).toEqual([]);

      const audited = await r.repairBlock(block.id, holders, live, { audit: true });
      expect(audited.bad).toEqual([rotten]);
      expect(badPeers).toEqual([[rotten, 'audit']]);
      expect(audited.copied).toHaveLength(1);
      expect(audited.holders).not.toContain(rotten);
      expect(audited.holders).toHaveLength(3);
      const fresh = peerOf(audited.copied[0]!);
      expect(Buffer.from(await fresh.store.get(block.id))).toEqual(Buffer.from(block.bytes));
    } finally {
      peerOf(rotten).lying = false;
    }
  });

  it('audits with challenges: a holder that says it has the block but cannot prove it is caught', async () => {
    const { replicator: r, badPeers } = replicator();
    const block = randomBlock(32 * 1024);
    const holders = await r.putBlock(block.id, block.bytes, live);
    // The lowest-ranked holder dropped its copy and still claims it (a hollow peer).
    const hollow = holders[2]!;
    await peerOf(hollow).store.delete(block.id);
    peerOf(hollow).claimsAll = true;
    try {
      const asked = await r.repairBlock(block.id, holders, live);
      expect(asked.copied).toEqual([]);
      expect(badPeers).toEqual([]);

      const audited = await r.repairBlock(block.id, holders, live, { audit: true });
      expect(audited.bad).toEqual([hollow]);
      expect(badPeers).toEqual([[hollow, 'audit']]);
      expect(audited.holders).not.toContain(hollow);
      expect(audited.holders).toHaveLength(3);
    } finally {
      peerOf(hollow).claimsAll = false;
    }
  });

  it('audits a holder that lost its copy and says so: copied again, nobody reported', async () => {
    const { replicator: r, badPeers } = replicator();
    const block = randomBlock(32 * 1024);
    const holders = await r.putBlock(block.id, block.bytes, live);
    await peerOf(holders[2]!).store.delete(block.id);
    const audited = await r.repairBlock(block.id, holders, live, { audit: true });
    expect(audited.bad).toEqual([]);
    expect(badPeers).toEqual([]);
    expect(audited.copied).toEqual([holders[2]]);
    expect(Buffer.from(await peerOf(holders[2]!).store.get(block.id))).toEqual(
      Buffer.from(block.bytes),
    );
  });

  it('audits a healthy block without copying anything', async () => {
    const { replicator: r, badPeers } = replicator();
    const block = randomBlock();
    const holders = await r.putBlock(block.id, block.bytes, live);
    const audited = await r.repairBlock(block.id, holders, live, { audit: true });
    expect(audited).toEqual({ holders, copied: [], bad: [] });
    expect(badPeers).toEqual([]);
  });

  it('throws unavailable when no copy can be read', async () => {
    const { replicator: r } = replicator();
    await expectKindAsync('unavailable', r.repairBlock(randomBlock().id, [live[0]!], live));
  });
});

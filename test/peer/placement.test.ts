/**
 * Rendezvous placement: deterministic, uniform, and stable when peers leave or join.
 */
import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { labelBytes, labels } from '../../src/crypto/labels.js';
import { type BlockId, blockIdFromBytes, blockIdToBytes } from '../../src/interface/ids.js';
import type { PeerAddress } from '../../src/peer/block-client.js';
import { placeBlock, placementScore, rankPeers } from '../../src/peer/placement.js';
import { expectKind } from '../helpers/expect-error.js';

const peerAt = (index: number): PeerAddress => ({
  address: `10.0.0.${index}:7000`,
  key: new Uint8Array(randomBytes(32)),
});
const peersOf = (count: number): PeerAddress[] =>
  Array.from({ length: count }, (_, i) => peerAt(i));
const randomBlockId = (): BlockId => blockIdFromBytes(randomBytes(32));
const blocksOf = (count: number): BlockId[] => Array.from({ length: count }, randomBlockId);
/** A placement as a set of key texts, for comparing placements across peer lists. */
const keysOf = (peers: readonly PeerAddress[]): Set<string> =>
  new Set(peers.map((peer) => Buffer.from(peer.key).toString('base64url')));

describe('placeBlock', () => {
  it('scores SHA-256(label 0x00 || block id || key) and ranks the highest first', () => {
    const peers = peersOf(8);
    const block = randomBlockId();
    const expected = createHash('sha256')
      .update(labelBytes(labels.placement))
      .update(blockIdToBytes(block))
      .update(peers[0]!.key)
      .digest();
    expect(Buffer.from(placementScore(block, peers[0]!.key))).toEqual(expected);
    const ranked = rankPeers(block, peers);
    const scores = ranked.map((peer) => Buffer.from(placementScore(block, peer.key)));
    for (let i = 1; i < scores.length; i++) {
      expect(Buffer.compare(scores[i - 1]!, scores[i]!)).toBe(1);
    }
    expect(placeBlock(block, peers, 3)).toEqual(ranked.slice(0, 3));
  });

  it('is deterministic, whatever the order of the peer list', () => {
    const peers = peersOf(12);
    for (const block of blocksOf(50)) {
      const placed = placeBlock(block, peers, 3);
      expect(placeBlock(block, peers, 3)).toEqual(placed);
      expect(placeBlock(block, [...peers].reverse(), 3)).toEqual(placed);
      expect(placeBlock(block, [...peers.slice(5), ...peers.slice(0, 5)], 3)).toEqual(placed);
    }
  });

  it('returns every peer, ranked, when replicas exceed the peers', () => {
    const peers = peersOf(2);
    const block = randomBlockId();
    const placed = placeBlock(block, peers, 5);
    expect(placed).toHaveLength(2);
    expect(keysOf(placed)).toEqual(keysOf(peers));
    expect(placeBlock(block, [], 3)).toEqual([]);
    expect(placeBlock(block, peers, 0)).toEqual([]);
  });

  it('counts a peer listed twice once', () => {
    const peers = peersOf(3);
    const placed = placeBlock(randomBlockId(), [...peers, ...peers], 6);
    expect(placed).toHaveLength(3);
    expect(keysOf(placed)).toEqual(keysOf(peers));
  });

  it('refuses a replica count that is not a non-negative integer', () => {
    for (const replicas of [-1, 1.5, Number.NaN]) {
      expectKind('invalid', () => placeBlock(randomBlockId(), peersOf(3), replicas));
    }
  });

  it('spreads 10,000 blocks over 20 peers evenly (each within 25% of the mean)', () => {
    const peers = peersOf(20);
    const counts = new Map<PeerAddress, number>(peers.map((peer) => [peer, 0]));
    const replicas = 3;
    const blocks = blocksOf(10_000);
    for (const block of blocks) {
      for (const peer of placeBlock(block, peers, replicas)) {
        counts.set(peer, counts.get(peer)! + 1);
      }
    }
    const mean = (blocks.length * replicas) / peers.length;
    for (const count of counts.values()) {
      expect(count).toBeGreaterThanOrEqual(mean * 0.75);
      expect(count).toBeLessThanOrEqual(mean * 1.25);
    }
  });

  it('moves only the blocks a departed peer held, each by one replica', () => {
    const peers = peersOf(20);
    const gone = peers[7]!;
    const remaining = peers.filter((peer) => peer !== gone);
    const goneKey = Buffer.from(gone.key).toString('base64url');
    let held = 0;
    for (const block of blocksOf(2_000)) {
      const before = keysOf(placeBlock(block, peers, 3));
      const after = keysOf(placeBlock(block, remaining, 3));
      if (!before.has(goneKey)) {
        expect(after).toEqual(before);
        continue;
      }
      held += 1;
      // The other two stay; one new peer replaces the one that left.
      expect([...after].filter((key) => before.has(key))).toHaveLength(2);
      expect(after.size).toBe(3);
    }
    expect(held).toBeGreaterThan(0);
  });

  it('moves about R/N of the blocks to a joining peer, and only to it', () => {
    const peers = peersOf(20);
    const joined = peerAt(99);
    const joinedKey = Buffer.from(joined.key).toString('base64url');
    const blocks = blocksOf(5_000);
    let changed = 0;
    for (const block of blocks) {
      const before = keysOf(placeBlock(block, peers, 3));
      const after = keysOf(placeBlock(block, [...peers, joined], 3));
      if ([...after].every((key) => before.has(key))) continue;
      changed += 1;
      // The only newcomer in a changed placement is the peer that joined, replacing one.
      expect(after.has(joinedKey)).toBe(true);
      expect([...after].filter((key) => before.has(key))).toHaveLength(2);
    }
    const expected = (blocks.length * 3) / 21;
    expect(changed).toBeGreaterThan(expected * 0.75);
    expect(changed).toBeLessThan(expected * 1.25);
  });
});

/**
 * Block placement by rendezvous (highest-random-weight) hashing (DESIGN.md section 8).
 *
 * Every peer gets a score for every block, SHA-256(label "peervault/v1/placement\0" || block id
 * bytes || peer key), and a block lives on the peers with the highest scores. A peer's score for
 * a block does not depend on which other peers exist, so when a peer leaves, only the blocks it
 * held move (each to the next peer in its ranking), and when a peer joins it takes only the
 * blocks where it outscores a current holder: about R/N of them. Every peer computes the same
 * placement from the same peer list, with no coordination and no state.
 *
 * The scores are not secret and need not be: a peer could grind keys to rank high for some
 * blocks, but the worst it can do is hold them, and every read is verified (block-client.ts).
 */
import { createHash } from 'node:crypto';
import { FsError } from '../interface/errors.js';
import { type BlockId, blockIdToBytes } from '../interface/ids.js';
import { labelBytes, labels } from '../crypto/labels.js';
import type { PeerAddress } from './block-client.js';

const placementLabel = labelBytes(labels.placement);

/** The rendezvous score of `peerKey` for the block whose raw id is `idBytes` (32 bytes). */
function scoreOf(idBytes: Uint8Array, peerKey: Uint8Array): Buffer {
  return createHash('sha256').update(placementLabel).update(idBytes).update(peerKey).digest();
}

/**
 * The rendezvous score of a peer for a block: SHA-256(labelBytes(labels.placement) || block id
 * bytes || peer key), compared as a 32-byte big-endian number (higher is better).
 */
export function placementScore(block: BlockId, peerKey: Uint8Array): Uint8Array {
  return new Uint8Array(scoreOf(blockIdToBytes(block), peerKey));
}

/**
 * Every peer, best first, for `block`: the full ranking that {@link placeBlock} takes the top of,
 * and that writers and readers walk past the placed peers when those fail. Peers listed twice
 * (the same key) count once, so a block is never "replicated" onto one peer twice.
 * Deterministic: the order of `peers` does not matter (ties, which need a SHA-256 collision or a
 * repeated key, fall back to comparing the key and then the address).
 */
export function rankPeers(block: BlockId, peers: readonly PeerAddress[]): PeerAddress[] {
  const idBytes = blockIdToBytes(block);
  const scored = peers.map((peer) => ({ peer, score: scoreOf(idBytes, peer.key) }));
  scored.sort(
    (a, b) =>
      Buffer.compare(b.score, a.score) ||
      Buffer.compare(Buffer.from(a.peer.key), Buffer.from(b.peer.key)) ||
      (a.peer.address < b.peer.address ? -1 : a.peer.address > b.peer.address ? 1 : 0),
  );
  const seen = new Set<string>();
  const ranked: PeerAddress[] = [];
  for (const { peer } of scored) {
    const key = Buffer.from(peer.key).toString('base64url');
    if (seen.has(key)) continue;
    seen.add(key);
    ranked.push(peer);
  }
  return ranked;
}

/**
 * The peers that should hold `block`: the `min(replicas, peers)` highest rendezvous scores,
 * best first. Deterministic, and stable under churn (see the module comment).
 * @throws FsError `invalid` when `replicas` is not a non-negative integer
 */
export function placeBlock(
  block: BlockId,
  peers: readonly PeerAddress[],
  replicas: number,
): PeerAddress[] {
  if (!Number.isSafeInteger(replicas) || replicas < 0) {
    throw new FsError('invalid', 'replicas is a non-negative integer', { op: 'placement' });
  }
  return rankPeers(block, peers).slice(0, replicas);
}

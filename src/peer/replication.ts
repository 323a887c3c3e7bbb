/**
 * Replication of blocks over peers (DESIGN.md section 8): each block goes to the R peers that
 * rendezvous hashing places it on (placement.ts), reads verify and fail over, and a block with
 * missing replicas can be repaired.
 *
 * Failures are expected, not exceptional: a peer that cannot be reached, is full or refuses is
 * passed over for the next peer in the block's ranking. A peer that serves bytes which are not
 * the block (the client re-hashes every read) is reported through `onBadPeer` and never trusted
 * for that read; the bytes never get out. Every call to a peer goes through one limiter, so the
 * replicator never has more than `concurrency` transfers in flight, whatever mix of puts, gets
 * and repairs is running.
 */
import type { AbortOptions } from '../interface/block-store.js';
import { FsError } from '../interface/errors.js';
import { type BlockId, shortId } from '../interface/ids.js';
import type { BlockOp } from '../wire/capability.js';
import { randomBytes } from 'node:crypto';
import { constantTimeEqual } from '../crypto/bytes.js';
import {
  type BlockClient,
  challengeProof,
  type PeerAddress,
  wasUnreachable,
} from './block-client.js';
import { rankPeers } from './placement.js';

/**
 * Why a peer was reported as bad: it served bytes that are not the block (`integrity`), or it
 * could not prove for a fresh challenge a block it claimed to hold (`audit`: a wrong proof, or
 * no such block while `has` says yes).
 */
export type BadPeerReason = 'integrity' | 'audit';

/** Settings and components of {@link createReplicator}. */
export interface ReplicatorInit {
  /** The block protocol client (only the calls replication uses, so tests can wrap it). */
  client: Pick<BlockClient, 'put' | 'get' | 'has' | 'challenge'>;
  /**
   * A capability for `ops` on `blocks` addressed to `peer` (the user's agent signs it). Called
   * once per request, so it may issue short-lived ones.
   */
  capability(peer: PeerAddress, blocks: readonly BlockId[], ops: readonly BlockOp[]): Uint8Array;
  /** Copies of each block; default 3. Fewer when fewer peers are live. */
  replicas?: number;
  /**
   * Acknowledgements a put needs to succeed; default `replicas`. Capped by the number of live
   * peers, so a small network still accepts writes (with a warning).
   */
  writeQuorum?: number;
  /** Most transfers (put, get, has) in flight at once; default 8. */
  concurrency?: number;
  /**
   * Called for a peer that served bytes that are not block `id` (or failed its challenge for
   * it). Must not throw.
   */
  onBadPeer?(peer: PeerAddress, reason: BadPeerReason, id: BlockId): void;
  /** Called for a peer that could not be reached at all (see `wasUnreachable`). Must not throw. */
  onUnreachable?(peer: PeerAddress): void;
  /** Called for conditions a person should know about (too few peers). Must not throw. */
  onWarning?(message: string): void;
}

/** What {@link Replicator.repairBlock} found and did. */
export interface RepairOutcome {
  /** The peers now known to hold the block, in placement order. */
  holders: PeerAddress[];
  /** The peers that were given a copy. */
  copied: PeerAddress[];
  /** The peers that served bad bytes or failed a challenge (already reported). */
  bad: PeerAddress[];
}

/** Options of {@link Replicator.repairBlock}. */
export interface RepairOptions extends AbortOptions {
  /**
   * Audit instead of asking: read a verified copy first, then challenge every placed peer with
   * a fresh nonce (block-client.ts `challengeProof`); a peer that cannot prove it holds the
   * block counts as not holding it, and one that answers wrongly is reported. So is one that
   * says it has no such block yet answers `has` with yes: it claims a block it does not hold
   * (an honest peer answers both from one store, so it never says both).
   */
  audit?: boolean;
}

/** One block to store: its id and its sealed bytes (whole, or parts in order). */
export interface BlockToPut {
  id: BlockId;
  parts: Uint8Array | readonly Uint8Array[];
}

/** Stores, reads and repairs replicated blocks. */
export interface Replicator {
  /**
   * Stores a block on its placed peers among `peers` (the live ones). A peer that fails is
   * replaced by the next one in the block's ranking, so up to `replicas` copies are made.
   * @returns the peers that acknowledged, in placement order
   * @throws FsError `unavailable` with fewer than the write quorum of acknowledgements (the
   *   message says how many of how many); `invalid` for a block no peer could take (too large)
   */
  putBlock(
    id: BlockId,
    parts: Uint8Array | readonly Uint8Array[],
    peers: readonly PeerAddress[],
    options?: AbortOptions,
  ): Promise<PeerAddress[]>;
  /**
   * Reads a block, trying `peers` in placement order (best first) and returning the first
   * bytes that hash to `id`. Pass the block's known holders when they are known; every peer
   * given may be asked, so passing the whole network makes a missing block cost one request
   * per peer.
   * @throws FsError `integrity` when some peer served bad bytes and none served good ones;
   *   `unavailable` otherwise
   */
  getBlock(id: BlockId, peers: readonly PeerAddress[], options?: AbortOptions): Promise<Uint8Array>;
  /**
   * {@link Replicator.putBlock} for many blocks, at most `concurrency` transfers at a time.
   * Stops starting new blocks at the first failure, waits for those in flight, and throws it.
   * @returns each block's holders, in the order of `blocks`
   */
  putBlocks(
    blocks: readonly BlockToPut[],
    peers: readonly PeerAddress[],
    options?: AbortOptions,
  ): Promise<PeerAddress[][]>;
  /**
   * {@link Replicator.getBlock} for many blocks, at most `concurrency` transfers at a time.
   * @returns the blocks' bytes, in the order of `ids`
   */
  getBlocks(
    ids: readonly BlockId[],
    peers: readonly PeerAddress[],
    options?: AbortOptions,
  ): Promise<Uint8Array[]>;
  /**
   * Makes sure the block has `replicas` live holders (fewer when fewer peers are live): asks
   * the placed peers whether they hold it, reads a verified copy from one that does (or from a
   * live peer of `holders`), and copies it to each placed peer that does not, passing over
   * unreachable peers to the next in the ranking. `has` answers are taken at their word unless
   * `options.audit` asks for challenges; a peer that serves bad bytes is reported and not
   * counted. Fewer than `replicas` holders (too few peers took a copy) comes with a warning.
   * @throws FsError `integrity` or `unavailable` when no verified copy could be read
   */
  repairBlock(
    id: BlockId,
    holders: readonly PeerAddress[],
    live: readonly PeerAddress[],
    options?: RepairOptions,
  ): Promise<RepairOutcome>;
}

/** Defaults of {@link ReplicatorInit}. */
export const replicationDefaults = { replicas: 3, concurrency: 8 } as const;

/** A counting semaphore: `run` waits for one of `limit` slots. */
function createLimiter(limit: number): <T>(task: () => Promise<T>) => Promise<T> {
  let active = 0;
  const waiting: (() => void)[] = [];
  return async (task) => {
    if (active >= limit) await new Promise<void>((resolve) => waiting.push(resolve));
    else active += 1;
    try {
      return await task();
    } finally {
      // Hand the slot straight to the next waiter, so `active` never drops and rises again.
      const next = waiting.shift();
      if (next === undefined) active -= 1;
      else next();
    }
  };
}

/**
 * Maps `items` with at most `width` calls of `fn` running, preserving order. On the first
 * failure no new item starts; the ones running are awaited (no transfer is left dangling), then
 * the failure is thrown.
 */
async function mapPool<T, R>(
  items: readonly T[],
  width: number,
  fn: (item: T) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  let failure: { error: unknown } | undefined;
  const worker = async (): Promise<void> => {
    while (failure === undefined && next < items.length) {
      const index = next++;
      try {
        results[index] = await fn(items[index]!);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(width, items.length) }, worker));
  if (failure !== undefined) throw failure.error;
  return results;
}

const keyText = (peer: PeerAddress): string => Buffer.from(peer.key).toString('base64url');

/** Rethrows an abort (the caller's decision, never a peer's fault) and anything not an FsError. */
function rethrowUnlessPeerFailure(error: unknown, signal: AbortSignal | undefined): FsError {
  if (signal?.aborted === true) throw signal.reason;
  if (!(error instanceof FsError)) throw error;
  return error;
}

function positiveInteger(value: number, name: string, min: number): number {
  if (!Number.isSafeInteger(value) || value < min) {
    throw new FsError('invalid', `${name} is an integer of at least ${min}`, { op: 'replication' });
  }
  return value;
}

/** Creates a replicator over `init.client`. */
export function createReplicator(init: ReplicatorInit): Replicator {
  const replicas = positiveInteger(init.replicas ?? replicationDefaults.replicas, 'replicas', 1);
  const writeQuorum = positiveInteger(init.writeQuorum ?? replicas, 'writeQuorum', 1);
  if (writeQuorum > replicas) {
    throw new FsError('invalid', 'writeQuorum is at most replicas', { op: 'replication' });
  }
  const concurrency = positiveInteger(
    init.concurrency ?? replicationDefaults.concurrency,
    'concurrency',
    1,
  );
  const limit = createLimiter(concurrency);
  const { client } = init;

  // One warning per shortage rather than one per block: a put of a large file would otherwise
  // repeat it thousands of times. It is armed again once enough peers are back.
  let warnedShort = false;
  const copiesFor = (live: number): number => {
    if (live >= replicas) {
      warnedShort = false;
      return replicas;
    }
    if (!warnedShort) {
      warnedShort = true;
      init.onWarning?.(
        `only ${live} live peer${live === 1 ? '' : 's'} for ${replicas} replicas: ` +
          `blocks get ${live} cop${live === 1 ? 'y' : 'ies'} until more peers join`,
      );
    }
    return live;
  };

  const putTo = (
    peer: PeerAddress,
    id: BlockId,
    parts: BlockToPut['parts'],
    options: AbortOptions,
  ): Promise<void> =>
    limit(() => client.put(peer, id, parts, init.capability(peer, [id], ['put']), options));

  /**
   * Puts the block on `slots` peers of `ranking`: each slot walks the ranking (shared, in
   * order) until a peer acknowledges or none is left, so failures are replaced by the next
   * candidates while the first `slots` go out in parallel.
   */
  const fill = async (
    id: BlockId,
    parts: BlockToPut['parts'],
    ranking: readonly PeerAddress[],
    slots: number,
    options: AbortOptions,
  ): Promise<{
    acked: Set<PeerAddress>;
    tried: number;
    unreachable: number;
    lastError?: FsError;
  }> => {
    const acked = new Set<PeerAddress>();
    let next = 0;
    let unreachable = 0;
    let lastError: FsError | undefined;
    const slot = async (): Promise<void> => {
      while (next < ranking.length) {
        const peer = ranking[next++]!;
        try {
          await putTo(peer, id, parts, options);
          acked.add(peer);
          return;
        } catch (error) {
          lastError = rethrowUnlessPeerFailure(error, options.signal);
          if (wasUnreachable(lastError)) {
            unreachable += 1;
            init.onUnreachable?.(peer);
          }
          // Our own mistake (a block too large): every other peer would refuse it too.
          if (lastError.kind === 'invalid') throw lastError;
        }
      }
    };
    await Promise.all(Array.from({ length: slots }, slot));
    return { acked, tried: next, unreachable, ...(lastError === undefined ? {} : { lastError }) };
  };

  /** The peers of `ranking` that are in `chosen`, in ranking order. */
  const inOrder = (ranking: readonly PeerAddress[], chosen: ReadonlySet<PeerAddress>) =>
    ranking.filter((peer) => chosen.has(peer));

  /** Whether `peer` says (`has`) it holds block `id`; an unreachable peer says no. */
  const claims = async (peer: PeerAddress, id: BlockId, options: AbortOptions) => {
    try {
      return await limit(() => client.has(peer, id, init.capability(peer, [id], ['has']), options));
    } catch (error) {
      rethrowUnlessPeerFailure(error, options.signal);
      return false;
    }
  };

  /**
   * In the background, once a read moved past `peer`'s "no such block": asks it `has`, and a
   * yes that a second read still does not back is a false claim, reported (`audit`) as an
   * audit would. An honest peer answers both from one store; the second read lets a copy that
   * arrived in between (another agent's repair) pass. Never delays the read; never throws.
   */
  const checkClaim = (peer: PeerAddress, id: BlockId): void => {
    void (async () => {
      if (!(await claims(peer, id, {}))) return;
      try {
        await limit(() => client.get(peer, id, init.capability(peer, [id], ['get']), {}));
      } catch (error) {
        if (error instanceof FsError && error.kind === 'not-exist') {
          init.onBadPeer?.(peer, 'audit', id);
        }
      }
    })().catch(() => undefined);
  };

  /**
   * Reads a verified copy, trying `peers` best first. Reports (and lists in `bad`) every peer
   * that served bytes which are not the block.
   */
  const read = async (
    id: BlockId,
    peers: readonly PeerAddress[],
    options: AbortOptions,
    bad: PeerAddress[] = [],
  ): Promise<{ bytes: Uint8Array; from: PeerAddress }> => {
    const op = 'replication.get';
    let lastError: FsError | undefined;
    for (const peer of rankPeers(id, peers)) {
      try {
        const bytes = await limit(() =>
          client.get(peer, id, init.capability(peer, [id], ['get']), options),
        );
        return { bytes, from: peer };
      } catch (error) {
        lastError = rethrowUnlessPeerFailure(error, options.signal);
        if (wasUnreachable(lastError)) init.onUnreachable?.(peer);
        if (lastError.kind === 'integrity') {
          bad.push(peer);
          init.onBadPeer?.(peer, 'integrity', id);
        }
        if (lastError.kind === 'not-exist') checkClaim(peer, id);
        // Anything else (unreachable, not-exist, refused) just means: ask the next replica.
      }
    }
    const cause = lastError === undefined ? {} : { cause: lastError };
    if (bad.length > 0) {
      throw new FsError('integrity', `no peer served a verified copy of ${shortId(id)}`, {
        op,
        ...cause,
      });
    }
    throw new FsError('unavailable', `no peer could serve block ${shortId(id)}`, { op, ...cause });
  };

  /**
   * Challenges `peer` to prove it holds `bytes` (the block `id`) for a fresh nonce: `proved`,
   * `wrong` (it answered, but not with the proof: it does not hold these bytes), `absent` (it
   * says it has no such block), or `unanswered` (unreachable, or any other refusal).
   */
  const prove = async (
    peer: PeerAddress,
    id: BlockId,
    bytes: Uint8Array,
    options: AbortOptions,
  ): Promise<'proved' | 'wrong' | 'absent' | 'unanswered'> => {
    const nonce = new Uint8Array(randomBytes(32));
    try {
      const proof = await limit(() =>
        client.challenge(peer, id, nonce, init.capability(peer, [id], ['challenge']), options),
      );
      return constantTimeEqual(proof, challengeProof(nonce, bytes)) ? 'proved' : 'wrong';
    } catch (error) {
      const failure = rethrowUnlessPeerFailure(error, options.signal);
      if (failure.kind === 'integrity') return 'wrong';
      return failure.kind === 'not-exist' ? 'absent' : 'unanswered';
    }
  };

  const replicator: Replicator = {
    async putBlock(id, parts, peers, options = {}) {
      const op = 'replication.put';
      const ranking = rankPeers(id, peers);
      const copies = copiesFor(ranking.length);
      const quorum = Math.min(writeQuorum, ranking.length);
      if (ranking.length === 0) {
        throw new FsError('unavailable', 'no live peers to store blocks on', { op });
      }
      const { acked, tried, unreachable, lastError } = await fill(
        id,
        parts,
        ranking,
        copies,
        options,
      );
      // A listed peer that cannot be reached at all is down (the directory notices only after
      // a minute of silence): the quorum counts the peers that are there, so writes go on with
      // fewer copies, and repair restores them once the network changes.
      const reachable = ranking.length - unreachable;
      if (acked.size >= 1 && acked.size < quorum && acked.size >= Math.min(quorum, reachable)) {
        init.onWarning?.(
          // No block id: the same message for every block, so the caller can fold repeats.
          `${acked.size} of ${copies} replicas (` +
            `${unreachable} listed peer${unreachable === 1 ? '' : 's'} unreachable); repair adds the rest later`,
        );
        return inOrder(ranking, acked);
      }
      if (acked.size < quorum) {
        throw new FsError(
          'unavailable',
          `block ${shortId(id)}: ${acked.size} of ${copies} replicas acknowledged ` +
            `(${quorum} needed; ${tried} of ${ranking.length} peers tried)`,
          { op, ...(lastError === undefined ? {} : { cause: lastError }) },
        );
      }
      return inOrder(ranking, acked);
    },

    async getBlock(id, peers, options = {}) {
      return (await read(id, peers, options)).bytes;
    },

    putBlocks(blocks, peers, options = {}) {
      // The limiter bounds transfers; the pool only keeps us from starting every block at once.
      return mapPool(blocks, concurrency, (block) =>
        replicator.putBlock(block.id, block.parts, peers, options),
      );
    },

    getBlocks(ids, peers, options = {}) {
      return mapPool(ids, concurrency, (id) => replicator.getBlock(id, peers, options));
    },

    async repairBlock(id, holders, live, options = {}) {
      const ranking = rankPeers(id, live);
      const copies = copiesFor(ranking.length);
      const placed = ranking.slice(0, copies);
      const liveByKey = new Map(ranking.map((peer) => [keyText(peer), peer]));
      // Live holders, by their entry in the live list (so their current address is used).
      const liveHolders = holders.flatMap((holder) => liveByKey.get(keyText(holder)) ?? []);
      const bad: PeerAddress[] = [];
      let holding: Set<PeerAddress>;
      let copy: { bytes: Uint8Array; from: PeerAddress } | undefined;

      if (options.audit === true) {
        // The verifier needs the bytes to check a proof, so read first (best placed peer on).
        copy = await read(id, [...new Set([...placed, ...liveHolders])], options, bad);
        holding = new Set([copy.from]);
        const others = placed.filter((peer) => peer !== copy!.from && !bad.includes(peer));
        const proofs = await Promise.all(
          others.map((peer) => prove(peer, id, copy!.bytes, options)),
        );
        // No such block, yet `has` says yes: challenged once more, in case a copy (a repair
        // pass of this agent's) arrived in between, before it counts as a false claim.
        const claimed = await Promise.all(
          others.map(async (peer, index) => {
            if (proofs[index] !== 'absent' || !(await claims(peer, id, options))) return false;
            const again = await prove(peer, id, copy!.bytes, options);
            proofs[index] = again;
            return again === 'absent';
          }),
        );
        others.forEach((peer, index) => {
          const answer = proofs[index]!;
          if (answer === 'proved') holding.add(peer);
          else if (answer === 'wrong' || claimed[index] === true) {
            bad.push(peer);
            init.onBadPeer?.(peer, 'audit', id);
          }
        });
      } else {
        // Which placed peers say they hold it; an unreachable one counts as not holding it.
        const said = await Promise.all(placed.map((peer) => claims(peer, id, options)));
        holding = new Set(placed.filter((_, index) => said[index] === true));
        if (holding.size === copies) return { holders: inOrder(ranking, holding), copied: [], bad };
        // A verified copy to spread: from a placed peer that has it, else from a live holder.
        copy = await read(id, [...new Set([...holding, ...liveHolders])], options, bad);
        // A peer that served bad bytes does not hold the block, whatever it says; the one that
        // served good bytes does, whether it is placed or not.
        for (const peer of bad) holding.delete(peer);
        holding.add(copy.from);
      }

      // Copy to the placed peers that lack it, then on down the ranking past failures; never
      // to a peer that already holds it or just served bad bytes or a wrong proof.
      const placedHolding = placed.filter((peer) => holding.has(peer)).length;
      const missing = copies - placedHolding;
      const candidates = ranking.filter((peer) => !holding.has(peer) && !bad.includes(peer));
      const { acked } =
        missing === 0
          ? { acked: new Set<PeerAddress>() }
          : await fill(id, copy.bytes, candidates, missing, options);
      const known = new Set([...holding, ...acked]);
      if (known.size < copies) {
        init.onWarning?.(`block ${shortId(id)}: repaired to ${known.size} of ${copies} replicas`);
      }
      return { holders: inOrder(ranking, known), copied: inOrder(ranking, acked), bad };
    },
  };
  return replicator;
}

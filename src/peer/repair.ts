/**
 * Repair (DESIGN.md section 8): bringing every block of a user's files back to R verified
 * replicas, as a pass that can be run by hand (`peervault repair`) or by the scheduler below
 * when the set of live peers changes.
 *
 * Only the owner's agent knows which blocks a file uses (the lists are sealed in the entries),
 * so a pass runs for a logged-in session: it walks the user's files (client/inventory.ts) and
 * asks the replicator to repair each block, with the user's capabilities.
 */
import { randomInt } from 'node:crypto';
import { FsError } from '../interface/errors.js';
import type { BlockId, FileId } from '../interface/ids.js';
import { fingerprint } from '../crypto/identity.js';
import type { PeerAddress } from './block-client.js';
import type { Replicator } from './replication.js';

/** What a pass did (the local API answers it as JSON). */
export interface RepairSummary {
  files: number;
  blocks: number;
  /** Copies made to bring blocks back to R replicas. */
  copies: number;
  /** Blocks left with fewer than R replicas (too few peers took a copy). */
  short: number;
  /** Blocks with no verified copy on any live peer. */
  lost: number;
  /** Peers that served bad bytes or failed a challenge, by fingerprint. */
  badPeers: string[];
  /** File versions whose block list could not be opened (see client/inventory.ts). */
  unreadableVersions: number;
  ms: number;
}

/** One file's blocks, as the inventory yields them. */
export interface RepairTarget {
  file: FileId;
  blocks: readonly BlockId[];
  unreadable: number;
}

/** What a pass needs. */
export interface RepairPassDeps {
  files: AsyncIterable<RepairTarget>;
  /** A replicator whose capabilities name `file` (they are per file). */
  replicatorFor(file: FileId): Replicator;
  /** The live peers, asked once per file (so a long pass follows the network). */
  live(): Promise<PeerAddress[]>;
  /** Copies each block should have (to count blocks left short). */
  replicas: number;
  audit?: boolean;
  /**
   * The share of blocks to take (0 < sample ≤ 1, default 1: all), each drawn at random on its
   * own: a scheduled audit checks a sample, so a peer cannot know which blocks it will be asked
   * to prove and must keep them all. Blocks left out are not counted.
   */
  sample?: number;
  /** Blocks repaired at once. */
  concurrency?: number;
  signal?: AbortSignal;
}

/** Runs one repair pass. Failures of single blocks are counted, never thrown. */
export async function repairPass(deps: RepairPassDeps): Promise<RepairSummary> {
  const started = Date.now();
  const summary: RepairSummary = {
    files: 0,
    blocks: 0,
    copies: 0,
    short: 0,
    lost: 0,
    badPeers: [],
    unreadableVersions: 0,
    ms: 0,
  };
  const bad = new Set<string>();
  const sample = deps.sample ?? 1;
  if (!(sample > 0 && sample <= 1)) {
    throw new FsError('invalid', `an audit sample is a share from 0 to 1, not ${sample}`, {
      op: 'repair',
    });
  }
  for await (const target of deps.files) {
    deps.signal?.throwIfAborted();
    summary.files += 1;
    summary.unreadableVersions += target.unreadable;
    const live = await deps.live();
    const wanted = Math.min(deps.replicas, live.length);
    const replicator = deps.replicatorFor(target.file);
    const queue = target.blocks.filter(
      () => sample >= 1 || randomInt(0, 2 ** 32) < sample * 2 ** 32,
    );
    const worker = async (): Promise<void> => {
      for (let id = queue.shift(); id !== undefined; id = queue.shift()) {
        summary.blocks += 1;
        try {
          const outcome = await replicator.repairBlock(id, live, live, {
            audit: deps.audit === true,
            ...(deps.signal ? { signal: deps.signal } : {}),
          });
          summary.copies += outcome.copied.length;
          if (outcome.holders.length < wanted) summary.short += 1;
          for (const peer of outcome.bad) bad.add(fingerprint(peer.key));
        } catch (error) {
          deps.signal?.throwIfAborted();
          if (!(error instanceof FsError)) throw error;
          summary.lost += 1;
        }
      }
    };
    await Promise.all(Array.from({ length: deps.concurrency ?? 4 }, worker));
  }
  summary.badPeers = [...bad].sort();
  summary.ms = Date.now() - started;
  return summary;
}

/** Settings of {@link startRepairScheduler}. */
export interface RepairSchedulerInit {
  /** The live peers' keys (base64url), from the directory's list. */
  livePeers(): Promise<string[]>;
  /** Runs a pass for every logged-in session. */
  runPasses(): Promise<void>;
  /**
   * How long a peer must have been gone from the live list before its blocks are copied
   * elsewhere: a restart or a short outage should not cause a storm of copies.
   */
  graceMs: number;
  /** How often to look at the live list. */
  intervalMs: number;
  onError(error: unknown): void;
}

/**
 * Watches the live peer set and runs repair passes when it has changed for good: a peer that
 * joined (blocks move to it by placement) at once, a peer that left once it has been gone for
 * the grace period. Passes never overlap.
 */
export function startRepairScheduler(init: RepairSchedulerInit): { stop(): void } {
  /** The peer set the last pass (or the start) saw. */
  let baseline: Set<string> | undefined;
  /** Peers of the baseline gone from the live list, and since when. */
  const goneSince = new Map<string, number>();
  let running = false;

  const tick = async (): Promise<void> => {
    if (running) return;
    running = true;
    try {
      const now = Date.now();
      const current = new Set(await init.livePeers());
      if (baseline === undefined) {
        baseline = current;
        return;
      }
      for (const key of baseline)
        if (!current.has(key) && !goneSince.has(key)) goneSince.set(key, now);
      for (const key of goneSince.keys()) if (current.has(key)) goneSince.delete(key);
      const joined = [...current].some((key) => !baseline!.has(key));
      const departedForGood = [...goneSince.values()].some((since) => now - since >= init.graceMs);
      if (!joined && !departedForGood) return;
      await init.runPasses();
      // Peers still within their grace period stay in the baseline, so they are looked at again.
      baseline = new Set([
        ...current,
        ...[...goneSince].filter(([, since]) => now - since < init.graceMs).map(([key]) => key),
      ]);
      for (const [key, since] of goneSince) if (now - since >= init.graceMs) goneSince.delete(key);
    } catch (error) {
      init.onError(error);
    } finally {
      running = false;
    }
  };
  const timer = setInterval(() => void tick(), init.intervalMs);
  timer.unref();
  void tick();
  return { stop: () => clearInterval(timer) };
}

/** Scheduled audits unless told otherwise: every 6 hours, a 5 % sample of the blocks. */
export const auditDefaults = { everyMs: 6 * 60 * 60 * 1000, sample: 0.05 } as const;

/**
 * Runs `runAudits` every `everyMs`, the first time after a random part of it (so peers that
 * start together do not audit together), never two at once; `everyMs` 0 schedules nothing.
 * Why scheduled: a freeloading peer that keeps nothing is caught by reads only for blocks that
 * are read, and by `repair --audit` only when someone runs it; cold data needs a routine check.
 */
export function startAuditSchedule(
  settings: { everyMs: number },
  runAudits: () => Promise<void>,
): { stop(): void } {
  if (settings.everyMs === 0) return { stop: () => undefined };
  let running = false;
  let timer: NodeJS.Timeout;
  const tick = () => {
    timer = setTimeout(tick, settings.everyMs);
    timer.unref();
    if (running) return;
    running = true;
    void runAudits()
      .catch(() => undefined) // each user's failure is logged where it happens
      .finally(() => {
        running = false;
      });
  };
  timer = setTimeout(tick, randomInt(0, Math.max(1, settings.everyMs)));
  timer.unref();
  return { stop: () => clearTimeout(timer) };
}

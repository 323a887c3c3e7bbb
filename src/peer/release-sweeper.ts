/**
 * Garbage collection, the peer's half (DESIGN.md section 4): reads the directory's log of block
 * releases in order and deletes the blocks they name, each only when the release's signer
 * stored it under the release's file (block-refs.ts).
 *
 * Trust: the directory only carries the log. Every release is verified here against its user's
 * current signing key (from their verified key log), and a block is deleted only when our own
 * record says that user stored it under that file. So the directory, or another user, can at
 * worst withhold a release (which wastes space); it cannot make us delete anyone's block.
 *
 * Progress (the last `seq` fully processed) is kept in a small state file, written atomically
 * after each page. Reprocessing after a crash is harmless: a release whose blocks were deleted
 * and forgotten matches nothing any more, and deleting an absent block is fine.
 *
 * Security-sensitive: this module deletes stored blocks.
 */
import type { AbortOptions, BlockStore } from '../interface/block-store.js';
import { FsError, isFsError } from '../interface/errors.js';
import type { UserName } from '../interface/names.js';
import { fromBase64url } from '../wire/base64.js';
import {
  type BlockRelease,
  decodeBlockReleaseUnverified,
  openBlockRelease,
} from '../wire/block-release.js';
import { maxReleaseBytes, type ReleasesResponse } from '../wire/directory-api.js';
import { readIfExists, writeFileAtomic } from '../support/key-files.js';
import type { BlockRefs } from './block-refs.js';

/** One release as read from the directory's log. */
export interface LoggedRelease {
  /** Its position in the log (strictly increasing). */
  seq: number;
  /** The signed `block-release` envelope. */
  envelope: Uint8Array;
}

/** A page of the log: releases with `seq` greater than the `after` asked for, in order. */
export interface ReleasePage {
  releases: readonly LoggedRelease[];
  /** The `after` that reads the next page (the last `seq` on this one). */
  next: number;
}

/** What one sweep did. */
export interface SweepSummary {
  /** Blocks deleted. */
  released: number;
  /** Releases skipped because they did not verify (or their user is unknown). */
  refused: number;
}

/** What {@link startReleaseSweeper} needs; narrow, so tests can hand in memory fakes. */
export interface ReleaseSweeperInit {
  /**
   * The releases after `after`, from the directory.
   * @throws anything: the sweep stops and is tried again next interval
   */
  fetchPage(after: number, options?: AbortOptions): Promise<ReleasePage>;
  /**
   * The current signing key of `user`, from their verified key log.
   * @throws FsError `not-exist` (unknown user) or `integrity` (a log that does not verify):
   *   the release is refused; any other error stops the sweep until next interval
   */
  userKey(user: UserName): Promise<Uint8Array>;
  /** Who stored each block. */
  refs: Pick<BlockRefs, 'matches' | 'forget'>;
  store: Pick<BlockStore, 'delete'>;
  /** Where the last processed `seq` is kept (JSON, written atomically). */
  statePath: string;
  /** How often to sweep. The first sweep runs one interval after the start. */
  intervalMs: number;
  /** Where events go: never block contents, never keys. Must not throw. */
  log(event: Record<string, unknown>): void;
}

/** A running sweeper. */
export interface ReleaseSweeper {
  /**
   * Sweeps now. Never two at once: while a sweep runs, this returns that sweep.
   * @throws what the sweep met (already logged as `release.sweep-failed`); FsError
   *   `unavailable` once stopped
   */
  sweepNow(): Promise<SweepSummary>;
  /** Stops the timer and waits for a running sweep to end (it ends early); idempotent. */
  stop(): Promise<void>;
}

/**
 * A page as the directory answers it (`GET /v1/releases`), decoded. An envelope that is not
 * valid base64url becomes an empty one, which the sweeper refuses like any other bad release,
 * so one bad entry cannot stall the log.
 * @throws FsError `integrity` when the answer is not a page at all
 */
export function releasePageOf(answer: ReleasesResponse): ReleasePage {
  const op = 'release.page';
  if (
    typeof answer !== 'object' ||
    answer === null ||
    !Array.isArray(answer.releases) ||
    !Number.isSafeInteger(answer.next)
  ) {
    throw new FsError('integrity', 'the directory answered a malformed page of releases', { op });
  }
  return {
    next: answer.next,
    releases: answer.releases.map((entry) => {
      if (!Number.isSafeInteger(entry.seq)) {
        throw new FsError('integrity', 'the directory answered a release without a seq', { op });
      }
      let envelope: Uint8Array;
      try {
        envelope = fromBase64url(entry.envelope, 'release', { maxBytes: maxReleaseBytes });
      } catch {
        envelope = new Uint8Array(0);
      }
      return { seq: entry.seq, envelope };
    }),
  };
}

const kindOf = (error: unknown): string => (error instanceof FsError ? error.kind : 'internal');

/** Reads the last processed `seq`; a missing or unreadable state starts from 0 (harmless). */
function loadCursor(init: ReleaseSweeperInit): number {
  const path = init.statePath;
  const bytes = readIfExists(path);
  if (bytes === undefined) return 0;
  try {
    const state = JSON.parse(bytes.toString('utf8')) as { v?: unknown; after?: unknown };
    if (state.v === 1 && Number.isSafeInteger(state.after) && (state.after as number) >= 0) {
      return state.after as number;
    }
  } catch {
    // Falls through: reprocessing the log from the start deletes nothing twice.
  }
  init.log({ event: 'release.state-unreadable', path });
  return 0;
}

/**
 * Starts sweeping the release log every `intervalMs`. Failures (the directory down, a disk
 * error) are logged as `release.sweep-failed` and retried at the next interval.
 */
export function startReleaseSweeper(init: ReleaseSweeperInit): ReleaseSweeper {
  let cursor = loadCursor(init);
  let saved = cursor;
  let stopped = false;
  let running: Promise<SweepSummary> | undefined;

  const save = (): void => {
    if (cursor === saved) return;
    writeFileAtomic(init.statePath, JSON.stringify({ v: 1, after: cursor }) + '\n');
    saved = cursor;
  };

  /** Verifies one release, or returns undefined when it is refused. */
  const verify = async (entry: LoggedRelease): Promise<BlockRelease | undefined> => {
    let claimed: BlockRelease;
    try {
      claimed = decodeBlockReleaseUnverified(entry.envelope);
    } catch (error) {
      init.log({ event: 'release.refused', seq: entry.seq, kind: kindOf(error) });
      return undefined;
    }
    let key: Uint8Array;
    try {
      key = await init.userKey(claimed.user);
    } catch (error) {
      // Anything but "no such user" or "their key log does not verify" may pass: stop and retry.
      if (!isFsError(error, 'not-exist', 'integrity', 'invalid')) throw error;
      init.log({ event: 'release.refused', seq: entry.seq, user: claimed.user, kind: error.kind });
      return undefined;
    }
    try {
      return openBlockRelease(entry.envelope, key);
    } catch (error) {
      init.log({
        event: 'release.refused',
        seq: entry.seq,
        user: claimed.user,
        kind: kindOf(error),
      });
      return undefined;
    }
  };

  const sweep = async (): Promise<SweepSummary> => {
    const summary: SweepSummary = { released: 0, refused: 0 };
    try {
      for (;;) {
        const page = await init.fetchPage(cursor);
        for (const entry of page.releases) {
          if (stopped) return summary;
          // Out of order or already seen: a directory bug or a replay; nothing to do twice.
          if (!Number.isSafeInteger(entry.seq) || entry.seq <= cursor) continue;
          const release = await verify(entry);
          if (release === undefined) {
            summary.refused += 1;
          } else {
            let released = 0;
            for (const id of release.blocks) {
              // Only the user who stored the block, under this file, may release it.
              if (!init.refs.matches(id, release.user, release.file)) continue;
              await init.store.delete(id);
              // Forgotten after the delete: a crash in between leaves the record, and the
              // release is read again (the state is saved per page), so the block still goes.
              init.refs.forget(id);
              released += 1;
            }
            summary.released += released;
            init.log({
              event: 'block.released',
              seq: entry.seq,
              user: release.user,
              released,
              kept: release.blocks.length - released,
            });
          }
          cursor = entry.seq;
        }
        if (page.releases.length === 0) return summary;
        // The directory's `next` may skip ahead (it may withhold releases anyway), never back.
        if (Number.isSafeInteger(page.next) && page.next > cursor) cursor = page.next;
        save();
      }
    } catch (error) {
      init.log({ event: 'release.sweep-failed', kind: kindOf(error) });
      throw error;
    } finally {
      // What was processed in full is not processed again, whatever ended the sweep.
      try {
        save();
      } catch (error) {
        init.log({ event: 'release.sweep-failed', kind: kindOf(error), op: 'release.save' });
      }
    }
  };

  const sweepNow = (): Promise<SweepSummary> => {
    if (stopped) {
      return Promise.reject(
        new FsError('unavailable', 'the release sweeper is stopped', { op: 'release.sweep' }),
      );
    }
    running ??= sweep().finally(() => {
      running = undefined;
    });
    return running;
  };

  const timer = setInterval(() => {
    sweepNow().catch(() => {
      // Logged by the sweep; tried again at the next interval.
    });
  }, init.intervalMs);
  timer.unref();

  return {
    sweepNow,
    async stop() {
      stopped = true;
      clearInterval(timer);
      await running?.catch(() => undefined);
    },
  };
}

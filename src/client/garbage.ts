/**
 * Garbage collection, the owner's half (DESIGN.md section 4): entries that have been in the
 * trash longer than the owner's retention (their own setting at the directory, or the
 * directory's default) are purged for good, and the blocks of their retained versions are
 * released first, in signed block releases (wire/block-release.ts) that peers read from the
 * directory's log and act on.
 *
 * Order matters: releases go out before the purge, because after the purge nobody can learn
 * the block ids any more (they are sealed in the versions the purge deletes). A crash between
 * the two leaves an entry in the trash whose blocks may be gone: the next pass purges it. The
 * user asked for it to go, so nothing they wanted is lost.
 */
import { FsError, isFsError } from '../interface/errors.js';
import type { FileId } from '../interface/ids.js';
import { toBase64url } from '../wire/base64.js';
import { maxReleaseBlocks, signBlockRelease } from '../wire/block-release.js';
import { type EntryResponse, type RetentionResponse, routes } from '../wire/directory-api.js';
import { blocksOfFile } from './inventory.js';
import { type AgentContext, openOwnTrashEntry, type ResolvedEntry } from './namespace.js';

/** What a pass did. */
export interface GarbageSummary {
  /** Trash entries purged for good. */
  purged: number;
  /** Blocks named in releases. */
  releasedBlocks: number;
  /**
   * Trash entries not yet past retention, or protected from purge by an unread alert (a burst
   * of deletions, docs/monitor.md).
   */
  kept: number;
}

type TrashAnswer = EntryResponse & { id: FileId };

/** Whether `value` is a retention period: a whole, non-negative number of milliseconds. */
function isRetention(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

/**
 * The caller's own trash retention as the directory keeps it, with its default and bounds.
 * @throws FsError `unavailable` when the directory's answer is not one
 */
export async function ownRetention(ctx: AgentContext): Promise<RetentionResponse> {
  return checkedRetention(
    await ctx.directory.call<RetentionResponse>('GET', routes.retention, undefined, ctx.session),
  );
}

/**
 * Sets how long the caller's deleted entries stay in their trash (null: the directory's
 * default again). @throws FsError `invalid` outside the directory's bounds
 */
export async function setOwnRetention(
  ctx: AgentContext,
  retentionMs: number | null,
): Promise<RetentionResponse> {
  return checkedRetention(
    await ctx.directory.call<RetentionResponse>(
      'PUT',
      routes.retention,
      { retentionMs },
      ctx.session,
    ),
  );
}

function checkedRetention(answer: RetentionResponse): RetentionResponse {
  const { retentionMs, defaultMs, minMs, maxMs } = answer as Partial<RetentionResponse>;
  if (
    !(retentionMs === null || isRetention(retentionMs)) ||
    !isRetention(defaultMs) ||
    !isRetention(minMs) ||
    !isRetention(maxMs)
  ) {
    throw new FsError('unavailable', 'the directory answered no valid retention period', {
      op: 'retention',
    });
  }
  return { retentionMs, defaultMs, minMs, maxMs };
}

/**
 * Purges the caller's trash entries deleted at least their retention ago, releasing their
 * blocks first. The retention is the caller's own setting at the directory
 * (`peervault retention`), or `options.retentionMs` when they set none: the directory's default
 * (InfoResponse.retentionMs), or 0 to purge everything. Entries whose blocks cannot be listed
 * (their versions do not open) are purged too: their blocks could never be read again.
 */
export async function collectGarbage(
  ctx: AgentContext,
  options: { retentionMs: number; now: number; only?: FileId },
): Promise<GarbageSummary> {
  // The retention comes from the directory, trusted as far as the directory is (it could purge
  // entries itself), but a missing or nonsensical value must not purge the whole trash at once.
  if (!isRetention(options.retentionMs)) {
    throw new FsError(
      'unavailable',
      'the directory announces no valid retention period; garbage collection is skipped',
      { op: 'gc' },
    );
  }
  const retentionMs = (await ownRetention(ctx)).retentionMs ?? options.retentionMs;
  const { entries } = await ctx.directory.call<{ entries: TrashAnswer[] }>(
    'GET',
    routes.trash,
    undefined,
    ctx.session,
  );
  const summary: GarbageSummary = { purged: 0, releasedBlocks: 0, kept: 0 };
  for (const answer of entries) {
    if (options.only !== undefined && answer.id !== options.only) continue;
    if (answer.deletedAt === null || answer.deletedAt + retentionMs > options.now) {
      summary.kept += 1;
      continue;
    }
    try {
      summary.releasedBlocks += await purgeForGood(ctx, await openOwnTrashEntry(ctx, answer));
    } catch (err) {
      // Protected after a burst of deletions: kept until the owner acknowledges the alert; a
      // purge of this one entry (`only`) says so to whoever asked.
      if (options.only !== undefined || !isFsError(err, 'conflict')) throw err;
      summary.kept += 1;
      continue;
    }
    summary.purged += 1;
  }
  return summary;
}

/**
 * Purges one entry of the caller's trash for good: releases the blocks of every version of a
 * file, then deletes the entry and its history at the directory.
 * @returns how many blocks were released
 */
export async function purgeForGood(ctx: AgentContext, entry: ResolvedEntry): Promise<number> {
  let released = 0;
  if (entry.body.kind === 'file') {
    const { blocks } = await blocksOfFile(ctx, entry);
    for (let start = 0; start < blocks.length; start += maxReleaseBlocks) {
      const release = signBlockRelease(ctx.session.identity.signing, {
        user: ctx.session.user,
        file: entry.body.id,
        blocks: blocks.slice(start, start + maxReleaseBlocks),
        time: Date.now(),
      });
      await ctx.directory.call(
        'POST',
        routes.releases,
        { envelope: toBase64url(release) },
        ctx.session,
      );
    }
    released = blocks.length;
  }
  await ctx.directory.call(
    'DELETE',
    routes.trashEntry.replace(':id', entry.body.id),
    undefined,
    ctx.session,
  );
  return released;
}

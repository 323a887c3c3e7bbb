/**
 * Garbage collection, the owner's half (DESIGN.md section 4): entries that have been in the
 * trash longer than the retention period are purged for good, and the blocks of their retained
 * versions are released first, in signed block releases (wire/block-release.ts) that peers read
 * from the directory's log and act on.
 *
 * Order matters: releases go out before the purge, because after the purge nobody can learn
 * the block ids any more (they are sealed in the versions the purge deletes). A crash between
 * the two leaves an entry in the trash whose blocks may be gone: the next pass purges it. The
 * user asked for it to go, so nothing they wanted is lost.
 */
import { FsError } from '../interface/errors.js';
import type { FileId } from '../interface/ids.js';
import { toBase64url } from '../wire/base64.js';
import { maxReleaseBlocks, signBlockRelease } from '../wire/block-release.js';
import { type EntryResponse, routes } from '../wire/directory-api.js';
import { blocksOfFile } from './inventory.js';
import { type AgentContext, openOwnTrashEntry, type ResolvedEntry } from './namespace.js';

/** What a pass did. */
export interface GarbageSummary {
  /** Trash entries purged for good. */
  purged: number;
  /** Blocks named in releases. */
  releasedBlocks: number;
  /** Trash entries not yet past retention. */
  kept: number;
}

type TrashAnswer = EntryResponse & { id: FileId };

/**
 * Purges the caller's trash entries deleted at least `retentionMs` ago (all of them with 0),
 * releasing their blocks first. Entries whose blocks cannot be listed (their versions do not
 * open) are purged too: their blocks could never be read again.
 */
export async function collectGarbage(
  ctx: AgentContext,
  options: { retentionMs: number; now: number; only?: FileId },
): Promise<GarbageSummary> {
  // The retention comes from the directory, trusted as far as the directory is (it could purge
  // entries itself), but a missing or nonsensical value must not purge the whole trash at once.
  const retention: unknown = options.retentionMs;
  if (typeof retention !== 'number' || !Number.isSafeInteger(retention) || retention < 0) {
    throw new FsError(
      'unavailable',
      'the directory announces no valid retention period; garbage collection is skipped',
      { op: 'gc' },
    );
  }
  const { entries } = await ctx.directory.call<{ entries: TrashAnswer[] }>(
    'GET',
    routes.trash,
    undefined,
    ctx.session,
  );
  const summary: GarbageSummary = { purged: 0, releasedBlocks: 0, kept: 0 };
  for (const answer of entries) {
    if (options.only !== undefined && answer.id !== options.only) continue;
    if (answer.deletedAt === null || answer.deletedAt + options.retentionMs > options.now) {
      summary.kept += 1;
      continue;
    }
    summary.releasedBlocks += await purgeForGood(ctx, await openOwnTrashEntry(ctx, answer));
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

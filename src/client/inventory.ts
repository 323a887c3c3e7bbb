/**
 * The blocks a user's files use: every retained version of every file in their own tree, read
 * from the directory and opened with the file keys. Only the owner's agent can compute this
 * (the block lists are sealed in each version's meta), so repair passes and garbage collection
 * are driven by it.
 *
 * A version whose meta does not open (the directory forged or damaged it) cannot name blocks:
 * it is counted in `unreadable` and skipped rather than trusted.
 */
import type { BlockId, FileId } from '../interface/ids.js';
import { formatPath } from '../interface/paths.js';
import { fromBase64url } from '../wire/base64.js';
import { decodeDirEntryUnverified } from '../wire/dir-entry.js';
import { routes } from '../wire/directory-api.js';
import { openFileMeta } from './file-codec.js';
import { type AgentContext, type ResolvedEntry, walkOwnTree } from './namespace.js';

/** One file's blocks, over all its retained versions. */
export interface FileBlocks {
  file: FileId;
  path: string;
  /** Distinct block ids, current version's first. */
  blocks: BlockId[];
  /** Versions whose meta did not open under the file key (not trusted, not counted). */
  unreadable: number;
}

interface VersionAnswer {
  version: number;
  envelope: string;
}

/** Yields the blocks of each file in the caller's own tree, one file at a time. */
export async function* ownFileBlocks(ctx: AgentContext): AsyncGenerator<FileBlocks> {
  for await (const entry of walkOwnTree(ctx)) {
    if (entry.body.kind === 'file') yield await blocksOfFile(ctx, entry);
  }
}

/** The distinct blocks of every retained version of one file (its entry resolved, with key). */
export async function blocksOfFile(ctx: AgentContext, entry: ResolvedEntry): Promise<FileBlocks> {
  const { versions } = await ctx.directory.call<{ versions: VersionAnswer[] }>(
    'GET',
    routes.versions.replace(':id', entry.body.id),
    undefined,
    ctx.session,
  );
  const blocks = new Set<BlockId>();
  let unreadable = 0;
  // Newest first, so the blocks a reader needs now come first.
  const newestFirst = [...versions].sort((a, b) => b.version - a.version);
  for (const answer of newestFirst) {
    try {
      const body = decodeDirEntryUnverified(fromBase64url(answer.envelope, 'envelope'));
      if (body.id !== entry.body.id || body.kind !== 'file' || body.meta.length === 0) continue;
      // The meta is sealed under the file key and bound to the id and version: it opens only
      // if the owner or a writer made it, whatever the directory says about the envelope.
      const meta = openFileMeta(entry.key, { fileId: body.id, version: body.version }, body.meta);
      for (const id of meta.blocks) blocks.add(id);
    } catch {
      unreadable += 1;
    }
  }
  return { file: entry.body.id, path: formatPath(entry.path), blocks: [...blocks], unreadable };
}

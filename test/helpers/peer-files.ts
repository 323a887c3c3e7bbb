/**
 * What end-to-end tests look at around real peers: the block ids on a peer's disk, a file read
 * whole through a local API, and waiting for something that happens in the background.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { LocalApi } from '../../src/cli/local-api.js';

/** The block ids in a peer's disk store (`DATA/store/blocks/<shard>/<id>`). */
export function blockIdsOn(peer: { data: string }): Set<string> {
  const root = join(peer.data, 'store', 'blocks');
  return new Set(
    readdirSync(root, { withFileTypes: true })
      .filter((shard) => shard.isDirectory())
      .flatMap((shard) => readdirSync(join(root, shard.name))),
  );
}

/** The path of one block file on a peer's disk. */
export function blockFileOn(peer: { data: string }, id: string): string {
  return join(peer.data, 'store', 'blocks', id.slice(0, 2), id);
}

/** Reads a whole file through a local API. */
export async function readAll(api: LocalApi, path: string): Promise<Buffer> {
  const file = await api.readFile(path);
  const chunks: Buffer[] = [];
  for await (const chunk of file.body as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks);
}

/** Polls `check` every 250 ms until it holds. @throws after `timeoutMs` */
export async function until(check: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/**
 * The agent's file verbs end to end, in one process: a real directory over HTTPS and three real
 * block peers over mutual TLS, with R=3 replication. Content round-trips byte for byte, every
 * version is a new set of blocks, a rotten replica is survived, and removals go to the trash.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DirectoryClient } from '../../src/client/directory-client.js';
import { type FileContext, readFile, removeFile, stat, writeFile } from '../../src/client/files.js';
import { openFileMeta } from '../../src/client/file-codec.js';
import { mkdir, resolve } from '../../src/client/namespace.js';
import { parseUserName } from '../../src/interface/names.js';
import { parsePath } from '../../src/interface/paths.js';
import { rankPeers } from '../../src/peer/placement.js';
import { createReplicator } from '../../src/peer/replication.js';
import { corruptForTesting } from '../helpers/block-stores.js';
import { type BlockNetwork, startBlockNetwork } from '../helpers/block-network.js';
import { goodPassword, startTestDirectory, type TestDirectory } from '../helpers/directory.js';
import { expectKindAsync } from '../helpers/expect-error.js';

// eslint-disable-next-line @typescript-eslint/require-await -- a source with nothing to wait for
async function* pieces(bytes: Uint8Array, size = 100_000): AsyncIterable<Uint8Array> {
  for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size);
}

async function collect(stream: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  for await (const part of stream) parts.push(part);
  return Buffer.concat(parts);
}

describe('file verbs over a directory and three peers', () => {
  let dir: TestDirectory;
  let net: BlockNetwork;
  let client: DirectoryClient;
  let ctx: FileContext;
  const badPeers: string[] = [];
  const p = (text: string) => parsePath(text, parseUserName('alice'));

  beforeAll(async () => {
    dir = await startTestDirectory('sqlite');
    net = await startBlockNetwork(3);
    client = await dir.client();
    await client.register('alice', goodPassword('alice'));
    const session = await client.login('alice', goodPassword('alice'));
    const replicator = createReplicator({
      client: net.client,
      capability: net.capability,
      replicas: 3,
      onBadPeer: (peer) => badPeers.push(peer.address),
    });
    const live = () => net.peers.map((peer) => peer.address);
    ctx = {
      directory: client,
      session,
      blocks: {
        putBlock: async (_file, id, parts) => void (await replicator.putBlock(id, parts, live())),
        getBlock: (_file, id) => replicator.getBlock(id, live()),
      },
    };
    await mkdir(ctx, p('/alice/pcs'));
  }, 60_000);
  afterAll(async () => {
    await net?.close();
    await dir?.stop();
  });

  it('writes and reads back a small file, byte for byte', async () => {
    const text = Buffer.from('the seed says: touch team5.txt\n');
    const written = await writeFile(ctx, p('/alice/pcs/team5.txt'), pieces(text));
    expect(written).toEqual({ version: 1, size: text.length });
    const read = await readFile(ctx, p('/alice/pcs/team5.txt'));
    expect(Buffer.compare(await collect(read.content), text)).toBe(0);
    expect((await stat(ctx, p('/alice/pcs/team5.txt'))).size).toBe(text.length);
  });

  it('streams a 5 MiB file through 3 replicas and back', async () => {
    const data = new Uint8Array(randomBytes(5 * 1024 * 1024 + 123));
    let progress = 0;
    await writeFile(ctx, p('/alice/big.bin'), pieces(data, 333_333), {
      onProgress: (bytes) => (progress = bytes),
    });
    expect(progress).toBe(data.length);
    const read = await readFile(ctx, p('/alice/big.bin'));
    expect(Buffer.compare(await collect(read.content), Buffer.from(data))).toBe(0);
    for (const peer of net.peers)
      expect((await peer.store.usage()).blocks).toBeGreaterThanOrEqual(6);
  });

  it('makes a new version on every write and reads the newest', async () => {
    for (let v = 1; v <= 4; v++)
      await writeFile(ctx, p('/alice/notes.txt'), pieces(Buffer.from(`version ${v}`)));
    const read = await readFile(ctx, p('/alice/notes.txt'));
    expect(read.version).toBe(4);
    expect((await collect(read.content)).toString()).toBe('version 4');
  });

  it('reads correct bytes when two of three replicas have rotted, reporting exactly the bad peers it tried', async () => {
    const data = Buffer.from(randomBytes(200_000));
    await writeFile(ctx, p('/alice/rot.bin'), pieces(data));
    const entry = await resolve(ctx, p('/alice/rot.bin'));
    const [block] = openFileMeta(
      entry.key,
      { fileId: entry.body.id, version: entry.body.version },
      entry.body.meta,
    ).blocks;
    const rotten = net.peers.slice(0, 2);
    const flipped = (bytes: Uint8Array) => {
      const copy = Uint8Array.from(bytes);
      copy[0]! ^= 1;
      return copy;
    };
    for (const peer of rotten) corruptForTesting(peer.store, block!, flipped);
    badPeers.length = 0;
    const read = await readFile(ctx, p('/alice/rot.bin'));
    expect(Buffer.compare(await collect(read.content), data)).toBe(0);
    // The reader tries replicas best first: every rotten peer ranked above the good one is met and reported.
    const rottenAddresses = rotten.map((peer) => peer.address.address);
    const ranking = rankPeers(
      block!,
      net.peers.map((peer) => peer.address),
    ).map((peer) => peer.address);
    const goodAt = ranking.findIndex((address) => !rottenAddresses.includes(address));
    expect(badPeers.sort()).toEqual(ranking.slice(0, goodAt).sort());
  });

  it('refuses to write under a missing directory or over a directory, and removes into the trash', async () => {
    await expectKindAsync(
      'not-exist',
      writeFile(ctx, p('/alice/nope/x.txt'), pieces(Buffer.from('x'))),
    );
    await expectKindAsync('is-dir', writeFile(ctx, p('/alice/pcs'), pieces(Buffer.from('x'))));
    await writeFile(ctx, p('/alice/gone.txt'), pieces(Buffer.from('bye')));
    await removeFile(ctx, p('/alice/gone.txt'));
    await expectKindAsync('not-exist', readFile(ctx, p('/alice/gone.txt')));
  });
});

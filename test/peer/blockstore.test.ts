/**
 * The block store contract, run against both implementations (disk and memory), then what only
 * the disk store promises: its layout, modes, atomicity, quarantine and reopening.
 */
import { randomBytes } from 'node:crypto';
import {
  mkdir,
  mkdtemp,
  readFile,
  readdir,
  rename,
  rm,
  stat,
  truncate,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { blockIdOf } from '../../src/crypto/block-id.js';
import { joinSealedChunk, sealChunk } from '../../src/crypto/chunk.js';
import { newFileId, newSymmetricKey } from '../../src/crypto/random.js';
import {
  type BlockStore,
  type BlockStoreInit,
  type IntegrityReport,
  maxBlockBytes,
} from '../../src/interface/block-store.js';
import type { BlockId } from '../../src/interface/ids.js';
import { createDiskBlockStore } from '../../src/peer/blockstore/disk-store.js';
import { createMemoryBlockStore } from '../../src/peer/blockstore/memory-store.js';
import { corruptForTesting } from '../helpers/block-stores.js';
import { expectKindAsync, flipByte } from '../helpers/expect-error.js';

/** A real sealed chunk: what a peer is given to store. */
interface Block {
  id: BlockId;
  parts: readonly Uint8Array[];
  bytes: Uint8Array;
}

function sealedBlock(plaintext: Uint8Array = randomBytes(1000)): Block {
  const chunk = sealChunk(
    newSymmetricKey(),
    { fileId: newFileId(), version: 1, index: 0, final: true },
    plaintext,
  );
  // A plain Uint8Array (joinSealedChunk gives a Buffer), so that equality checks compare bytes.
  const bytes = Uint8Array.from(joinSealedChunk(chunk));
  return { id: blockIdOf(chunk.parts), parts: chunk.parts, bytes };
}

/** Sealed blocks of the same size, so that capacities can be counted in blocks. */
function sealedBlocks(count: number): Block[] {
  return Array.from({ length: count }, () => sealedBlock());
}

const blockSize = sealedBlock().bytes.length;

async function collect(ids: AsyncIterable<BlockId>): Promise<BlockId[]> {
  const out: BlockId[] = [];
  for await (const id of ids) out.push(id);
  return out.sort();
}

/** How a test opens a store of one kind and damages a stored block behind its back. */
interface StoreKind {
  open(init: BlockStoreInit): Promise<BlockStore>;
  corrupt(store: BlockStore, id: BlockId, mutate: (bytes: Uint8Array) => Uint8Array): Promise<void>;
}

let root: string | undefined;
const diskDirs = new Map<BlockStore, string>();

async function freshDir(): Promise<string> {
  root ??= await mkdtemp(join(tmpdir(), 'pv-blocks-'));
  return mkdtemp(join(root, 'store-'));
}

/** Where the disk store keeps a block (the layout is part of what is tested). */
function blockFile(dir: string, id: BlockId): string {
  return join(dir, 'blocks', id.slice(0, 2), id);
}

function dirOf(store: BlockStore): string {
  const dir = diskDirs.get(store);
  if (dir === undefined) throw new Error('not a disk store of this suite');
  return dir;
}

const disk: StoreKind = {
  async open(init) {
    const dir = await freshDir();
    const store = await createDiskBlockStore({ ...init, dir });
    diskDirs.set(store, dir);
    return store;
  },
  async corrupt(store, id, mutate) {
    const file = blockFile(dirOf(store), id);
    await writeFile(file, mutate(new Uint8Array(await readFile(file))));
  },
};

const memory: StoreKind = {
  // async, so that a refused init rejects like the disk store's instead of throwing.
  async open(init) {
    return Promise.resolve(createMemoryBlockStore(init));
  },
  corrupt(store, id, mutate) {
    corruptForTesting(store, id, mutate);
    return Promise.resolve();
  },
};

afterAll(async () => {
  if (root !== undefined) await rm(root, { recursive: true, force: true });
});

describe.each([
  ['disk', disk],
  ['memory', memory],
] as const)('%s block store', (_name, kind) => {
  const roomy = 64 * 1024 * 1024;

  it('gives back what was put, whether put whole or as parts', async () => {
    const store = await kind.open({ capacity: roomy });
    const [whole, inParts] = sealedBlocks(2) as [Block, Block];
    await store.put(whole.id, whole.bytes);
    await store.put(inParts.id, inParts.parts);
    expect(await store.get(whole.id)).toEqual(whole.bytes);
    expect(await store.get(inParts.id)).toEqual(inParts.bytes);
    expect(await store.usage()).toEqual({ blocks: 2, bytes: 2 * blockSize, capacity: roomy });
  });

  it('keeps its own copy: changing the bytes put or got changes nothing stored', async () => {
    const store = await kind.open({ capacity: roomy });
    const block = sealedBlock();
    const given = Uint8Array.from(block.bytes);
    await store.put(block.id, given);
    given.fill(0);
    const got = await store.get(block.id);
    got.fill(0);
    expect(await store.get(block.id)).toEqual(block.bytes);
  });

  it('treats a second put of a stored block as done, even when the store is full', async () => {
    const store = await kind.open({ capacity: blockSize });
    const block = sealedBlock();
    await store.put(block.id, block.bytes);
    await store.put(block.id, block.parts);
    expect(await store.usage()).toEqual({ blocks: 1, bytes: blockSize, capacity: blockSize });
    expect(await collect(store.list())).toEqual([block.id]);
  });

  it('answers has, delete, list and usage', async () => {
    const store = await kind.open({ capacity: roomy });
    const blocks = sealedBlocks(3);
    for (const block of blocks) await store.put(block.id, block.parts);
    const [first, second, third] = blocks as [Block, Block, Block];
    expect(await collect(store.list())).toEqual(blocks.map((b) => b.id).sort());

    await store.delete(second.id);
    await store.delete(second.id); // absent is fine
    expect(await store.has(first.id)).toBe(true);
    expect(await store.has(second.id)).toBe(false);
    expect(await collect(store.list())).toEqual([first.id, third.id].sort());
    expect(await store.usage()).toEqual({ blocks: 2, bytes: 2 * blockSize, capacity: roomy });
    await expectKindAsync('not-exist', store.get(second.id));

    // A deleted block can be put again.
    await store.put(second.id, second.bytes);
    expect(await store.get(second.id)).toEqual(second.bytes);
  });

  it('refuses bytes that do not hash to the id, and stores nothing', async () => {
    const store = await kind.open({ capacity: roomy });
    const [block, other] = sealedBlocks(2) as [Block, Block];
    await expectKindAsync('integrity', store.put(block.id, other.bytes));
    await expectKindAsync('integrity', store.put(block.id, flipByte(block.bytes, 20)));
    await expectKindAsync('integrity', store.put(block.id, [...block.parts].reverse()));
    await expectKindAsync('integrity', store.put(block.id, block.bytes.subarray(1)));
    expect(await store.has(block.id)).toBe(false);
    expect(await collect(store.list())).toEqual([]);
    expect(await store.usage()).toEqual({ blocks: 0, bytes: 0, capacity: roomy });
  });

  it('refuses a block larger than maxBlockBytes as invalid', async () => {
    const store = await kind.open({ capacity: 4 * maxBlockBytes });
    const huge = new Uint8Array(maxBlockBytes + 1);
    const id = blockIdOf(huge);
    await expectKindAsync('invalid', store.put(id, huge));
    await expectKindAsync('invalid', store.put(id, [huge.subarray(0, 10), huge.subarray(10)]));
    expect(await store.has(id)).toBe(false);

    const largest = new Uint8Array(maxBlockBytes);
    await store.put(blockIdOf(largest), largest);
    expect((await store.get(blockIdOf(largest))).length).toBe(maxBlockBytes);
  });

  it('refuses a put beyond its capacity as unavailable, and stores nothing', async () => {
    const store = await kind.open({ capacity: 3 * blockSize });
    const blocks = sealedBlocks(4);
    const [a, b, c, d] = blocks as [Block, Block, Block, Block];
    for (const block of [a, b, c]) await store.put(block.id, block.bytes);
    await expectKindAsync('unavailable', store.put(d.id, d.bytes));
    expect(await store.has(d.id)).toBe(false);
    expect(await store.usage()).toEqual({
      blocks: 3,
      bytes: 3 * blockSize,
      capacity: 3 * blockSize,
    });

    // Deleting makes room again.
    await store.delete(a.id);
    await store.put(d.id, d.bytes);
    expect(await store.get(d.id)).toEqual(d.bytes);
  });

  it('says not-exist for an absent block and invalid for a malformed id', async () => {
    const store = await kind.open({ capacity: roomy });
    await expectKindAsync('not-exist', store.get(sealedBlock().id));
    const bad = '../../../../etc/passwd' as BlockId;
    await expectKindAsync('invalid', store.get(bad));
    await expectKindAsync('invalid', store.has(bad));
    await expectKindAsync('invalid', store.delete(bad));
    await expectKindAsync('invalid', store.put(bad, new Uint8Array(1)));
  });

  it('refuses invalid capacities', async () => {
    await expectKindAsync('invalid', kind.open({ capacity: -1 }));
    await expectKindAsync('invalid', kind.open({ capacity: Number.NaN }));
  });

  describe('a block damaged in storage', () => {
    async function damaged(
      mutate: (bytes: Uint8Array) => Uint8Array,
    ): Promise<{ store: BlockStore; block: Block; other: Block; reports: IntegrityReport[] }> {
      const reports: IntegrityReport[] = [];
      const store = await kind.open({
        capacity: roomy,
        onIntegrityFailure: (r) => reports.push(r),
      });
      const [block, other] = sealedBlocks(2) as [Block, Block];
      await store.put(block.id, block.bytes);
      await store.put(other.id, other.bytes);
      await kind.corrupt(store, block.id, mutate);
      return { store, block, other, reports };
    }

    async function expectRefusedOnce(
      store: BlockStore,
      block: Block,
      reports: IntegrityReport[],
    ): Promise<void> {
      const before = Date.now();
      await expectKindAsync('integrity', store.get(block.id));
      expect(reports.map((r) => [r.id, r.problem])).toEqual([[block.id, 'hash-mismatch']]);
      expect(reports[0]!.at).toBeGreaterThanOrEqual(before);
      expect(reports[0]!.at).toBeLessThanOrEqual(Date.now());
      // Never served again: gone from the store, and not reported again.
      expect(await store.has(block.id)).toBe(false);
      await expectKindAsync('not-exist', store.get(block.id));
      expect(await collect(store.list())).not.toContain(block.id);
      expect(reports).toHaveLength(1);
    }

    it('is refused, reported once and dropped when a bit flipped', async () => {
      const { store, block, other, reports } = await damaged((b) => flipByte(b, 500, 0x10));
      await expectRefusedOnce(store, block, reports);
      expect(await store.usage()).toEqual({ blocks: 1, bytes: blockSize, capacity: roomy });
      expect(await store.get(other.id)).toEqual(other.bytes);

      // Repair: putting the good bytes again stores and serves them.
      await store.put(block.id, block.bytes);
      expect(await store.get(block.id)).toEqual(block.bytes);
      expect(await store.usage()).toEqual({ blocks: 2, bytes: 2 * blockSize, capacity: roomy });
    });

    it('is refused, reported once and dropped when truncated', async () => {
      const { store, block, reports } = await damaged((b) => b.subarray(0, b.length - 7));
      await expectRefusedOnce(store, block, reports);
      expect((await store.usage()).blocks).toBe(1);
    });

    it('is refused, reported once and dropped when emptied', async () => {
      const { store, block, reports } = await damaged(() => new Uint8Array(0));
      await expectRefusedOnce(store, block, reports);
    });

    it('is refused when two blocks swapped places', async () => {
      const reports: IntegrityReport[] = [];
      const store = await kind.open({
        capacity: roomy,
        onIntegrityFailure: (r) => reports.push(r),
      });
      const [a, b] = sealedBlocks(2) as [Block, Block];
      await store.put(a.id, a.bytes);
      await store.put(b.id, b.bytes);
      await kind.corrupt(store, a.id, () => b.bytes);
      await kind.corrupt(store, b.id, () => a.bytes);
      await expectKindAsync('integrity', store.get(a.id));
      await expectKindAsync('integrity', store.get(b.id));
      expect(reports.map((r) => r.id).sort()).toEqual([a.id, b.id].sort());
      expect(await store.usage()).toEqual({ blocks: 0, bytes: 0, capacity: roomy });
    });

    it('is dropped once when many reads find it at the same time', async () => {
      const { store, block, reports } = await damaged((b) => flipByte(b, 3));
      const results = await Promise.allSettled(
        Array.from({ length: 20 }, () => store.get(block.id)),
      );
      const kinds = results.map((r) =>
        r.status === 'rejected' ? (r.reason as { kind?: string }).kind : 'served',
      );
      expect(kinds.every((k) => k === 'integrity' || k === 'not-exist')).toBe(true);
      // One report per read that saw the bad bytes, and the block counted out exactly once.
      expect(reports).toHaveLength(kinds.filter((k) => k === 'integrity').length);
      expect(reports.length).toBeGreaterThanOrEqual(1);
      expect(await store.usage()).toEqual({ blocks: 1, bytes: blockSize, capacity: roomy });
    });
  });

  describe('under concurrency', () => {
    it('stores 50 distinct blocks put at once', async () => {
      const store = await kind.open({ capacity: roomy });
      const blocks = sealedBlocks(50);
      await Promise.all(blocks.map((b) => store.put(b.id, b.parts)));
      expect(await store.usage()).toEqual({ blocks: 50, bytes: 50 * blockSize, capacity: roomy });
      expect(await collect(store.list())).toEqual(blocks.map((b) => b.id).sort());
      for (const b of blocks) expect(await store.get(b.id)).toEqual(b.bytes);
    });

    it('stores one block put 50 times at once, once', async () => {
      const store = await kind.open({ capacity: roomy });
      const block = sealedBlock();
      await Promise.all(Array.from({ length: 50 }, () => store.put(block.id, block.bytes)));
      expect(await store.usage()).toEqual({ blocks: 1, bytes: blockSize, capacity: roomy });
      expect(await store.get(block.id)).toEqual(block.bytes);
    });

    it('never goes past its capacity when puts race for the last room', async () => {
      const store = await kind.open({ capacity: 10 * blockSize });
      const blocks = sealedBlocks(50);
      const results = await Promise.allSettled(blocks.map((b) => store.put(b.id, b.bytes)));
      const stored = results.filter((r) => r.status === 'fulfilled');
      expect(stored).toHaveLength(10);
      for (const r of results) {
        if (r.status === 'rejected')
          expect((r.reason as { kind?: string }).kind).toBe('unavailable');
      }
      expect(await store.usage()).toEqual({
        blocks: 10,
        bytes: 10 * blockSize,
        capacity: 10 * blockSize,
      });
      expect(await collect(store.list())).toHaveLength(10);
    });
  });

  it('does nothing when the signal is already aborted, and throws its reason', async () => {
    const store = await kind.open({ capacity: roomy });
    const block = sealedBlock();
    const reason = new Error('stop');
    const signal = AbortSignal.abort(reason);
    await expect(store.put(block.id, block.bytes, { signal })).rejects.toBe(reason);
    expect(await store.has(block.id)).toBe(false);
    expect(await store.usage()).toEqual({ blocks: 0, bytes: 0, capacity: roomy });

    await store.put(block.id, block.bytes);
    await expect(store.get(block.id, { signal })).rejects.toBe(reason);
    await expect(store.has(block.id, { signal })).rejects.toBe(reason);
    await expect(store.delete(block.id, { signal })).rejects.toBe(reason);
    expect(await store.has(block.id)).toBe(true);
    await expect(collect(store.list({ signal }))).rejects.toBe(reason);
  });

  it('closes idempotently and refuses every call afterwards as unavailable', async () => {
    const store = await kind.open({ capacity: roomy });
    const block = sealedBlock();
    await store.put(block.id, block.bytes);
    await store.close();
    await store.close();
    await expectKindAsync('unavailable', store.put(block.id, block.bytes));
    await expectKindAsync('unavailable', store.get(block.id));
    await expectKindAsync('unavailable', store.has(block.id));
    await expectKindAsync('unavailable', store.delete(block.id));
    await expectKindAsync('unavailable', store.usage());
    await expectKindAsync('unavailable', collect(store.list()));
  });
});

describe('disk block store only', () => {
  const capacity = 64 * 1024 * 1024;

  async function openAt(dir: string, init: Partial<BlockStoreInit> = {}): Promise<BlockStore> {
    return createDiskBlockStore({ capacity, ...init, dir });
  }

  async function filesUnder(dir: string): Promise<string[]> {
    const entries = await readdir(dir, { recursive: true, withFileTypes: true });
    return entries.filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name));
  }

  let dir: string;
  beforeAll(async () => {
    dir = await freshDir();
  });

  it('keeps each block, exactly as sealed, in blocks/<two characters of its id>/<id>', async () => {
    const here = await freshDir();
    const store = await openAt(here);
    const marker = new TextEncoder().encode('PLAINTEXT-MARKER '.repeat(60));
    const block = sealedBlock(marker);
    await store.put(block.id, block.parts);
    expect(new Uint8Array(await readFile(blockFile(here, block.id)))).toEqual(block.bytes);
    expect(await filesUnder(here)).toEqual([blockFile(here, block.id)]);
    // The store is only ever given sealed bytes: nothing it writes holds the plaintext.
    for (const file of await filesUnder(here)) {
      expect(Buffer.from(await readFile(file)).includes(Buffer.from(marker.subarray(0, 32)))).toBe(
        false,
      );
    }
  });

  it('makes its directories 0700 and its files 0600', async () => {
    const here = await freshDir();
    const store = await openAt(here, { onIntegrityFailure: () => undefined });
    const [good, bad] = sealedBlocks(2) as [Block, Block];
    await store.put(good.id, good.bytes);
    await store.put(bad.id, bad.bytes);
    await writeFile(blockFile(here, bad.id), flipByte(bad.bytes, 40));
    await expectKindAsync('integrity', store.get(bad.id));

    const mode = async (path: string): Promise<number> => (await stat(path)).mode & 0o777;
    for (const sub of ['', 'blocks', 'tmp', 'quarantine', join('blocks', good.id.slice(0, 2))]) {
      expect(await mode(join(here, sub)), sub).toBe(0o700);
    }
    const files = await filesUnder(here);
    expect(files).toHaveLength(2);
    for (const file of files) expect(await mode(file), file).toBe(0o600);
  });

  it('moves a block that fails verification to quarantine/, bytes intact for examination', async () => {
    const here = await freshDir();
    const reports: IntegrityReport[] = [];
    const store = await openAt(here, { onIntegrityFailure: (r) => reports.push(r) });
    const block = sealedBlock();
    await store.put(block.id, block.bytes);
    const damaged = flipByte(block.bytes, 100);
    await writeFile(blockFile(here, block.id), damaged);
    await expectKindAsync('integrity', store.get(block.id));

    const quarantined = await readdir(join(here, 'quarantine'));
    expect(quarantined).toHaveLength(1);
    expect(quarantined[0]!.startsWith(`${block.id}.`)).toBe(true);
    expect(new Uint8Array(await readFile(join(here, 'quarantine', quarantined[0]!)))).toEqual(
      damaged,
    );
    expect(reports).toHaveLength(1);

    // A reopened store does not count or list it either.
    await store.close();
    const reopened = await openAt(here);
    expect(await reopened.usage()).toEqual({ blocks: 0, bytes: 0, capacity });
    expect(await collect(reopened.list())).toEqual([]);
  });

  it('refuses block files swapped on disk, and a file too large to be a block', async () => {
    const here = await freshDir();
    const reports: IntegrityReport[] = [];
    const store = await openAt(here, { onIntegrityFailure: (r) => reports.push(r) });
    const [a, b, c] = sealedBlocks(3) as [Block, Block, Block];
    for (const block of [a, b, c]) await store.put(block.id, block.bytes);
    const swap = join(here, 'swap');
    await rename(blockFile(here, a.id), swap);
    await rename(blockFile(here, b.id), blockFile(here, a.id));
    await rename(swap, blockFile(here, b.id));
    await expectKindAsync('integrity', store.get(a.id));
    await expectKindAsync('integrity', store.get(b.id));

    await writeFile(blockFile(here, c.id), new Uint8Array(maxBlockBytes + 1));
    await expectKindAsync('integrity', store.get(c.id));
    expect(reports.map((r) => [r.id, r.problem])).toEqual([
      [a.id, 'hash-mismatch'],
      [b.id, 'hash-mismatch'],
      [c.id, 'unreadable'],
    ]);
    expect(await readdir(join(here, 'quarantine'))).toHaveLength(3);
    expect(await collect(store.list())).toEqual([]);
  });

  it('after a crash mid-write, a new instance removes the temporary files and lists nothing', async () => {
    const here = await freshDir();
    const first = await openAt(here);
    const [kept, halfWritten, unrenamed] = sealedBlocks(3) as [Block, Block, Block];
    await first.put(kept.id, kept.bytes);
    // What a crash leaves: a temporary file cut short, and one whole but never renamed.
    await writeFile(
      join(here, 'tmp', `${halfWritten.id}.0a0b0c`),
      halfWritten.bytes.subarray(0, 9),
    );
    await writeFile(join(here, 'tmp', `${unrenamed.id}.0d0e0f`), unrenamed.bytes);

    const second = await openAt(here);
    expect(await readdir(join(here, 'tmp'))).toEqual([]);
    expect(await collect(second.list())).toEqual([kept.id]);
    expect(await second.has(halfWritten.id)).toBe(false);
    expect(await second.has(unrenamed.id)).toBe(false);
    expect(await second.usage()).toEqual({ blocks: 1, bytes: blockSize, capacity });
    expect(await second.get(kept.id)).toEqual(kept.bytes);
  });

  it('leaves no block and no temporary file when a put is aborted after it started', async () => {
    const here = await freshDir();
    const store = await openAt(here);
    const block = sealedBlock();
    const controller = new AbortController();
    const reason = new Error('changed my mind');
    const put = store.put(block.id, block.bytes, { signal: controller.signal });
    controller.abort(reason);
    await expect(put).rejects.toBe(reason);
    expect(await store.has(block.id)).toBe(false);
    expect(await readdir(join(here, 'tmp'))).toEqual([]);
    expect(await store.usage()).toEqual({ blocks: 0, bytes: 0, capacity });
  });

  it('reopened, reports the same usage and serves the same blocks', async () => {
    const first = await openAt(dir, { capacity: 5 * blockSize });
    const blocks = sealedBlocks(5);
    for (const b of blocks) await first.put(b.id, b.parts);
    const before = await first.usage();
    await first.close();

    const second = await openAt(dir, { capacity: 5 * blockSize });
    expect(await second.usage()).toEqual(before);
    expect(await collect(second.list())).toEqual(blocks.map((b) => b.id).sort());
    for (const b of blocks) expect(await second.get(b.id)).toEqual(b.bytes);
    // Still full after the reopen.
    const extra = sealedBlock();
    await expectKindAsync('unavailable', second.put(extra.id, extra.bytes));
    await second.close();
  });

  it('ignores files in blocks/ that are not blocks in their right shard', async () => {
    const here = await freshDir();
    const block = sealedBlock();
    const elsewhere = block.id.startsWith('AA') ? 'BB' : 'AA';
    const first = await openAt(here);
    await first.close();
    await writeFile(join(here, 'blocks', 'notes.txt'), 'hello');
    await mkdir(join(here, 'blocks', elsewhere));
    await writeFile(join(here, 'blocks', elsewhere, 'not-an-id'), 'x');
    await writeFile(join(here, 'blocks', elsewhere, block.id), block.bytes);

    const store = await openAt(here);
    expect(await collect(store.list())).toEqual([]);
    expect(await store.usage()).toEqual({ blocks: 0, bytes: 0, capacity });
    expect(await store.has(block.id)).toBe(false);
  });

  it('recounts exactly on reopening after a block was cut short outside the store', async () => {
    const here = await freshDir();
    const store = await openAt(here, { onIntegrityFailure: () => undefined });
    const [a, b] = sealedBlocks(2) as [Block, Block];
    await store.put(a.id, a.bytes);
    await store.put(b.id, b.bytes);
    await truncate(blockFile(here, a.id), 10);
    await expectKindAsync('integrity', store.get(a.id));
    // Until the next start the total is off by what was cut off (see disk-store.ts).
    expect((await store.usage()).blocks).toBe(1);
    await store.close();
    expect(await (await openAt(here)).usage()).toEqual({ blocks: 1, bytes: blockSize, capacity });
  });
});

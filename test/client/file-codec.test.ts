/**
 * The file codec: plaintext streams to sealed blocks and back, with bounded memory; and sealed
 * file metadata. The attacker is a directory or peer that drops, reorders, duplicates or
 * substitutes blocks, lies about a file's size, or moves and alters its metadata: every attempt
 * must end in the one `integrity` error.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  blockCountFor,
  type FileMeta,
  fileChunkSize,
  maxFileBlocks,
  maxFileSize,
  openFileMeta,
  readFileBlocks,
  sealFileMeta,
  type WriteFileBlocksInit,
  writeFileBlocks,
} from '../../src/client/file-codec.js';
import { aeadSeal } from '../../src/crypto/aead.js';
import { concatBytes, u64be } from '../../src/crypto/bytes.js';
import { type CborValue, encodeCanonical } from '../../src/crypto/canonical.js';
import { hkdfSha256 } from '../../src/crypto/kdf.js';
import { labelBytes, labels } from '../../src/crypto/labels.js';
import { paddedLength } from '../../src/crypto/padding.js';
import { newFileId, newSymmetricKey, randomBytesOf } from '../../src/crypto/random.js';
import type { SecretBytes } from '../../src/crypto/secret.js';
import type { AbortOptions } from '../../src/interface/block-store.js';
import { FsError } from '../../src/interface/errors.js';
import {
  type BlockId,
  blockIdFromBytes,
  type FileId,
  fileIdToBytes,
} from '../../src/interface/ids.js';
import { entryLimits } from '../../src/wire/dir-entry.js';
import { expectKind, expectKindAsync, flipByte } from '../helpers/expect-error.js';

const C = fileChunkSize;
const fileKey = newSymmetricKey();
const fileId = newFileId();
const version = 3;

const sleep = (ms: number) =>
  new Promise<void>((resolve) => {
    setTimeout(resolve, ms);
  });

/** Yields `bytes` in pieces whose sizes cycle through `sizes` (each ≥ 1), with optional empties. */
async function* piecesOf(
  bytes: Uint8Array,
  sizes: readonly number[] = [bytes.length || 1],
  empties = false,
): AsyncGenerator<Uint8Array> {
  let offset = 0;
  for (let k = 0; offset < bytes.length; k++) {
    await Promise.resolve(); // a source that is really asynchronous
    if (empties) yield new Uint8Array(0);
    const size = Math.max(1, sizes[k % sizes.length] ?? 1);
    yield bytes.subarray(offset, offset + size);
    offset += size;
  }
  if (empties) yield new Uint8Array(0);
}

async function collect(source: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const part of source) parts.push(part);
  return Buffer.concat(parts);
}

const sameBytes = (a: Uint8Array, b: Uint8Array) => Buffer.from(a).equals(Buffer.from(b));

/** A block store in memory, keyed by id, that remembers the index each block was stored at. */
function memoryBlocks() {
  const blocks = new Map<BlockId, Uint8Array>();
  const indexes: number[] = [];
  return {
    blocks,
    indexes,
    store: (id: BlockId, parts: readonly Uint8Array[], index: number): Promise<void> => {
      blocks.set(id, Buffer.concat(parts));
      indexes.push(index);
      return Promise.resolve();
    },
    fetch: (id: BlockId): Promise<Uint8Array> => {
      const sealed = blocks.get(id);
      if (sealed === undefined) {
        return Promise.reject(new FsError('not-exist', 'no such block', { op: 'test.fetch' }));
      }
      return Promise.resolve(sealed);
    },
  };
}

type Where = { fileId: FileId; version: number };
const here: Where = { fileId, version };

async function write(
  content: Uint8Array,
  sizes?: readonly number[],
  where: Where = here,
  extra: Partial<WriteFileBlocksInit> = {},
) {
  const memory = memoryBlocks();
  const written = await writeFileBlocks(piecesOf(content, sizes), {
    fileKey,
    ...where,
    store: memory.store,
    ...extra,
  });
  return { ...written, memory };
}

function read(
  memory: ReturnType<typeof memoryBlocks>,
  size: number,
  blocks: readonly BlockId[],
  where: Where = here,
): Promise<Uint8Array> {
  return collect(readFileBlocks({ fileKey, ...where, size, blocks, fetch: memory.fetch }));
}

describe('writeFileBlocks / readFileBlocks round trips', () => {
  const sizes = [0, 1, 15, 16, C - 1, C, C + 1, 3.5 * C];

  it.each(sizes)('round-trips %i bytes, whole and in 7777-byte pieces', async (size) => {
    const content = randomBytesOf(size);
    for (const pieces of [undefined, [7777]]) {
      const progress: number[] = [];
      const {
        size: written,
        blocks,
        memory,
      } = await write(content, pieces, here, {
        onProgress: (bytes) => progress.push(bytes),
      });
      expect(written).toBe(size);
      expect(blocks).toHaveLength(blockCountFor(size));
      expect(blocks).toHaveLength(Math.ceil(paddedLength(size) / C));
      expect(new Set(memory.indexes)).toEqual(new Set(blocks.map((_, i) => i)));
      // Every stored block is a whole chunk sealed, except the last, which is the padded rest.
      blocks.forEach((id, i) => {
        const expected = i < blocks.length - 1 ? C : paddedLength(size) - i * C;
        expect(memory.blocks.get(id)?.length).toBe(expected + 29);
      });
      expect(progress.at(-1)).toBe(size);
      expect([...progress].sort((a, b) => a - b)).toEqual(progress);
      expect(sameBytes(await read(memory, size, blocks), content)).toBe(true);
    }
  });

  it('round-trips random sizes under random slicing of the source', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.nat({ max: 3 * C + 1000 }),
        fc.array(fc.integer({ min: 1, max: 1.5 * C }), { minLength: 1, maxLength: 6 }),
        fc.boolean(),
        fc.integer({ min: 1, max: 5 }),
        async (size, pieceSizes, empties, concurrency) => {
          const content = randomBytesOf(size);
          const memory = memoryBlocks();
          const written = await writeFileBlocks(piecesOf(content, pieceSizes, empties), {
            fileKey,
            fileId,
            version,
            store: memory.store,
            concurrency,
          });
          expect(written.blocks).toHaveLength(Math.max(1, paddedLength(size) / C));
          const back = readFileBlocks({
            fileKey,
            fileId,
            version,
            size,
            blocks: written.blocks,
            fetch: memory.fetch,
            prefetch: concurrency,
          });
          expect(sameBytes(await collect(back), content)).toBe(true);
        },
      ),
      { numRuns: 25 },
    );
  });

  it('never yields empty pieces and yields whole chunks before the last', async () => {
    const size = 2 * C + 5;
    const { blocks, memory } = await write(randomBytesOf(size), [333_333]);
    const lengths: number[] = [];
    for await (const part of readFileBlocks({
      fileKey,
      ...here,
      size,
      blocks,
      fetch: memory.fetch,
    })) {
      lengths.push(part.length);
    }
    expect(lengths).toEqual([C, C, 5]);
  });

  it('refuses a chunk size other than the padding unit, and bad counts', async () => {
    const memory = memoryBlocks();
    const base = { fileKey, ...here, store: memory.store };
    for (const extra of [{ chunkSize: C / 2 }, { chunkSize: 2 * C }, { concurrency: 0 }]) {
      await expectKindAsync(
        'invalid',
        writeFileBlocks(piecesOf(new Uint8Array(1)), { ...base, ...extra }),
      );
    }
    const { blocks } = await write(new Uint8Array(10));
    await expectKindAsync(
      'invalid',
      collect(
        readFileBlocks({ fileKey, ...here, size: 10, blocks, fetch: memory.fetch, prefetch: 0 }),
      ),
    );
    expect(memory.blocks.size).toBe(0);
  });

  it('reports a store failure after every store it started has settled', async () => {
    const failure = new Error('disk full');
    let active = 0;
    let calls = 0;
    const promise = writeFileBlocks(piecesOf(randomBytesOf(8 * C), [C / 4]), {
      fileKey,
      ...here,
      concurrency: 3,
      store: async () => {
        const call = ++calls;
        active++;
        await sleep(call === 2 ? 1 : 5);
        active--;
        if (call === 2) throw failure;
      },
    });
    await expect(promise).rejects.toBe(failure);
    expect(active).toBe(0);
    expect(calls).toBeLessThan(8);
  });
});

describe('readFileBlocks against a lying directory or peer', () => {
  const size = 3.5 * C; // four blocks
  const setup = (async () => {
    const content = randomBytesOf(size);
    const { blocks, memory } = await write(content, [100_000]);
    return { content, blocks, memory };
  })();

  it('reads the honest listing', async () => {
    const { content, blocks, memory } = await setup;
    expect(blocks).toHaveLength(4);
    expect(sameBytes(await read(memory, size, blocks), content)).toBe(true);
  });

  const b = (list: readonly BlockId[], i: number): BlockId => list[i]!;

  it('catches a dropped last block, with or without a size to match', async () => {
    const { blocks, memory } = await setup;
    const dropped = blocks.slice(0, 3);
    await expectKindAsync('integrity', read(memory, size, dropped));
    // The size made to agree with three blocks: the third is not marked final.
    await expectKindAsync('integrity', read(memory, 2.5 * C, dropped));
    await expectKindAsync('integrity', read(memory, 3 * C - 1, dropped));
  });

  it('catches a dropped middle block', async () => {
    const { blocks, memory } = await setup;
    const dropped = [b(blocks, 0), b(blocks, 2), b(blocks, 3)];
    await expectKindAsync('integrity', read(memory, size, dropped));
    await expectKindAsync('integrity', read(memory, 2.5 * C, dropped));
  });

  it('catches any two blocks swapped', async () => {
    const { blocks, memory } = await setup;
    for (let i = 0; i < blocks.length; i++) {
      for (let j = i + 1; j < blocks.length; j++) {
        const swapped = [...blocks];
        swapped[i] = b(blocks, j);
        swapped[j] = b(blocks, i);
        await expectKindAsync('integrity', read(memory, size, swapped));
      }
    }
  });

  it('catches a duplicated block, in place or at the end', async () => {
    const { blocks, memory } = await setup;
    const inPlace = [b(blocks, 0), b(blocks, 1), b(blocks, 1), b(blocks, 2), b(blocks, 3)];
    await expectKindAsync('integrity', read(memory, size + C, inPlace));
    await expectKindAsync('integrity', read(memory, size + C, [...blocks, b(blocks, 3)]));
    const replaced = [b(blocks, 0), b(blocks, 0), b(blocks, 2), b(blocks, 3)];
    await expectKindAsync('integrity', read(memory, size, replaced));
  });

  it('catches a block from another file or another version', async () => {
    const { content, blocks, memory } = await setup;
    for (const where of [
      { fileId: newFileId(), version },
      { fileId, version: version + 1 },
    ]) {
      const other = await write(content, [100_000], where);
      for (const [id, sealed] of other.memory.blocks) memory.blocks.set(id, sealed);
      for (let i = 0; i < blocks.length; i++) {
        const substituted = [...blocks];
        substituted[i] = b(other.blocks, i);
        await expectKindAsync('integrity', read(memory, size, substituted));
      }
    }
  });

  it('catches a fetcher that returns other bytes than the block asked for', async () => {
    const { blocks, memory } = await setup;
    const fetch = (id: BlockId, index: number) =>
      index === 2 ? memory.fetch(b(blocks, 1)) : memory.fetch(id);
    await expectKindAsync(
      'integrity',
      collect(readFileBlocks({ fileKey, ...here, size, blocks, fetch })),
    );
  });

  it('catches a wrong size, bigger or smaller, within the bucket or not', async () => {
    const { blocks, memory } = await setup;
    for (const claimed of [size + 1, size + 10, 4 * C - 1, size - 1, 3 * C, 4 * C, 10 * C, 0]) {
      await expectKindAsync('integrity', read(memory, claimed, blocks));
    }
    for (const claimed of [-1, 1.5, Number.NaN, maxFileSize + 1]) {
      await expectKindAsync('integrity', read(memory, claimed, blocks));
    }
    // Small files share a bucket: 100 bytes padded to 128, read as 110 or 90.
    const small = await write(randomBytesOf(100));
    for (const claimed of [90, 110, 65, 127]) {
      await expectKindAsync('integrity', read(small.memory, claimed, small.blocks));
    }
  });

  it('catches a truncated or altered sealed block', async () => {
    const { blocks, memory } = await setup;
    const sealed = memory.blocks.get(b(blocks, 1))!;
    for (const bad of [sealed.subarray(0, sealed.length - 1), flipByte(sealed, 100)]) {
      const fetch = (id: BlockId, index: number) =>
        index === 1 ? Promise.resolve(bad) : memory.fetch(id);
      await expectKindAsync(
        'integrity',
        collect(readFileBlocks({ fileKey, ...here, size, blocks, fetch })),
      );
    }
  });
});

describe('bounded memory and backpressure', () => {
  it('writes 64 MiB with at most concurrency + 1 chunks unsettled (bound: concurrency + 2)', async () => {
    const concurrency = 3;
    const total = 64 * C;
    const pattern = randomBytesOf(C);
    let pulled = 0; // bytes handed to the codec
    let settled = 0; // stores finished
    let active = 0;
    let maxActive = 0;
    let maxHeld = 0;
    // Chunks the codec may hold: every chunk it has received a byte of, minus those stored.
    const observe = () => {
      maxHeld = Math.max(maxHeld, Math.ceil(pulled / C) - settled);
    };
    async function* lazy(): AsyncGenerator<Uint8Array> {
      // Pieces of varying size up to one chunk, views of one buffer: nothing is kept.
      for (let k = 0; pulled < total; k++) {
        const length = Math.min(total - pulled, 1 + ((k * 379_721) % C));
        const start = k % 7;
        const piece = pattern.subarray(start, Math.min(C, start + length));
        await Promise.resolve();
        pulled += piece.length;
        observe();
        yield piece;
      }
    }
    const written = await writeFileBlocks(lazy(), {
      fileKey,
      ...here,
      concurrency,
      store: async () => {
        active++;
        maxActive = Math.max(maxActive, active);
        observe();
        await sleep(1 + (settled % 3));
        settled++;
        active--;
      },
    });
    expect(written.size).toBe(total);
    expect(written.blocks).toHaveLength(65);
    expect(maxActive).toBe(concurrency);
    expect(maxHeld).toBeGreaterThanOrEqual(concurrency);
    expect(maxHeld).toBeLessThanOrEqual(concurrency + 1);
    expect(maxHeld).toBeLessThanOrEqual(concurrency + 2);
  });

  it('reads with at most prefetch + 1 chunks outstanding', async () => {
    const size = 12 * C + 77;
    const content = randomBytesOf(size);
    const { blocks, memory } = await write(content, [C / 3]);
    for (const prefetch of [1, 2, 4]) {
      let fetched = 0;
      let consumed = 0;
      let maxOutstanding = 0;
      const parts: Uint8Array[] = [];
      for await (const part of readFileBlocks({
        fileKey,
        ...here,
        size,
        blocks,
        prefetch,
        fetch: async (id) => {
          fetched++;
          maxOutstanding = Math.max(maxOutstanding, fetched - consumed);
          await sleep(0);
          return memory.fetch(id);
        },
      })) {
        consumed++;
        parts.push(part);
        await sleep(2); // a slow consumer, so that the prefetch runs as far ahead as it may
      }
      expect(sameBytes(Buffer.concat(parts), content)).toBe(true);
      expect(maxOutstanding).toBe(prefetch + 1);
    }
  });
});

describe('abort', () => {
  it('stops a write: no more pulls or stores, rejects with the reason', async () => {
    const controller = new AbortController();
    const reason = new Error('stop');
    let pulls = 0;
    let stores = 0;
    const pattern = randomBytesOf(C / 2);
    async function* endless(): AsyncGenerator<Uint8Array> {
      for (;;) {
        await Promise.resolve();
        pulls++;
        yield pattern;
      }
    }
    const promise = writeFileBlocks(endless(), {
      fileKey,
      ...here,
      concurrency: 2,
      store: async (_id, _parts, _index, options: AbortOptions) => {
        stores++;
        if (stores === 3) controller.abort(reason);
        await sleep(2);
        options.signal?.throwIfAborted();
      },
      signal: controller.signal,
    });
    await expect(promise).rejects.toBe(reason);
    const [pullsThen, storesThen] = [pulls, stores];
    await sleep(20);
    expect([pulls, stores]).toEqual([pullsThen, storesThen]);
    expect(stores).toBe(3);
  });

  it('rejects at once when the source stalls or the signal was already aborted', async () => {
    const controller = new AbortController();
    const reason = new Error('stop');
    let stores = 0;
    const stalled: AsyncIterable<Uint8Array> = {
      [Symbol.asyncIterator]: () => ({ next: () => new Promise(() => undefined) }),
    };
    const store = () => {
      stores++;
      return Promise.resolve();
    };
    const promise = writeFileBlocks(stalled, {
      fileKey,
      ...here,
      store,
      signal: controller.signal,
    });
    setTimeout(() => controller.abort(reason), 5);
    await expect(promise).rejects.toBe(reason);
    await expect(
      writeFileBlocks(piecesOf(new Uint8Array(5)), {
        fileKey,
        ...here,
        store,
        signal: AbortSignal.abort(reason),
      }),
    ).rejects.toBe(reason);
    expect(stores).toBe(0);
  });

  it('stops a read, and aborts the fetches ahead when the reader stops or breaks', async () => {
    const size = 8 * C;
    const { blocks, memory } = await write(randomBytesOf(size), [C]);
    const signals: AbortSignal[] = [];
    const fetch = async (id: BlockId, _index: number, options: AbortOptions) => {
      if (options.signal !== undefined) signals.push(options.signal);
      await sleep(1);
      return memory.fetch(id);
    };

    const controller = new AbortController();
    const reason = new Error('stop');
    let received = 0;
    const reading = (async () => {
      for await (const part of readFileBlocks({
        fileKey,
        ...here,
        size,
        blocks,
        fetch,
        prefetch: 2,
        signal: controller.signal,
      })) {
        expect(part.length).toBe(C);
        received++;
        if (received === 2) controller.abort(reason);
      }
    })();
    await expect(reading).rejects.toBe(reason);
    expect(received).toBe(2);
    expect(signals.length).toBeLessThanOrEqual(2 + 2 + 1);
    expect(signals.every((signal) => signal.aborted)).toBe(true);

    signals.length = 0;
    for await (const part of readFileBlocks({ fileKey, ...here, size, blocks, fetch })) {
      expect(part.length).toBe(C);
      break;
    }
    expect(signals.length).toBeGreaterThan(1);
    expect(signals.every((signal) => signal.aborted)).toBe(true);

    let fetches = 0;
    await expect(
      collect(
        readFileBlocks({
          fileKey,
          ...here,
          size,
          blocks,
          fetch: (id) => {
            fetches++;
            return memory.fetch(id);
          },
          signal: AbortSignal.abort(reason),
        }),
      ),
    ).rejects.toBe(reason);
    expect(fetches).toBe(0);
  });
});

describe('sealFileMeta / openFileMeta', () => {
  const randomBlockId = () => blockIdFromBytes(randomBytesOf(32));
  const metaFor = (size: number, mtime = 1_700_000_000_000): FileMeta => ({
    size,
    mtime,
    chunkSize: C,
    blocks: Array.from({ length: blockCountFor(size) }, randomBlockId),
  });

  /** Seals any CBOR value as metadata, following docs/formats.md independently of the module. */
  function sealRaw(key: SecretBytes, where: Where, value: CborValue | Uint8Array): Uint8Array {
    const plaintext = value instanceof Uint8Array ? value : encodeCanonical(value);
    const nonce = randomBytesOf(12);
    const metaKey = hkdfSha256(key.expose(), new Uint8Array(0), labelBytes(labels.metaKey), 32);
    const ad = concatBytes(
      labelBytes(labels.metaAd),
      Uint8Array.of(2),
      fileIdToBytes(where.fileId),
      u64be(where.version),
    );
    return aeadSeal(
      metaKey,
      nonce,
      plaintext,
      ad,
      concatBytes(Uint8Array.of(2), u64be(where.version), nonce),
    );
  }

  it('round-trips any consistent metadata', () => {
    fc.assert(
      fc.property(
        fc.nat({ max: 40 * C }),
        fc.nat({ max: Number.MAX_SAFE_INTEGER }),
        fc.nat({ max: 2 ** 40 }),
        (size, mtime, v) => {
          const meta = metaFor(size, mtime);
          const where = { fileId, version: v };
          const sealed = sealFileMeta(fileKey, where, meta);
          expect(sealed[0]).toBe(2);
          expect(openFileMeta(fileKey, where, sealed)).toEqual({ ...meta, contentVersion: v });
        },
      ),
      { numRuns: 100 },
    );
  });

  it('follows the documented format', () => {
    const meta = metaFor(3 * C);
    const sealed = sealRaw(fileKey, here, {
      v: 2,
      size: meta.size,
      chunk: C,
      mtime: meta.mtime,
      blocks: meta.blocks,
    });
    expect(openFileMeta(fileKey, here, sealed)).toEqual({ ...meta, contentVersion: version });
  });

  it('fits the largest file in a directory entry', () => {
    const meta = metaFor(maxFileSize, Number.MAX_SAFE_INTEGER);
    expect(meta.blocks).toHaveLength(maxFileBlocks);
    const sealed = sealFileMeta(fileKey, { fileId, version: Number.MAX_SAFE_INTEGER }, meta);
    expect(sealed.length).toBeLessThanOrEqual(entryLimits.metaBytes);
    expect(openFileMeta(fileKey, { fileId, version: Number.MAX_SAFE_INTEGER }, sealed)).toEqual({
      ...meta,
      contentVersion: Number.MAX_SAFE_INTEGER,
    });
  });

  it('cannot be moved to another file or an older version, or opened with another key', () => {
    const sealed = sealFileMeta(fileKey, here, metaFor(5 * C + 3));
    expectKind('integrity', () => openFileMeta(fileKey, { fileId: newFileId(), version }, sealed));
    // A later version that only shares, deletes or restores carries it unchanged, and its
    // chunks are read at the version that sealed them.
    expect(openFileMeta(fileKey, { fileId, version: version + 1 }, sealed).contentVersion).toBe(
      version,
    );
    expectKind('integrity', () => openFileMeta(fileKey, { fileId, version: version - 1 }, sealed));
    expectKind('integrity', () => openFileMeta(newSymmetricKey(), here, sealed));
  });

  it('refuses any single-byte change, any truncation and any extension', () => {
    const sealed = sealFileMeta(fileKey, here, metaFor(2 * C));
    fc.assert(
      fc.property(
        fc.nat({ max: sealed.length - 1 }),
        fc.integer({ min: 1, max: 255 }),
        (index, delta) => {
          expectKind('integrity', () =>
            openFileMeta(fileKey, here, flipByte(sealed, index, delta)),
          );
        },
      ),
      { numRuns: 200 },
    );
    for (let length = 0; length < sealed.length; length++) {
      expectKind('integrity', () => openFileMeta(fileKey, here, sealed.subarray(0, length)));
    }
    expectKind('integrity', () =>
      openFileMeta(fileKey, here, concatBytes(sealed, Uint8Array.of(0))),
    );
  });

  it('gives one integrity error for arbitrary bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        expectKind('integrity', () => openFileMeta(fileKey, here, bytes));
      }),
    );
  });

  it('refuses authentic but inconsistent or non-strict contents', () => {
    const blocks = metaFor(2 * C).blocks; // three blocks
    const good = { v: 2, size: 2 * C, chunk: C, mtime: 5, blocks };
    const bad: CborValue[] = [
      { ...good, v: 1 },
      { ...good, chunk: C / 2 },
      { ...good, chunk: 2 * C },
      { ...good, size: 3 * C }, // four blocks expected
      { ...good, size: C - 1 }, // one block expected
      { ...good, size: -1 },
      { ...good, mtime: -5 },
      { ...good, blocks: [...blocks, blocks[0]!] },
      { ...good, blocks: blocks.slice(1) },
      { ...good, blocks: [blocks[0]!, blocks[1]!, `${blocks[2]!.slice(0, 42)}B`] },
      { ...good, blocks: [blocks[0]!, blocks[1]!, blocks[2]!.slice(1)] },
      { ...good, blocks: [blocks[0]!, blocks[1]!, randomBytesOf(32)] },
      { ...good, blocks: 'x' },
      { ...good, extra: 1 },
      { v: 2, size: 2 * C, chunk: C, blocks },
      [1, 2 * C, C, 5, blocks],
      'meta',
    ];
    expect(openFileMeta(fileKey, here, sealRaw(fileKey, here, good)).blocks).toEqual(blocks);
    for (const value of bad) {
      expectKind('integrity', () => openFileMeta(fileKey, here, sealRaw(fileKey, here, value)));
    }
    // Not canonical CBOR: `v: 2` with its integer in a longer form than needed.
    const canonical = encodeCanonical(good);
    expect([...canonical.subarray(0, 4)]).toEqual([0xa5, 0x61, 0x76, 0x02]);
    const longForm = concatBytes(
      Uint8Array.of(0xa5, 0x61, 0x76, 0x18, 0x02),
      canonical.subarray(4),
    );
    expectKind('integrity', () => openFileMeta(fileKey, here, sealRaw(fileKey, here, longForm)));
  });

  it('refuses to seal inconsistent metadata', () => {
    const meta = metaFor(2 * C);
    for (const wrong of [
      { ...meta, size: 3 * C },
      { ...meta, chunkSize: C * 2 },
      { ...meta, mtime: -1 },
      { ...meta, mtime: 1.5 },
      { ...meta, size: maxFileSize + 1 },
      { ...meta, blocks: [...meta.blocks.slice(0, 2), 'not-a-block-id' as BlockId] },
    ]) {
      expectKind('invalid', () => sealFileMeta(fileKey, here, wrong));
    }
  });
});

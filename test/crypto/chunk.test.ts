/**
 * Chunk sealing, from the attacker's side: a storage peer holding sealed chunks tries to move,
 * reorder, truncate, extend or flip them; every attempt must fail with the one `integrity`
 * error, and nothing but the holder of the file key can open a chunk.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { toHex } from '../../src/crypto/bytes.js';
import { blockIdOf } from '../../src/crypto/block-id.js';
import {
  chunkOverhead,
  type ChunkPosition,
  joinSealedChunk,
  openChunk,
  sealChunk,
} from '../../src/crypto/chunk.js';
import type { SecretBytes } from '../../src/crypto/secret.js';
import { newFileId, newSymmetricKey } from '../../src/crypto/random.js';
import { expectKind, flipByte } from '../helpers/expect-error.js';

const fileKey = newSymmetricKey();
const fileId = newFileId();
const at = (index: number, final = false, version = 1, id = fileId): ChunkPosition => ({
  fileId: id,
  version,
  index,
  final,
});

const seal = (key: SecretBytes, position: ChunkPosition, content: Uint8Array) =>
  joinSealedChunk(sealChunk(key, position, content));

describe('sealChunk / openChunk', () => {
  it('returns parts whose lengths add up and that hash like the joined chunk', () => {
    const sealed = sealChunk(fileKey, at(0), new Uint8Array(1000).fill(3));
    expect(sealed.parts.reduce((n, p) => n + p.length, 0)).toBe(sealed.byteLength);
    expect(sealed.byteLength).toBe(1000 + chunkOverhead);
    expect(blockIdOf(sealed.parts)).toBe(blockIdOf(joinSealedChunk(sealed)));
  });

  it('round-trips any content at any position', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 4096 }),
        fc.nat({ max: 2 ** 40 }),
        fc.nat({ max: 2 ** 40 }),
        fc.boolean(),
        (content, version, index, final) => {
          const position = at(index, final, version);
          const sealed = seal(fileKey, position, content);
          expect(sealed.length).toBe(content.length + chunkOverhead);
          expect(toHex(openChunk(fileKey, position, sealed))).toBe(toHex(content));
        },
      ),
      { numRuns: 200 },
    );
  });

  it('round-trips a full 1 MiB chunk', () => {
    const content = new Uint8Array(1024 * 1024).map((_, i) => i * 7);
    expect(
      Buffer.compare(openChunk(fileKey, at(3, true), seal(fileKey, at(3, true), content)), content),
    ).toBe(0);
  });

  it('uses a fresh nonce: sealing the same chunk twice gives different bytes', () => {
    const content = new Uint8Array(100);
    expect(toHex(seal(fileKey, at(0), content))).not.toBe(toHex(seal(fileKey, at(0), content)));
  });

  it('refuses a chunk moved to another index (reordering)', () => {
    const sealed = seal(fileKey, at(0), new Uint8Array(10));
    expectKind('integrity', () => openChunk(fileKey, at(1), sealed));
  });

  it('refuses a chunk moved to another version (rollback of one chunk)', () => {
    const sealed = seal(fileKey, at(0, false, 2), new Uint8Array(10));
    expectKind('integrity', () => openChunk(fileKey, at(0, false, 1), sealed));
  });

  it('refuses a chunk moved to another file, even under the same key', () => {
    const sealed = seal(fileKey, at(0), new Uint8Array(10));
    expectKind('integrity', () => openChunk(fileKey, at(0, false, 1, newFileId()), sealed));
  });

  it('refuses a file cut short: a middle chunk is not accepted as the last one', () => {
    const middle = seal(fileKey, at(4, false), new Uint8Array(10));
    expectKind('integrity', () => openChunk(fileKey, at(4, true), middle));
  });

  it('refuses a file extended past its last chunk: the final chunk is not accepted mid-file', () => {
    const last = seal(fileKey, at(4, true), new Uint8Array(10));
    expectKind('integrity', () => openChunk(fileKey, at(4, false), last));
  });

  it('refuses the wrong file key', () => {
    const sealed = seal(fileKey, at(0), new Uint8Array(10));
    expectKind('integrity', () => openChunk(newSymmetricKey(), at(0), sealed));
  });

  it('refuses any single-byte change anywhere in the sealed chunk', () => {
    const sealed = seal(fileKey, at(2), new Uint8Array(300).fill(9));
    fc.assert(
      fc.property(
        fc.nat({ max: sealed.length - 1 }),
        fc.integer({ min: 1, max: 255 }),
        (index, delta) => {
          expectKind('integrity', () => openChunk(fileKey, at(2), flipByte(sealed, index, delta)));
        },
      ),
      { numRuns: 500 },
    );
  });

  it('refuses truncated and extended chunks', () => {
    const sealed = seal(fileKey, at(0), new Uint8Array(64).fill(1));
    for (let cut = 0; cut < sealed.length; cut++) {
      expectKind('integrity', () => openChunk(fileKey, at(0), sealed.subarray(0, cut)));
    }
    expectKind('integrity', () => openChunk(fileKey, at(0), Uint8Array.of(...sealed, 0)));
  });

  it('rejects arbitrary bytes with the one integrity error, never a crash', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (junk) => {
        expectKind('integrity', () => openChunk(fileKey, at(0), junk));
      }),
      { numRuns: 300 },
    );
  });
});

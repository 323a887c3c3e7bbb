/**
 * Block addressing: an id names exactly one byte string.
 */
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { blockIdOf, verifyBlock } from '../../src/crypto/block-id.js';
import { blockIdToBytes, parseBlockId } from '../../src/interface/ids.js';
import { expectKind, flipByte } from '../helpers/expect-error.js';

describe('blockIdOf / verifyBlock', () => {
  it('is the SHA-256 of the sealed bytes in 43 characters of base64url', () => {
    const id = blockIdOf(new TextEncoder().encode('abc'));
    // SHA-256("abc"), FIPS 180-2 appendix B.1.
    expect(Buffer.from(blockIdToBytes(id)).toString('hex')).toBe(
      'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
    );
    expect(id).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(parseBlockId(id)).toBe(id);
  });

  it('verifies the bytes it names and refuses any other bytes', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 1, maxLength: 500 }),
        fc.nat(),
        fc.integer({ min: 1, max: 255 }),
        (bytes, i, delta) => {
          const id = blockIdOf(bytes);
          verifyBlock(id, bytes);
          expect(createHash('sha256').update(bytes).digest('base64url')).toBe(id);
          expectKind('integrity', () => verifyBlock(id, flipByte(bytes, i % bytes.length, delta)));
          expectKind('integrity', () => verifyBlock(id, bytes.subarray(1)));
        },
      ),
      { numRuns: 300 },
    );
  });
});

/**
 * Size padding: buckets, round trips, the streaming property (padding always in the last
 * 1 MiB chunk), and refusal of malformed padding.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { toHex } from '../../src/crypto/bytes.js';
import {
  pad,
  paddedLength,
  paddingUnit,
  padTail,
  unpad,
  unpadFinalChunk,
} from '../../src/crypto/padding.js';
import { expectKind } from '../helpers/expect-error.js';

const MiB = paddingUnit;

describe('paddedLength', () => {
  it('rounds up to powers of two up to 1 MiB, then to whole MiB', () => {
    expect(paddedLength(0)).toBe(16);
    expect(paddedLength(15)).toBe(16);
    expect(paddedLength(16)).toBe(32);
    expect(paddedLength(1000)).toBe(1024);
    expect(paddedLength(MiB - 1)).toBe(MiB);
    expect(paddedLength(MiB)).toBe(2 * MiB);
    expect(paddedLength(5 * MiB + 1)).toBe(6 * MiB);
    expect(paddedLength(6 * MiB - 1)).toBe(6 * MiB);
  });

  it('always leaves room for the marker and hides at most a bucket', () => {
    fc.assert(
      fc.property(fc.nat({ max: 64 * MiB }), (n) => {
        const p = paddedLength(n);
        expect(p).toBeGreaterThan(n);
        if (p <= MiB) expect(p & (p - 1)).toBe(0);
        else expect(p % MiB).toBe(0);
      }),
      { numRuns: 1000 },
    );
  });

  it('puts every padding byte in the last 1 MiB chunk', () => {
    fc.assert(
      fc.property(fc.nat({ max: 1024 * MiB }), (n) => {
        const p = paddedLength(n);
        const lastChunkStart = Math.floor((p - 1) / MiB) * MiB;
        expect(n).toBeGreaterThanOrEqual(lastChunkStart); // the marker, at offset n, is in it
      }),
      { numRuns: 2000 },
    );
  });
});

describe('pad / unpad', () => {
  it('round-trips any content', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 3000 }), (content) => {
        expect(toHex(unpad(pad(content)))).toBe(toHex(content));
      }),
      { numRuns: 300 },
    );
  });

  it('handles content that itself ends in 0x80 or zeros', () => {
    for (const content of [Uint8Array.of(0x80), Uint8Array.of(0x80, 0), Uint8Array.of(0, 0, 0)]) {
      expect(toHex(unpad(pad(content)))).toBe(toHex(content));
    }
  });

  it('unpads the final chunk of a multi-chunk file given the bytes before it', () => {
    const length = 2 * MiB + 12345;
    const tail = padTail(length);
    const finalChunk = new Uint8Array(MiB);
    finalChunk.fill(7, 0, 12345);
    finalChunk.set(tail, 12345);
    expect(unpadFinalChunk(finalChunk, 2 * MiB).length).toBe(12345);
  });

  it('refuses missing markers, non-zero bytes after the marker and non-canonical buckets', () => {
    expectKind('integrity', () => unpad(new Uint8Array(16)));
    const padded = pad(Uint8Array.of(1, 2, 3));
    padded[padded.length - 1] = 1;
    expectKind('integrity', () => unpad(padded));
    const tooLong = new Uint8Array(64);
    tooLong[3] = 0x80; // content of 3 bytes belongs in a 16-byte bucket, not 64
    expectKind('integrity', () => unpad(tooLong));
    expectKind('integrity', () => unpad(new Uint8Array(0)));
  });
});

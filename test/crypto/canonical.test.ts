/**
 * Canonical CBOR: one value, one encoding. The decoder must refuse every other encoding of the
 * same value, because a signature over one encoding must never verify another.
 */
import { encode } from 'cborg';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fromHex, toHex } from '../../src/crypto/bytes.js';
import { type CborValue, decodeCanonical, encodeCanonical } from '../../src/crypto/canonical.js';
import { expectKind } from '../helpers/expect-error.js';

const cborValue: fc.Arbitrary<CborValue> = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    fc.constant(null),
    fc.boolean(),
    fc.maxSafeInteger(),
    fc.string(),
    fc.uint8Array({ maxLength: 40 }),
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(
      fc.string({ maxLength: 8 }).filter((k) => k !== '__proto__'),
      tie('value'),
      { maxKeys: 4 },
    ),
  ),
})).value as fc.Arbitrary<CborValue>;

describe('canonical CBOR', () => {
  it('round-trips every supported value', () => {
    fc.assert(
      fc.property(cborValue, (value) => {
        const bytes = encodeCanonical(value);
        expect(decodeCanonical(bytes, 'test')).toEqual(value);
      }),
      { numRuns: 300 },
    );
  });

  it('encodes a map the same whatever the insertion order of its keys', () => {
    expect(toHex(encodeCanonical({ b: 1, a: 2, aa: 3 }))).toBe(
      toHex(encodeCanonical({ aa: 3, a: 2, b: 1 })),
    );
  });

  it('refuses a map whose keys are out of canonical order', () => {
    // {"b": 1, "a": 2} — same value as the canonical a6... but keys reordered.
    expectKind('integrity', () => decodeCanonical(fromHex('a2616201616102'), 'test'));
    expect(decodeCanonical(fromHex('a2616102616201'), 'test')).toEqual({ a: 2, b: 1 });
  });

  it('refuses non-minimal integers and lengths, indefinite lengths, duplicates and trailing bytes', () => {
    for (const hex of [
      '1801', // 1 encoded in two bytes
      '5801ff', // a 1-byte string with a 1-byte length prefix
      '9f01ff', // indefinite-length array
      'a2616101616102', // duplicate key "a"
      '0100', // trailing byte
      'f97e00', // NaN
      'fb3ff0000000000000', // float 1.0
      'f93c00', // half-float 1.0
      'f7', // undefined
      'c249010000000000000000', // bignum tag
      '1bffffffffffffffff', // integer beyond 2^53
      '', // nothing
    ]) {
      expectKind('integrity', () => decodeCanonical(fromHex(hex), 'test'));
    }
  });

  it('refuses absurd nesting without overflowing the stack', () => {
    const deep = new Uint8Array(100_000).fill(0x81); // [[[[…
    expectKind('integrity', () => decodeCanonical(Uint8Array.of(...deep, 0x00), 'test'));
  });

  it('refuses a __proto__ key (no prototype tricks through decoded maps)', () => {
    const bytes = encode({ ['__proto__']: { x: 1 } });
    expectKind('integrity', () => decodeCanonical(bytes, 'test'));
  });

  it('refuses input over the size bound before decoding it', () => {
    expectKind('integrity', () =>
      decodeCanonical(encodeCanonical(new Uint8Array(100)), 'test', 50),
    );
  });

  it('rejects arbitrary bytes with a typed error or decodes them canonically, never crashes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (junk) => {
        try {
          const value = decodeCanonical(junk, 'test');
          expect(toHex(encodeCanonical(value))).toBe(toHex(junk));
        } catch (err) {
          expect((err as { kind?: string }).kind).toBe('integrity');
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('refuses to encode floats and other values that have no canonical form', () => {
    expect(() => encodeCanonical(1.5)).toThrow(TypeError);
    expect(() => encodeCanonical({ a: undefined } as unknown as CborValue)).toThrow(TypeError);
    expect(() => encodeCanonical(new Date() as unknown as CborValue)).toThrow(TypeError);
  });
});

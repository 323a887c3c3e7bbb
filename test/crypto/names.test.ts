/**
 * Encrypted names and lookup tags, including the directory's attacks on them: swapping the
 * names of two entries, replaying a name under another key, and learning names from tags.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { toHex } from '../../src/crypto/bytes.js';
import { decryptName, encryptName, lookupTag } from '../../src/crypto/names.js';
import { newFileId, newSymmetricKey } from '../../src/crypto/random.js';
import { parseEntryName } from '../../src/interface/names.js';
import { expectKind, flipByte } from '../helpers/expect-error.js';

const nameKey = newSymmetricKey();
const validName = fc
  .string({ unit: 'grapheme', minLength: 1, maxLength: 40 })
  .filter((s) => {
    try {
      parseEntryName(s);
      return true;
    } catch {
      return false;
    }
  })
  .map((s) => parseEntryName(s));

describe('lookupTag', () => {
  it('gives equal tags for equal names under one key', () => {
    fc.assert(
      fc.property(validName, (name) => {
        expect(toHex(lookupTag(nameKey, name))).toBe(
          toHex(lookupTag(nameKey, parseEntryName(name))),
        );
      }),
    );
  });

  it('gives equal tags for canonically equivalent spellings (NFC)', () => {
    const composed = parseEntryName('caf\u00e9.txt');
    const decomposed = parseEntryName('cafe\u0301.txt');
    expect(toHex(lookupTag(nameKey, composed))).toBe(toHex(lookupTag(nameKey, decomposed)));
  });

  it('gives unrelated tags under another key, so names cannot be linked across directories', () => {
    const other = newSymmetricKey();
    fc.assert(
      fc.property(validName, (name) => {
        expect(toHex(lookupTag(nameKey, name))).not.toBe(toHex(lookupTag(other, name)));
      }),
    );
  });

  it('gives different tags for different names', () => {
    fc.assert(
      fc.property(validName, validName, (a, b) => {
        fc.pre(a !== b);
        expect(toHex(lookupTag(nameKey, a))).not.toBe(toHex(lookupTag(nameKey, b)));
      }),
    );
  });
});

describe('encryptName / decryptName', () => {
  it('round-trips any valid name, and the ciphertext reveals only a 32-byte bucket of its length', () => {
    const id = newFileId();
    fc.assert(
      fc.property(validName, (name) => {
        const sealed = encryptName(nameKey, id, name);
        expect((sealed.length - 29) % 32).toBe(0);
        expect(decryptName(nameKey, id, sealed)).toBe(name);
      }),
      { numRuns: 300 },
    );
  });

  it('round-trips the longest allowed name', () => {
    const id = newFileId();
    const name = parseEntryName('é'.repeat(127));
    expect(decryptName(nameKey, id, encryptName(nameKey, id, name))).toBe(name);
  });

  it('refuses a name swapped onto another entry by the directory', () => {
    const a = newFileId();
    const b = newFileId();
    const sealedForA = encryptName(nameKey, a, parseEntryName('salary.xlsx'));
    expectKind('integrity', () => decryptName(nameKey, b, sealedForA));
  });

  it('refuses the wrong key', () => {
    const id = newFileId();
    expectKind('integrity', () =>
      decryptName(newSymmetricKey(), id, encryptName(nameKey, id, parseEntryName('a'))),
    );
  });

  it('refuses any single-byte change', () => {
    const id = newFileId();
    const sealed = encryptName(nameKey, id, parseEntryName('report.pdf'));
    fc.assert(
      fc.property(
        fc.nat({ max: sealed.length - 1 }),
        fc.integer({ min: 1, max: 255 }),
        (index, delta) => {
          expectKind('integrity', () => decryptName(nameKey, id, flipByte(sealed, index, delta)));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('rejects arbitrary bytes with the one integrity error', () => {
    const id = newFileId();
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), (junk) => {
        expectKind('integrity', () => decryptName(nameKey, id, junk));
      }),
      { numRuns: 300 },
    );
  });
});

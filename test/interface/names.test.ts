/**
 * Entry names are validated and NFC-normalised once, at the boundary.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { maxEntryNameBytes, parseEntryName } from '../../src/interface/names.js';
import { expectKind } from '../helpers/expect-error.js';

describe('parseEntryName', () => {
  it('accepts ordinary names, including Unicode and spaces', () => {
    for (const name of [
      'team5.txt',
      'pcs.txt',
      'Relevé de compte.pdf',
      '日本語',
      'a b',
      '.hidden',
      '😀',
    ]) {
      expect(parseEntryName(name)).toBe(name.normalize('NFC'));
    }
  });

  it('normalises to NFC, so two spellings of one name are one name', () => {
    expect(parseEntryName('cafe\u0301')).toBe('caf\u00e9');
  });

  it('refuses empty, dot, dot-dot, slashes, control characters and lone surrogates', () => {
    for (const bad of [
      '',
      '.',
      '..',
      'a/b',
      '/',
      'a\u0000b',
      'line\nbreak',
      'tab\t',
      '\u009b',
      'x\ud800',
    ]) {
      expectKind('invalid', () => parseEntryName(bad));
    }
  });

  it(`refuses names longer than ${maxEntryNameBytes} UTF-8 bytes, counting bytes not characters`, () => {
    expect(parseEntryName('a'.repeat(255))).toHaveLength(255);
    expectKind('invalid', () => parseEntryName('a'.repeat(256)));
    expectKind('invalid', () => parseEntryName('é'.repeat(128))); // 256 bytes in UTF-8
  });

  it('never throws anything but an invalid FsError, whatever the input', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 300 }), (raw) => {
        try {
          const name = parseEntryName(raw);
          expect(parseEntryName(name)).toBe(name); // idempotent
        } catch (err) {
          expect((err as { kind?: string }).kind).toBe('invalid');
        }
      }),
      { numRuns: 1000 },
    );
  });
});

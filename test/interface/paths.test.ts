/**
 * Paths: absolute, home and relative forms; dot segments; validation of every element.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatPath, parentOf, parsePath } from '../../src/interface/paths.js';
import { parseUserName } from '../../src/interface/names.js';
import { expectKind } from '../helpers/expect-error.js';

const alice = parseUserName('alice');

describe('parsePath', () => {
  it('reads absolute, home and relative paths', () => {
    expect(formatPath(parsePath('/bob/docs/a.txt', alice))).toBe('/bob/docs/a.txt');
    expect(formatPath(parsePath('~', alice))).toBe('/alice');
    expect(formatPath(parsePath('~/pcs/team5.txt', alice))).toBe('/alice/pcs/team5.txt');
    expect(formatPath(parsePath('team5.txt', alice))).toBe('/alice/team5.txt');
    const cwd = parsePath('/alice/pcs', alice);
    expect(formatPath(parsePath('notes.txt', alice, cwd))).toBe('/alice/pcs/notes.txt');
    expect(formatPath(parsePath('../x', alice, cwd))).toBe('/alice/x');
  });

  it('resolves . and .., collapses slashes, and normalises names to NFC', () => {
    expect(formatPath(parsePath('/alice//a/./b/../c/', alice))).toBe('/alice/a/c');
    expect(parsePath('/alice/cafe\u0301', alice).elements[0]).toBe('caf\u00e9');
  });

  it('refuses .. above a root, bad user names, bad elements and empty paths', () => {
    for (const bad of [
      '/alice/..',
      '..',
      '/',
      '',
      '/Alice/x',
      '/alice/a\u0000b',
      `/alice/${'x'.repeat(256)}`,
    ]) {
      expectKind('invalid', () => parsePath(bad, alice));
    }
  });

  it('never throws anything but invalid, and formats what it parses back to an equal path', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 60 }), (raw) => {
        try {
          const path = parsePath(raw, alice);
          expect(parsePath(formatPath(path), alice)).toEqual(path);
        } catch (err) {
          expect((err as { kind?: string }).kind).toBe('invalid');
        }
      }),
      { numRuns: 1000 },
    );
  });

  it('knows parents', () => {
    expect(formatPath(parentOf(parsePath('/alice/a/b', alice))!)).toBe('/alice/a');
    expect(parentOf(parsePath('/alice', alice))).toBeUndefined();
  });
});

/**
 * Ids have exactly one text form; anything else is refused.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { newFileId } from '../../src/crypto/random.js';
import {
  blockIdFromBytes,
  fileIdFromBytes,
  fileIdToBytes,
  parseBlockId,
  parseFileId,
} from '../../src/interface/ids.js';
import { expectKind } from '../helpers/expect-error.js';

describe('ids', () => {
  it('round-trips file and block ids through their text form', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), (bytes) => {
        const id = blockIdFromBytes(bytes);
        expect(parseBlockId(id)).toBe(id);
        const fid = fileIdFromBytes(bytes.subarray(0, 16));
        expect(
          Buffer.from(fileIdToBytes(parseFileId(fid))).equals(Buffer.from(bytes.subarray(0, 16))),
        ).toBe(true);
      }),
    );
  });

  it('makes random file ids that parse', () => {
    const id = newFileId();
    expect(parseFileId(id)).toBe(id);
    expect(newFileId()).not.toBe(id);
  });

  it('refuses wrong lengths, foreign characters and non-canonical spellings', () => {
    const id = blockIdFromBytes(new Uint8Array(32).fill(255));
    for (const bad of [
      '',
      id.slice(1),
      id + 'A',
      id.replace(/.$/, '='),
      id.replace(/^./, '+'),
      '../../../etc/passwd',
    ]) {
      expectKind('invalid', () => parseBlockId(bad));
    }
    // The last character carries 2 spare bits: a non-zero spare bit is another spelling of the same bytes.
    const fid = fileIdFromBytes(new Uint8Array(16));
    expect(fid.endsWith('A')).toBe(true);
    expectKind('invalid', () => parseFileId(fid.slice(0, -1) + 'B'));
  });
});

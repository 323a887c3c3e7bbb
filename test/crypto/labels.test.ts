/**
 * Domain separation holds only if labels are distinct and unambiguous.
 */
import { describe, expect, it } from 'vitest';
import { labels, signedTypes, wrapPurposes } from '../../src/crypto/labels.js';
import { signedTypeVersions } from '../../src/crypto/sign.js';

describe('labels', () => {
  const all = Object.values(labels);
  it('are all distinct, ASCII, versioned and free of the 0x00 separator', () => {
    expect(new Set(all).size).toBe(all.length);
    for (const label of all) {
      expect(label).toMatch(/^peervault\/v\d+\/[a-z0-9/-]+$/);
    }
  });

  it('have distinct signed types and wrap purposes, each signed type with a version', () => {
    expect(new Set(signedTypes).size).toBe(signedTypes.length);
    expect(new Set(wrapPurposes).size).toBe(wrapPurposes.length);
    for (const type of signedTypes) expect(signedTypeVersions[type]).toBeGreaterThanOrEqual(1);
  });
});

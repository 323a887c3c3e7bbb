/**
 * The error contract: kinds are stable, every kind has a hint, and nothing but kind, op and
 * message crosses the wire.
 */
import { describe, expect, it } from 'vitest';
import {
  errorKinds,
  FsError,
  integrityError,
  isErrorKind,
  isFsError,
  kindHints,
  toWireError,
} from '../../src/interface/errors.js';

describe('FsError', () => {
  it('keeps the append-only list of kinds in its published order', () => {
    // Kinds cross the wire and map to exit codes: existing ones may never move or vanish.
    expect(errorKinds.slice(0, 13)).toEqual([
      'invalid',
      'permission',
      'exist',
      'not-exist',
      'not-dir',
      'is-dir',
      'not-empty',
      'conflict',
      'integrity',
      'revoked',
      'throttled',
      'unavailable',
      'internal',
    ]);
  });

  it('has a hint that says what to do for every kind', () => {
    for (const kind of errorKinds) expect(kindHints[kind].length).toBeGreaterThan(10);
  });

  it('crosses the wire as kind, op and message only; unknown errors become internal', () => {
    const err = new FsError('permission', 'not yours', {
      op: 'read',
      path: '/alice/x',
      cause: new Error('db detail'),
    });
    expect(toWireError(err, 'read')).toEqual({
      kind: 'permission',
      op: 'read',
      message: 'not yours',
    });
    expect(toWireError(new Error('secret stack detail'), 'read')).toEqual({
      kind: 'internal',
      op: 'read',
      message: 'internal error',
    });
  });

  it('tells kinds apart', () => {
    expect(isFsError(integrityError('x'), 'integrity')).toBe(true);
    expect(isFsError(integrityError('x'), 'invalid')).toBe(false);
    expect(isFsError(new Error('x'))).toBe(false);
    expect(isErrorKind('integrity')).toBe(true);
    expect(isErrorKind('nope')).toBe(false);
  });

  it('gives integrity errors no cause to leak through', () => {
    const err = integrityError('chunk.open');
    expect(err.cause).toBeUndefined();
    expect(err.message).toBe('integrity check failed');
  });
});

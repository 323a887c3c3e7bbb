/**
 * Assertions on PeerVault errors: tests assert the error `kind`, never the message text.
 */
import { expect } from 'vitest';
import { type ErrorKind, FsError } from '../../src/interface/errors.js';

/** Asserts that `fn` throws an FsError of `kind`, and returns it. */
export function expectKind(kind: ErrorKind, fn: () => unknown): FsError {
  let thrown: unknown;
  try {
    fn();
  } catch (err) {
    thrown = err;
  }
  expect(thrown, `expected an FsError of kind ${kind}`).toBeInstanceOf(FsError);
  expect((thrown as FsError).kind).toBe(kind);
  return thrown as FsError;
}

/** Asserts that the promise rejects with an FsError of `kind`, and returns it. */
export async function expectKindAsync(
  kind: ErrorKind,
  promise: Promise<unknown>,
): Promise<FsError> {
  let thrown: unknown;
  try {
    await promise;
  } catch (err) {
    thrown = err;
  }
  expect(thrown, `expected an FsError of kind ${kind}`).toBeInstanceOf(FsError);
  expect((thrown as FsError).kind).toBe(kind);
  return thrown as FsError;
}

/** A copy of `bytes` with the byte at `index` changed by `delta` (never zero). */
export function flipByte(bytes: Uint8Array, index: number, delta = 1): Uint8Array {
  const copy = Uint8Array.from(bytes);
  copy[index] = (copy[index]! + delta) & 0xff;
  return copy;
}

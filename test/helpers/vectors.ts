/**
 * Loads published known-answer vectors from test/crypto/vectors/ (see each file's `source`).
 */
import { readFileSync } from 'node:fs';
import { fromHex } from '../../src/crypto/bytes.js';

/** Reads `test/crypto/vectors/<name>.json`. */
export function loadVectors<T>(
  name: string,
): { source: string; vectors: T[] } & Record<string, unknown> {
  const url = new URL(`../crypto/vectors/${name}.json`, import.meta.url);
  return JSON.parse(readFileSync(url, 'utf8')) as { source: string; vectors: T[] };
}

export const hex = fromHex;

/**
 * The text `cat` stores: lines up to "." or the end of input, or the words given.
 */
import { describe, expect, it } from 'vitest';
import { readText, textOfWords } from '../../src/cli/shell/cat-input.js';

/** A line source over a fixed list, recording how many lines were taken. */
function lines(...given: string[]): {
  next: () => Promise<string | undefined>;
  taken: () => number;
} {
  let i = 0;
  return {
    next: () => Promise.resolve(given[i++]),
    taken: () => Math.min(i, given.length),
  };
}

describe('cat input', () => {
  it('reads up to a line holding only "." and leaves the rest', async () => {
    const source = lines('hello', 'world', '.', 'ls');
    expect(await readText(source.next)).toBe('hello\nworld\n');
    expect(source.taken()).toBe(3);
  });

  it('stops at the end of input too', async () => {
    expect(await readText(lines('only line').next)).toBe('only line\n');
  });

  it('stores nothing when no line comes', async () => {
    expect(await readText(lines('.').next)).toBe('');
    expect(await readText(lines().next)).toBe('');
  });

  it('keeps blank lines, and lines that merely contain a dot', async () => {
    expect(await readText(lines('a', '', ' . ', '..', '.').next)).toBe('a\n\n . \n..\n');
  });

  it('joins words with spaces and ends them with a newline', () => {
    expect(textOfWords(['hello', 'peer', 'world'])).toBe('hello peer world\n');
  });
});

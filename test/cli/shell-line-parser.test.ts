/**
 * The shell's line syntax: blanks, quotes and backslashes, the strict and the tolerant forms,
 * and quoting a value back so that it parses to itself.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { lexLine, quoteWord, splitLine } from '../../src/cli/shell/line-parser.js';
import { expectKind } from '../helpers/expect-error.js';

describe('splitLine', () => {
  it('cuts on blanks and drops repeated ones', () => {
    expect(splitLine('  touch   team5.txt\tbob r ')).toEqual(['touch', 'team5.txt', 'bob', 'r']);
    expect(splitLine('')).toEqual([]);
    expect(splitLine('   ')).toEqual([]);
  });

  it('keeps blanks inside double and single quotes, and joins adjacent parts', () => {
    expect(splitLine('cat "my file" \'your file\'')).toEqual(['cat', 'my file', 'your file']);
    expect(splitLine('read a"b c"d')).toEqual(['read', 'ab cd']);
    expect(splitLine('touch ""')).toEqual(['touch', '']);
  });

  it('escapes with a backslash outside quotes, and only \\" and \\\\ inside double quotes', () => {
    expect(splitLine('read my\\ file')).toEqual(['read', 'my file']);
    expect(splitLine('read \\"q\\"')).toEqual(['read', '"q"']);
    expect(splitLine('read "a\\"b\\\\c\\n"')).toEqual(['read', 'a"b\\c\\n']);
    expect(splitLine("read 'a\\b'")).toEqual(['read', 'a\\b']);
  });

  it('refuses an unclosed quote or a lone trailing backslash', () => {
    expectKind('invalid', () => splitLine('cat "my file'));
    expectKind('invalid', () => splitLine("cat 'my file"));
    expectKind('invalid', () => splitLine('cat file\\'));
  });
});

describe('lexLine (for completion)', () => {
  it('reports an open quote and where the last word starts', () => {
    const lexed = lexLine('read "my fi');
    expect(lexed.open).toBe('"');
    expect(lexed.words.at(-1)).toEqual({ value: 'my fi', start: 5 });
    expect(lexed.endsInBlank).toBe(false);
  });

  it('knows when the line ends in a blank (a new word begins)', () => {
    expect(lexLine('ls ').endsInBlank).toBe(true);
    expect(lexLine('ls "a ').endsInBlank).toBe(false);
  });
});

describe('quoteWord', () => {
  it('leaves plain words alone and escapes what needs it', () => {
    expect(quoteWord('team5.txt')).toBe('team5.txt');
    expect(quoteWord('my file')).toBe('my\\ file');
    expect(quoteWord('my file', '"')).toBe('"my file');
    expect(quoteWord('my file', "'")).toBe("'my file");
  });

  it('gives back any value through splitLine', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1 }), (value) => {
        expect(splitLine(quoteWord(value))).toEqual([value]);
        expect(splitLine(`${quoteWord(value, '"')}"`)).toEqual([value]);
      }),
    );
  });
});

/**
 * The shell's command-line syntax: words separated by blanks, 'single quotes' taken literally,
 * "double quotes" in which \" and \\ are escapes, and a backslash outside quotes escaping the
 * next character, so that names with spaces or quotes can be typed.
 */
import { FsError } from '../../interface/errors.js';

/** One word of a line: its value and where its raw text starts. */
export interface Word {
  value: string;
  /** Index in the line of the word's first raw character (a quote, when it starts with one). */
  start: number;
}

/** A line cut into words, tolerating an unfinished end (for Tab completion). */
export interface LexedLine {
  words: Word[];
  /** The quote left open at the end of the line, if any. */
  open: '"' | "'" | undefined;
  /** The line ends with a backslash that escapes nothing. */
  danglingEscape: boolean;
  /** The line ends in a blank: the next word has not started. */
  endsInBlank: boolean;
}

const blank = (c: string): boolean => c === ' ' || c === '\t';

/** Cuts `line` into words without ever failing; see {@link splitLine} for the strict form. */
export function lexLine(line: string): LexedLine {
  const words: Word[] = [];
  let current: Word | undefined;
  let open: '"' | "'" | undefined;
  let danglingEscape = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (open === undefined && blank(c)) {
      if (current) words.push(current);
      current = undefined;
      continue;
    }
    current ??= { value: '', start: i };
    if (open === "'") {
      if (c === "'") open = undefined;
      else current.value += c;
    } else if (open === '"') {
      if (c === '"') open = undefined;
      else if (c === '\\' && (line[i + 1] === '"' || line[i + 1] === '\\'))
        current.value += line[++i];
      else current.value += c;
    } else if (c === '"' || c === "'") {
      open = c;
    } else if (c === '\\') {
      if (i + 1 < line.length) current.value += line[++i];
      else danglingEscape = true;
    } else {
      current.value += c;
    }
  }
  if (current) words.push(current);
  const last = line[line.length - 1];
  return {
    words,
    open,
    danglingEscape,
    endsInBlank: open === undefined && last !== undefined && blank(last),
  };
}

/** Cuts a command line into words. @throws FsError `invalid` on an unclosed quote or a lone \ */
export function splitLine(line: string): string[] {
  const lexed = lexLine(line);
  if (lexed.open !== undefined) {
    throw new FsError('invalid', `the line has an unclosed ${lexed.open} quote`, { op: 'shell' });
  }
  if (lexed.danglingEscape) {
    throw new FsError('invalid', 'the line ends with a lone \\', { op: 'shell' });
  }
  return lexed.words.map((w) => w.value);
}

/**
 * Writes `value` back in the line syntax: as is when it needs nothing, else continuing the
 * quote the user opened, else with backslashes before the characters that need them.
 */
export function quoteWord(value: string, openedWith?: '"' | "'"): string {
  if (openedWith === "'" && !value.includes("'")) return `'${value}`;
  if (openedWith === '"') return `"${value.replace(/["\\]/g, (c) => `\\${c}`)}`;
  return value.replace(/[\s"'\\]/g, (c) => `\\${c}`);
}

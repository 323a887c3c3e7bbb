/**
 * Passwords for the one-shot commands, from exactly one place: a file (`--password-file FILE`),
 * standard input (`--password-stdin`, one password per line), or a prompt without echo when
 * standard input is a terminal. Never from a flag's value, which would sit in the shell history
 * and in `ps`; and never by waiting on a standard input that is not a terminal unless asked to,
 * so a script that forgot the flag fails at once instead of hanging.
 *
 * Security-sensitive: passwords are returned to the caller and never printed, logged or kept.
 */
import { readFileSync } from 'node:fs';
import { StringDecoder } from 'node:string_decoder';
import { FsError } from '../interface/errors.js';
import { HintedError } from './hinted-error.js';

/** Where the passwords come from, as the flags say. */
export interface PasswordSource {
  /** `--password-file FILE`: one password per line. */
  file?: string | undefined;
  /** `--password-stdin`: one password per line on standard input. */
  stdin?: boolean | undefined;
}

/** What to ask for. */
export interface PasswordRequest {
  /** One label per password, e.g. `['Password']` or `['Current password', 'New password']`. */
  labels: readonly string[];
  /** On a terminal, ask for the last one twice (a new password, so a typo is caught). */
  confirmLast?: boolean;
}

/** The standard input as far as prompting cares; tests hand in a fake. */
export interface TerminalInput extends NodeJS.ReadableStream {
  isTTY?: boolean;
  setRawMode?: (mode: boolean) => unknown;
}

/** Where prompts are read and written (standard input and standard error by default). */
export interface Terminal {
  input: TerminalInput;
  output: NodeJS.WritableStream;
}

/** Longest password line accepted, a guard against reading a whole file by mistake. */
const maxLine = 4096;

/** The process's terminal: prompts on standard error, so standard output stays clean. */
export function processTerminal(): Terminal {
  return { input: process.stdin, output: process.stderr };
}

/** True when `source` names a source (a file or stdin) rather than the terminal. */
export function hasPasswordFlag(source: PasswordSource): boolean {
  return source.file !== undefined || source.stdin === true;
}

/**
 * Reads the passwords `request` asks for, in order.
 * @throws FsError `invalid` when both flags are given, when there is no terminal and no flag,
 *   when a line is missing or empty, on a mismatched confirmation, or when cancelled;
 *   `not-exist` when the password file cannot be read
 */
export async function readPasswords(
  source: PasswordSource,
  request: PasswordRequest,
  op: string,
  terminal: Terminal = processTerminal(),
): Promise<string[]> {
  const count = request.labels.length;
  if (source.file !== undefined && source.stdin === true) {
    throw new FsError('invalid', 'choose one of --password-file and --password-stdin', { op });
  }
  if (source.file !== undefined) {
    let text: string;
    try {
      text = readFileSync(source.file, 'utf8');
    } catch {
      throw new FsError('not-exist', `cannot read the password file ${source.file}`, { op });
    }
    return checked(takeLines(text, count, true), count, `the password file ${source.file}`, op);
  }
  if (source.stdin === true) {
    return checked(await readLines(terminal.input, count, op), count, 'standard input', op);
  }
  if (terminal.input.isTTY !== true || terminal.input.setRawMode === undefined) {
    throw new FsError(
      'invalid',
      'no terminal to ask for the password on: pass --password-file FILE or --password-stdin',
      { op },
    );
  }
  const passwords: string[] = [];
  for (const [i, label] of request.labels.entries()) {
    const password = await promptHidden(`${label}: `, terminal, op);
    if (password === '')
      throw new FsError('invalid', `the ${label.toLowerCase()} is empty`, { op });
    if (request.confirmLast === true && i === count - 1) {
      const again = await promptHidden(`${label} again: `, terminal, op);
      if (again !== password) throw new FsError('invalid', 'the passwords do not match', { op });
    }
    passwords.push(password);
  }
  return passwords;
}

/** Checks that `lines` holds `count` non-empty passwords. */
function checked(lines: string[], count: number, where: string, op: string): string[] {
  if (lines.length < count) {
    throw new FsError(
      'invalid',
      count === 1
        ? `no password on ${where}`
        : `${where} must hold ${count} lines (${count} passwords), found ${lines.length}`,
      { op },
    );
  }
  if (lines.some((line) => line === '')) {
    throw new FsError('invalid', `empty password on ${where}`, { op });
  }
  return lines;
}

/**
 * The first `count` lines of `text`, without their line endings (`\n` or `\r\n`); only line
 * endings are removed, so spaces are part of the password. With `atEnd`, a last line without a
 * newline counts.
 */
export function takeLines(text: string, count: number, atEnd: boolean): string[] {
  const parts = text.split('\n');
  const complete = atEnd ? parts : parts.slice(0, -1);
  if (atEnd && parts[parts.length - 1] === '') complete.pop();
  return complete.slice(0, count).map((line) => line.replace(/\r$/, ''));
}

/** Reads up to `count` lines from `input`, stopping as soon as it has them. */
function readLines(input: TerminalInput, count: number, op: string): Promise<string[]> {
  const decoder = new StringDecoder('utf8');
  let text = '';
  return new Promise((resolve, reject) => {
    const finish = (): void => {
      input.off('data', onData);
      input.off('end', onEnd);
      input.off('error', onError);
      input.pause();
    };
    const onData = (chunk: Buffer | string): void => {
      text += typeof chunk === 'string' ? chunk : decoder.write(chunk);
      const lines = takeLines(text, count, false);
      if (lines.length >= count) {
        finish();
        resolve(lines);
      } else if (text.length > maxLine * count) {
        finish();
        reject(new FsError('invalid', 'the password lines on standard input are too long', { op }));
      }
    };
    const onEnd = (): void => {
      finish();
      resolve(takeLines(text + decoder.end(), count, true));
    };
    const onError = (): void => {
      finish();
      reject(new FsError('unavailable', 'cannot read standard input', { op }));
    };
    input.on('data', onData);
    input.once('end', onEnd);
    input.once('error', onError);
    input.resume();
  });
}

/**
 * Prompts on the terminal and reads one line in raw mode, echoing nothing. Backspace edits,
 * Enter ends, Ctrl-C or Ctrl-D (on an empty line) cancel.
 */
export function promptHidden(prompt: string, terminal: Terminal, op: string): Promise<string> {
  const { input, output } = terminal;
  output.write(prompt);
  input.setRawMode?.(true);
  input.setEncoding('utf8');
  let value: string[] = [];
  return new Promise((resolve, reject) => {
    const finish = (): void => {
      input.off('data', onData);
      input.setRawMode?.(false);
      input.pause();
      output.write('\n');
    };
    const onData = (chunk: string | Buffer): void => {
      const chars = [...String(chunk)];
      for (const [i, char] of chars.entries()) {
        if (char === '\r' || char === '\n') {
          finish();
          // Typed ahead (or pasted): keep the rest for the next prompt.
          const rest = chars
            .slice(i + 1)
            .join('')
            .replace(/^\n/, '');
          if (rest !== '') input.unshift(rest);
          resolve(value.join(''));
          return;
        }
        if (char === '\u0003' || (char === '\u0004' && value.length === 0)) {
          finish();
          value = [];
          reject(new HintedError('invalid', 'cancelled', '', { op }));
          return;
        }
        if (char === '\u007f' || char === '\b') value.pop();
        else if (char >= ' ' && value.length < maxLine) value.push(char);
      }
    };
    input.on('data', onData);
    input.resume();
  });
}

/**
 * Reading passwords: from a file, from standard input (stopping as soon as the lines are in),
 * from a terminal without echo, and refusing to wait when there is no terminal.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import {
  readPasswords,
  takeLines,
  type Terminal,
  type TerminalInput,
} from '../../src/cli/passwords.js';
import { expectKindAsync } from '../helpers/expect-error.js';

/** A fake standard input and standard error; `tty` makes it look like a terminal. */
function fakeTerminal(tty: boolean): {
  terminal: Terminal;
  input: PassThrough;
  shown: () => string;
} {
  const input = new PassThrough();
  const output = new PassThrough();
  let shown = '';
  output.on('data', (chunk: Buffer) => (shown += chunk.toString()));
  const modes: boolean[] = [];
  const fake = input as PassThrough & TerminalInput;
  if (tty) {
    fake.isTTY = true;
    fake.setRawMode = (mode: boolean) => modes.push(mode);
  }
  return { terminal: { input: fake, output }, input, shown: () => shown };
}

const dirs: string[] = [];
function tempFile(content: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'pv-pw-'));
  dirs.push(dir);
  const path = join(dir, 'pw');
  writeFileSync(path, content);
  return path;
}
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('takeLines', () => {
  it('strips only line endings, so spaces belong to the password', () => {
    expect(takeLines(' a b \r\nsecond\n', 2, true)).toEqual([' a b ', 'second']);
  });

  it('counts a last line without a newline only at the end of the input', () => {
    expect(takeLines('one\ntwo', 2, false)).toEqual(['one']);
    expect(takeLines('one\ntwo', 2, true)).toEqual(['one', 'two']);
  });
});

describe('readPasswords', () => {
  const one = { labels: ['Password'] };

  it('reads the first line of a password file', async () => {
    const file = tempFile('correct horse\r\nignored\n');
    expect(await readPasswords({ file }, one, 'login', fakeTerminal(false).terminal)).toEqual([
      'correct horse',
    ]);
  });

  it('reads two lines (current, new) for a password change', async () => {
    const file = tempFile('old one\nnew one\n');
    const request = { labels: ['Current password', 'New password'], confirmLast: true };
    expect(await readPasswords({ file }, request, 'passwd', fakeTerminal(false).terminal)).toEqual([
      'old one',
      'new one',
    ]);
  });

  it('refuses a file with too few lines, an empty password and a missing file', async () => {
    const t = fakeTerminal(false).terminal;
    const two = { labels: ['Current password', 'New password'] };
    await expectKindAsync('invalid', readPasswords({ file: tempFile('only\n') }, two, 'p', t));
    await expectKindAsync('invalid', readPasswords({ file: tempFile('\nx\n') }, one, 'p', t));
    await expectKindAsync('not-exist', readPasswords({ file: '/nonexistent/pw' }, one, 'p', t));
  });

  it('reads standard input and returns as soon as the lines are there (no EOF needed)', async () => {
    const { terminal, input } = fakeTerminal(false);
    const read = readPasswords({ stdin: true }, one, 'login', terminal);
    input.write('from stdin\n'); // never ended: a terminal would wait here otherwise
    expect(await read).toEqual(['from stdin']);
  });

  it('takes a last line without a newline at the end of standard input', async () => {
    const { terminal, input } = fakeTerminal(false);
    const read = readPasswords({ stdin: true }, one, 'login', terminal);
    input.end('no newline');
    expect(await read).toEqual(['no newline']);
  });

  it('refuses empty standard input', async () => {
    const { terminal, input } = fakeTerminal(false);
    const read = readPasswords({ stdin: true }, one, 'login', terminal);
    input.end();
    await expectKindAsync('invalid', read);
  });

  it('refuses to wait when there is neither a flag nor a terminal', async () => {
    await expectKindAsync('invalid', readPasswords({}, one, 'login', fakeTerminal(false).terminal));
  });

  it('refuses both flags at once', async () => {
    const file = tempFile('x\n');
    await expectKindAsync(
      'invalid',
      readPasswords({ file, stdin: true }, one, 'login', fakeTerminal(false).terminal),
    );
  });

  it('prompts on a terminal without echoing, and handles backspace', async () => {
    const { terminal, input, shown } = fakeTerminal(true);
    const read = readPasswords({}, one, 'login', terminal);
    input.write('sekrx\u007fet\r');
    expect(await read).toEqual(['sekret']);
    expect(shown()).toContain('Password: ');
    expect(shown()).not.toContain('sekr');
  });

  it('asks for a new password twice and refuses a mismatch', async () => {
    const { terminal, input } = fakeTerminal(true);
    const read = readPasswords({}, { labels: ['Password'], confirmLast: true }, 'reg', terminal);
    input.write('first\r');
    setTimeout(() => input.write('other\r'), 10);
    await expectKindAsync('invalid', read);
  });

  it('takes a confirmed password', async () => {
    const { terminal, input, shown } = fakeTerminal(true);
    const read = readPasswords({}, { labels: ['Password'], confirmLast: true }, 'reg', terminal);
    input.write('same\rsame\r'); // typed ahead: the rest waits for the second prompt
    expect(await read).toEqual(['same']);
    expect(shown()).toContain('Password again: ');
  });

  it('cancels on Ctrl-C', async () => {
    const { terminal, input } = fakeTerminal(true);
    const read = readPasswords({}, one, 'login', terminal);
    input.write('abc\u0003');
    await expectKindAsync('invalid', read);
  });
});

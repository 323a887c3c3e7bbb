/**
 * `--password-stdin`: the first line of standard input is the password, the lines after it are
 * the shell's commands. The line is cut off without reading further than needed, and the rest
 * of the input is handed on untouched.
 */
import { Readable } from 'node:stream';
import { FsError } from '../../interface/errors.js';

/** Longest first line accepted: a password, not a file. */
const maxLineBytes = 64 * 1024;

/**
 * Reads `stream`'s first line (without its line ending).
 * @returns the line (undefined when the input is empty) and a stream of everything after it
 * @throws FsError `invalid` when the first line is longer than 64 KiB
 */
export async function readFirstLine(
  stream: NodeJS.ReadableStream,
): Promise<{ line: string | undefined; rest: Readable }> {
  const source = (stream as AsyncIterable<Buffer | string>)[Symbol.asyncIterator]();
  let held = Buffer.alloc(0);
  for (;;) {
    const next = await source.next();
    if (next.done === true) {
      const line = held.length > 0 ? held.toString('utf8').replace(/\r$/, '') : undefined;
      return { line, rest: Readable.from([], { objectMode: false }) };
    }
    held = Buffer.concat([held, Buffer.from(next.value)]);
    const end = held.indexOf(0x0a);
    if (end >= 0) {
      const line = held.subarray(0, end).toString('utf8').replace(/\r$/, '');
      const after = held.subarray(end + 1);
      return { line, rest: Readable.from(continueWith(after, source), { objectMode: false }) };
    }
    if (held.length > maxLineBytes) {
      throw new FsError('invalid', 'the first line of standard input (the password) is too long', {
        op: 'shell',
      });
    }
  }
}

async function* continueWith(
  first: Buffer,
  source: AsyncIterator<Buffer | string>,
): AsyncGenerator<Buffer> {
  if (first.length > 0) yield first;
  for (;;) {
    const next = await source.next();
    if (next.done === true) return;
    yield Buffer.from(next.value);
  }
}

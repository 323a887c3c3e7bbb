/**
 * Where the shell's lines come from: node:readline over a terminal (prompts, editing, Tab
 * completion, history, no echo for passwords) or over a pipe (plain lines, no prompts).
 */
import { createInterface, type AsyncCompleter } from 'node:readline';
import { Writable } from 'node:stream';

/** Ctrl-C while a line was being read: the caller drops what it was reading. */
export class Interrupted extends Error {
  override readonly name = 'Interrupted';
  constructor() {
    super('interrupted');
  }
}

/** Options of one {@link LineReader.read}. */
export interface ReadOptions {
  /** Do not echo what is typed (passwords). */
  secret?: boolean;
  /** Keep the line in the terminal's history (commands yes; passwords, file text no). */
  record?: boolean;
}

/** A source of lines. */
export interface LineReader {
  /**
   * The next line, without its line ending; undefined at the end of input (Ctrl-D).
   * @throws Interrupted on Ctrl-C at a terminal
   */
  read(prompt: string, options?: ReadOptions): Promise<string | undefined>;
  /** What Ctrl-C does while no line is being read, i.e. while a command runs. */
  onInterrupt(handler: (() => void) | undefined): void;
  /** Stops reading and gives the terminal back. */
  close(): void;
}

/** A pass-through to the terminal that can be muted, so a typed password is not echoed. */
class MutableOutput extends Writable {
  muted = false;
  readonly #target: NodeJS.WritableStream & { columns?: number; rows?: number };

  constructor(target: NodeJS.WritableStream) {
    super();
    this.#target = target;
    // readline redraws long lines when the terminal is resized.
    (target as NodeJS.EventEmitter).on?.('resize', () => this.emit('resize'));
  }

  get isTTY(): boolean {
    return true;
  }
  get columns(): number | undefined {
    return this.#target.columns;
  }
  get rows(): number | undefined {
    return this.#target.rows;
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: () => void): void {
    if (!this.muted) this.#target.write(chunk);
    callback();
  }
}

/** Options of {@link createLineReader}. */
export interface LineReaderOptions {
  input: NodeJS.ReadableStream;
  output: NodeJS.WritableStream;
  /** A terminal: prompts, editing, history, completion. */
  interactive: boolean;
  completer?: AsyncCompleter;
  /** Earlier commands, newest first. */
  history?: string[];
}

/** Opens a line reader over `input`. */
export function createLineReader(options: LineReaderOptions): LineReader {
  const output = options.interactive ? new MutableOutput(options.output) : undefined;
  const rl = createInterface({
    input: options.input,
    ...(output === undefined ? {} : { output }),
    terminal: options.interactive,
    crlfDelay: Infinity,
    ...(options.interactive
      ? {
          history: options.history ?? [],
          historySize: 1000,
          removeHistoryDuplicates: true,
          ...(options.completer === undefined ? {} : { completer: options.completer }),
        }
      : {}),
  });
  // Lines that arrive before anyone asks (a pipe is read ahead) wait here.
  const queue: string[] = [];
  let waiting:
    { resolve: (line: string | undefined) => void; reject: (err: Error) => void } | undefined;
  let closed = false;
  let interruptHandler: (() => void) | undefined;

  rl.on('line', (line) => {
    const waiter = waiting;
    waiting = undefined;
    if (waiter) waiter.resolve(line);
    else queue.push(line);
  });
  rl.on('close', () => {
    closed = true;
    const waiter = waiting;
    waiting = undefined;
    waiter?.resolve(undefined);
  });
  rl.on('SIGINT', () => {
    const waiter = waiting;
    if (!waiter) {
      interruptHandler?.();
      return;
    }
    waiting = undefined;
    if (output) output.muted = false;
    // Drop what was typed, as a shell does, and start a fresh line.
    rl.write(null, { ctrl: true, name: 'e' });
    rl.write(null, { ctrl: true, name: 'u' });
    options.output.write('^C\n');
    waiter.reject(new Interrupted());
  });

  /** readline keeps every entered line; take back the ones that must not be recalled. */
  const forget = (line: string): void => {
    const history = (rl as unknown as { history?: string[] }).history;
    if (history?.[0] === line) history.shift();
  };

  return {
    read(prompt, readOptions = {}) {
      const queued = queue.shift();
      if (queued !== undefined) return Promise.resolve(queued);
      if (closed) return Promise.resolve(undefined);
      if (output) {
        rl.setPrompt(prompt);
        rl.prompt();
        output.muted = readOptions.secret === true;
      }
      return new Promise<string | undefined>((resolve, reject) => {
        waiting = {
          resolve: (line) => {
            if (output && readOptions.secret) {
              output.muted = false;
              options.output.write('\n');
            }
            if (output && line !== undefined && readOptions.record !== true) forget(line);
            resolve(line);
          },
          reject,
        };
      });
    },
    onInterrupt(handler) {
      interruptHandler = handler;
    },
    close() {
      if (output) output.muted = false;
      rl.close();
    },
  };
}

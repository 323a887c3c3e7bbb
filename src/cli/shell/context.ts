/**
 * What a shell command works with: the local API, who is logged in, the working directory,
 * and where to read and write. Commands get this and nothing else, so tests can hand in their
 * own.
 */
import { FsError } from '../../interface/errors.js';
import type { UserName } from '../../interface/names.js';
import { type PathName, formatPath, parsePath } from '../../interface/paths.js';
import type { LocalApi } from '../local-api.js';
import type { ReadOptions } from './line-reader.js';

/** The state a command sees and may change (`cwd`, `quitting`). */
export interface ShellContext {
  api: LocalApi;
  user: UserName;
  /** The working directory; relative paths start here. */
  cwd: PathName;
  /** A terminal: prompts, progress bars, columns. */
  interactive: boolean;
  /** Raw output, for streamed file contents. */
  output: NodeJS.WritableStream;
  /** Writes one line of output. */
  out(text: string): void;
  /** Reads a further line of input (file text, a password). */
  readLine(prompt: string, options?: ReadOptions): Promise<string | undefined>;
  /** Aborted by Ctrl-C while the command runs. */
  signal: AbortSignal;
  /** Set by `quit`. */
  quitting: boolean;
}

/** A typed remote path, absolute and normalised, in the form the local API takes. */
export function remotePath(ctx: ShellContext, raw: string): string {
  return formatPath(parsePath(raw, ctx.user, ctx.cwd));
}

/** The error a command throws when its arguments do not fit its usage. */
export function usageError(usage: string): FsError {
  return new FsError('invalid', `usage: ${usage}`, { op: 'shell' });
}

/**
 * Splits leading flags (`-r`, `-la`) from the other arguments; `--` ends the flags, so a name
 * that starts with `-` can still be given.
 * @throws FsError `invalid` (the usage) for a flag not in `allowed`
 */
export function takeFlags(
  args: readonly string[],
  allowed: string,
  usage: string,
): { flags: Set<string>; rest: string[] } {
  const flags = new Set<string>();
  let i = 0;
  for (; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--') {
      i++;
      break;
    }
    if (!arg.startsWith('-') || arg === '-') break;
    for (const letter of arg.slice(1)) {
      if (!allowed.includes(letter)) throw usageError(usage);
      flags.add(letter);
    }
  }
  return { flags, rest: args.slice(i) };
}

/** What Tab completes for an argument. */
export type ArgKind = 'remote' | 'local' | 'command';

/** One command of the shell. */
export interface ShellCommand {
  name: string;
  /** Other words that select it (`exit` for `quit`). */
  aliases?: readonly string[];
  /** `touch FILE`: shown by `help` and in usage errors. */
  usage: string;
  /** One line for `help`. */
  summary: string;
  /** More for `help NAME`, when the usage and summary are not enough. */
  details?: string;
  /** What Tab completes at each argument position (flags not counted). */
  args: readonly ArgKind[];
  /** Runs the command; user-facing failures are thrown as FsError. */
  run(ctx: ShellContext, args: readonly string[]): Promise<void>;
}

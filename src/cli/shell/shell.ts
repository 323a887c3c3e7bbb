/**
 * The PeerVault shell (the seed's interactive menu): log in, then read commands until `quit`
 * or the end of input. At a terminal it prompts `alice:/alice/pcs> `, completes with Tab and
 * keeps a history; over a pipe it reads one command a line, prints results to `output` and
 * `error: <sentence>` to `errors`, keeps going after a failure, and fails at the end if any
 * command did.
 */
import { FsError, isFsError, kindHints } from '../../interface/errors.js';
import { formatPath } from '../../interface/paths.js';
import type { LocalApi } from '../local-api.js';
import { findCommand } from './commands.js';
import { complete, readlineCompleter } from './completer.js';
import type { ShellContext } from './context.js';
import { appendHistory, loadHistory } from './history-file.js';
import { splitLine } from './line-parser.js';
import { Interrupted, createLineReader } from './line-reader.js';
import { unreadAlerts } from '../alerts-output.js';
import { logIn } from './login.js';
import { type ShellState, commandContext, completionSources } from './state.js';

/** What {@link runShell} needs. */
export interface ShellOptions {
  /** Already logged in (api.session set) or not: then the shell asks. */
  api: LocalApi;
  input: NodeJS.ReadableStream;
  output: NodeJS.WritableStream;
  errors: NodeJS.WritableStream;
  /** A terminal: prompts, Tab completion, history, progress bars. */
  interactive: boolean;
  /** Persisted history (0600) when interactive. */
  historyFile?: string;
  /** Log in with these before the first command. */
  login?: { user: string; password: string };
  /** Log in as this user, asking only for the password. */
  user?: string;
}

/** The prompt: `alice:/alice/pcs> `. */
export function promptOf(ctx: Pick<ShellContext, 'user' | 'cwd'>): string {
  return `${ctx.user}:${formatPath(ctx.cwd)}> `;
}

/** Prints a failure as one line; never a stack (unless PEERVAULT_DEBUG asks for it). */
function report(errors: NodeJS.WritableStream, err: unknown): void {
  if (err instanceof Interrupted) return; // "^C" is already on the screen
  if (isFsError(err)) {
    errors.write(`error: ${err.message}\n`);
    return;
  }
  errors.write(`error: internal error. ${kindHints.internal}\n`);
  if (process.env['PEERVAULT_DEBUG']) errors.write(`${String((err as Error).stack)}\n`);
}

/** Rejects with Interrupted when `signal` aborts, so Ctrl-C gives the prompt back at once. */
function untilAborted<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  return Promise.race([
    work,
    new Promise<never>((_, reject) =>
      signal.addEventListener('abort', () => reject(new Interrupted()), { once: true }),
    ),
  ]);
}

/** Runs one command line. @returns whether it succeeded */
async function runLine(
  state: ShellState,
  line: string,
  errors: NodeJS.WritableStream,
): Promise<boolean> {
  const trimmed = line.trim();
  if (trimmed === '' || trimmed.startsWith('#')) return true;
  const controller = new AbortController();
  state.reader.onInterrupt(() => {
    state.output.write('^C\n');
    controller.abort();
  });
  try {
    const [name, ...args] = splitLine(line);
    const command = findCommand(name!);
    if (!command) {
      throw new FsError('invalid', `unknown command "${name}"; type help for the list`, {
        op: 'shell',
      });
    }
    await untilAborted(
      command.run(commandContext(state, controller.signal), args),
      controller.signal,
    );
    return true;
  } catch (err) {
    report(errors, err);
    return false;
  } finally {
    state.reader.onInterrupt(undefined);
  }
}

/**
 * Runs the shell until `quit` or end of input.
 * @returns the exit code: 0, or 1 if any command failed (non-interactive); when the login
 *   fails, its exit code (3 for "Login failed")
 */
export async function runShell(options: ShellOptions): Promise<number> {
  const { api, output, errors, interactive } = options;
  const history = interactive ? options.historyFile : undefined;
  let state: ShellState | undefined;
  const reader = createLineReader({
    input: options.input,
    output,
    interactive,
    history: history === undefined ? [] : loadHistory(history),
    completer: readlineCompleter((line) =>
      state === undefined ? Promise.resolve([[], line]) : complete(line, completionSources(state)),
    ),
  });
  let ownSession = false;
  try {
    const loggedIn = await logIn({
      api,
      reader,
      errors,
      interactive,
      ...(options.login === undefined ? {} : { login: options.login }),
      ...(options.user === undefined ? {} : { user: options.user }),
    });
    if (typeof loggedIn === 'number') return loggedIn;
    ownSession = loggedIn.ownSession;
    const { user } = loggedIn;
    state = {
      api,
      user,
      cwd: { owner: user, elements: [] },
      interactive,
      output,
      reader,
      quitting: false,
    };
    if (interactive) {
      output.write(`Logged in as ${user}. Type help for the commands, quit to leave.\n`);
      // Alerts must reach the person who must act: say so at once (never blocks the shell).
      const unread = await api
        .alerts()
        .then(unreadAlerts)
        .catch(() => 0);
      if (unread > 0) {
        output.write(
          `${unread} unread security alert${unread === 1 ? '' : 's'}: type alerts to read ${unread === 1 ? 'it' : 'them'}.\n`,
        );
      }
    }
    let failed = false;
    while (!state.quitting) {
      let line: string | undefined;
      try {
        line = await reader.read(promptOf(state), { record: true });
      } catch (err) {
        if (err instanceof Interrupted) continue;
        throw err;
      }
      if (line === undefined) {
        if (interactive) output.write('\n'); // Ctrl-D: leave the terminal on a fresh line
        break;
      }
      if (history !== undefined && line.trim() !== '') appendHistory(history, line);
      if (!(await runLine(state, line, errors))) failed = true;
    }
    return failed && !interactive ? 1 : 0;
  } finally {
    reader.close();
    // The peer holds the unlocked keys for as long as the session lives: end the one we made.
    if (ownSession) await api.logout().catch(() => undefined);
  }
}

/**
 * The shell's state from one command to the next (who, where, whether to stop), and the views
 * of it that a command and Tab completion get.
 */
import type { UserName } from '../../interface/names.js';
import { type PathName, formatPath, parsePath } from '../../interface/paths.js';
import type { LocalApi } from '../local-api.js';
import { commandWords, findCommand } from './commands.js';
import type { CompletionSources } from './completer.js';
import type { ShellContext } from './context.js';
import type { LineReader } from './line-reader.js';
import { listLocal } from './local-files.js';

/** What lives from one command to the next. */
export interface ShellState {
  api: LocalApi;
  user: UserName;
  cwd: PathName;
  interactive: boolean;
  output: NodeJS.WritableStream;
  reader: LineReader;
  quitting: boolean;
}

/**
 * The context one command runs in. Once Ctrl-C has given the prompt back, a command still
 * finishing in the background can neither print nor move the working directory.
 */
export function commandContext(state: ShellState, signal: AbortSignal): ShellContext {
  const live = (): boolean => !signal.aborted;
  return {
    api: state.api,
    user: state.user,
    interactive: state.interactive,
    output: state.output,
    signal,
    get cwd() {
      return state.cwd;
    },
    set cwd(path) {
      if (live()) state.cwd = path;
    },
    get quitting() {
      return state.quitting;
    },
    set quitting(value) {
      if (live()) state.quitting = value;
    },
    out(text) {
      if (live()) state.output.write(`${text}\n`);
    },
    readLine: (prompt, readOptions) => state.reader.read(prompt, readOptions),
  };
}

/** What Tab completion lists, seen from the shell's current state. */
export function completionSources(state: ShellState): CompletionSources {
  return {
    commands: commandWords,
    argKind: (command, index) => findCommand(command)?.args[index],
    async listRemote(dir) {
      // Other users' roots cannot be listed; offer one's own.
      if (dir === '/') return [{ name: state.user, dir: true }];
      const path = dir === '' ? state.cwd : parsePath(dir, state.user, state.cwd);
      const entries = await state.api.list(formatPath(path));
      return entries.map((e) => ({ name: e.name, dir: e.kind === 'dir' }));
    },
    listLocal,
  };
}

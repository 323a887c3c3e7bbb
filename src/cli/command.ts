/**
 * The shape of a CLI command. One file per command under src/cli/commands/; the one-shot CLI
 * and (later) the shell share the same table.
 */

/** Where a command writes; tests pass their own. */
export interface CommandIo {
  out: (text: string) => void;
  err: (text: string) => void;
}

/** One subcommand of `peervault`. */
export interface Command {
  /** The word that selects it: `peervault <name>`. */
  name: string;
  /** One line for the command list. */
  summary: string;
  /** The full `--help` text. */
  help: string;
  /** Runs the command and returns its exit code. Throws FsError for user-facing failures. */
  run(args: readonly string[], io: CommandIo): Promise<number>;
}

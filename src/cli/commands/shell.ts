/**
 * `peervault shell`: the interactive shell on the local peer (see src/cli/shell/shell.ts).
 */
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { FsError, isFsError } from '../../interface/errors.js';
import { readIfExists, refuseLoosePermissions } from '../../support/key-files.js';
import { parseFlags } from '../args.js';
import type { Command, CommandIo } from '../command.js';
import { HintedError } from '../hinted-error.js';
import { LocalApi } from '../local-api.js';
import { locatePeer } from '../locate-peer.js';
import { readFirstLine } from '../shell/first-line.js';
import { runShell } from '../shell/shell.js';

const help = `Usage:
  peervault shell [--peer DIR] [--api URL] [--demo DIR] [--user NAME]
                  [--password-file FILE | --password-stdin]

Opens the PeerVault shell on your local peer: log in, then touch, mkdir, ls, cat, read, rm,
rmdir, put, get and more (type help inside). Without --user it asks for the user name and
the password, as the original shell did.

At a terminal it prompts, completes with Tab and keeps a history in DIR/shell-history.
Otherwise it reads one command a line from standard input, prints results on standard output
and "error: ..." on standard error, goes on after a failure, and exits with 1 if any command
failed (3 when the login fails).

  --peer DIR          the peer's data directory (default: the demo's first peer, else
                      ./.peervault/peer)
  --api URL           the peer's local API, http://127.0.0.1:PORT
  --demo DIR          the demo network's directory (default ./.peervault/demo)
  --user NAME         log in as NAME (asks only for the password)
  --password-file F   read the password from the first line of F (mode 0600)
  --password-stdin    read the password from the first line of standard input; the lines
                      after it are commands`;

/** The first line of a password file, refusing a file that other users can read. */
async function passwordFromFile(path: string): Promise<string> {
  const op = 'shell';
  const raw = readIfExists(path);
  // These messages already say what to do; the kinds' generic hints would not fit.
  if (raw === undefined)
    throw new HintedError('not-exist', `no such password file: ${path}`, '', { op });
  try {
    await refuseLoosePermissions(path);
  } catch (err) {
    if (isFsError(err, 'permission')) throw new HintedError('permission', err.message, '', { op });
    throw err;
  }
  const line = raw.toString('utf8').split('\n')[0]?.replace(/\r$/, '') ?? '';
  if (line === '')
    throw new HintedError('invalid', `the password file ${path} is empty`, '', { op });
  return line;
}

async function run(args: readonly string[], _io: CommandIo): Promise<number> {
  const op = 'shell';
  const { flags, positionals } = parseFlags(
    args,
    {
      peer: { type: 'string' },
      api: { type: 'string' },
      demo: { type: 'string' },
      user: { type: 'string' },
      'password-file': { type: 'string' },
      'password-stdin': { type: 'boolean' },
    },
    op,
  );
  if (positionals.length > 0) {
    throw new FsError(
      'invalid',
      `shell takes no arguments (got "${positionals[0]}"); give it commands on standard input`,
      { op },
    );
  }
  const fromStdin = flags['password-stdin'] === true;
  const file = flags['password-file'];
  if (fromStdin && file !== undefined)
    throw new FsError('invalid', 'give either --password-file or --password-stdin, not both', {
      op,
    });
  if ((fromStdin || file !== undefined) && flags.user === undefined)
    throw new FsError('invalid', 'a password from a file or standard input needs --user NAME', {
      op,
    });

  const location = await locatePeer({ peer: flags.peer, api: flags.api, demo: flags.demo });
  const api = new LocalApi(location.endpoint);
  let input: NodeJS.ReadableStream = process.stdin;
  let rest: Readable | undefined;
  let password: string | undefined;
  if (file !== undefined) password = await passwordFromFile(file);
  if (fromStdin) {
    const first = await readFirstLine(process.stdin);
    if (first.line === undefined || first.line === '')
      throw new FsError('invalid', 'no password on the first line of standard input', { op });
    password = first.line;
    rest = first.rest;
    input = rest;
  }
  // With the password taken from standard input, the rest of it is a script, not a terminal.
  const interactive = process.stdin.isTTY === true && !fromStdin;
  try {
    return await runShell({
      api,
      input,
      output: process.stdout,
      errors: process.stderr,
      interactive,
      ...(interactive ? { historyFile: join(location.dataDir, 'shell-history') } : {}),
      ...(password !== undefined && flags.user !== undefined
        ? { login: { user: flags.user, password } }
        : flags.user !== undefined
          ? { user: flags.user }
          : {}),
    });
  } finally {
    // The shell may quit before the input ends; stop reading it so the process can exit.
    rest?.destroy();
    if (rest !== undefined || !interactive) process.stdin.destroy();
  }
}

export const shellCommand: Command = {
  name: 'shell',
  summary: 'open the shell: touch, mkdir, ls, cat, read, rm, rmdir, put, get …',
  help,
  run,
};

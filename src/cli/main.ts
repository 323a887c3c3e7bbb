/**
 * The `peervault` command line: parses the subcommand, runs it, and turns failures into a
 * one-line message and an exit code. A user error never prints a stack trace.
 */
import { createRequire } from 'node:module';
import { isFsError, kindHints } from '../interface/errors.js';
import type { Command, CommandIo } from './command.js';
import {
  loginCommand,
  logoutCommand,
  passwdCommand,
  revocateCommand,
  devicesCommand,
  registerCommand,
  whoamiCommand,
} from './commands/account.js';
import { alertsCommand } from './commands/alerts.js';
import { auditCommand } from './commands/audit.js';
import { demoCommand } from './commands/demo.js';
import { directoryCommand } from './commands/directory.js';
import { groupCommand } from './commands/groups.js';
import {
  getCommand,
  lsCommand,
  mkdirCommand,
  putCommand,
  permsCommand,
  readCommand,
  rmCommand,
  rmdirCommand,
  restoreCommand,
  retentionCommand,
  shareCommand,
  sharedCommand,
  trashCommand,
  touchCommand,
  unshareCommand,
  versionsCommand,
  statCommand,
  writeCommand,
} from './commands/files.js';
import { peersCommand, repairCommand, statusCommand } from './commands/network.js';
import { peerCommand } from './commands/peer.js';
import { shellCommand } from './commands/shell.js';
import { exitCodes, usageExitCode } from './exit-codes.js';
import { ownHint } from './hinted-error.js';

/** Every subcommand, in the order `--help` lists them. */
export const commands: readonly Command[] = [
  demoCommand,
  directoryCommand,
  peerCommand,
  shellCommand,
  registerCommand,
  loginCommand,
  logoutCommand,
  whoamiCommand,
  passwdCommand,
  revocateCommand,
  devicesCommand,
  lsCommand,
  mkdirCommand,
  touchCommand,
  putCommand,
  getCommand,
  readCommand,
  writeCommand,
  rmCommand,
  rmdirCommand,
  restoreCommand,
  trashCommand,
  retentionCommand,
  versionsCommand,
  statCommand,
  shareCommand,
  unshareCommand,
  permsCommand,
  sharedCommand,
  groupCommand,
  peersCommand,
  statusCommand,
  repairCommand,
  auditCommand,
  alertsCommand,
];

const processIo: CommandIo = {
  out: (text) => process.stdout.write(text + '\n'),
  err: (text) => process.stderr.write(text + '\n'),
};

function version(): string {
  const require = createRequire(import.meta.url);
  const pkg = require('../../package.json') as { version: string };
  return pkg.version;
}

function usage(): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  const lines = commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`);
  return [
    'PeerVault — an end-to-end encrypted peer-to-peer file system.',
    '',
    'Usage: peervault <command> [options]',
    '',
    'Commands:',
    ...lines,
    '',
    'Options:',
    '  -h, --help     show help (also: peervault <command> --help)',
    '  -V, --version  show the version',
    '',
    'The one-shot commands (register … repair) talk to the local peer; start with',
    '`peervault login --user NAME`. Each takes --json for one JSON document on standard output.',
  ].join('\n');
}

/** Runs the CLI with `argv` (without node and script) and returns the exit code. */
export async function main(argv: readonly string[], io: CommandIo = processIo): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '-h' || name === '--help' || name === 'help') {
    const topic = name === 'help' ? commands.find((c) => c.name === rest[0]) : undefined;
    io.out(topic ? topic.help : usage());
    return 0;
  }
  if (name === '-V' || name === '--version') {
    io.out(version());
    return 0;
  }
  const command = commands.find((c) => c.name === name);
  if (!command) {
    io.err(`peervault: unknown command "${name}". Run \`peervault --help\` for the list.`);
    return usageExitCode;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    io.out(command.help);
    return 0;
  }
  try {
    return await command.run(rest, io);
  } catch (err) {
    if (isFsError(err)) {
      const hint = ownHint(err) ?? kindHints[err.kind];
      io.err(`peervault ${name}: ${err.message}.${hint === '' ? '' : ` ${hint}`}`);
      return exitCodes[err.kind];
    }
    io.err(`peervault ${name}: internal error. ${kindHints.internal}`);
    if (process.env['PEERVAULT_DEBUG']) io.err(String((err as Error).stack));
    return exitCodes.internal;
  }
}

/**
 * The shell's command table: the seed's commands first, then the extras, with `help` and
 * `quit`. Completion, `help` and the loop all read this one table.
 */
import { FsError } from '../../interface/errors.js';
import { accountCommands } from './account-commands.js';
import { alertCommands } from './alert-commands.js';
import { auditCommands } from './audit-commands.js';
import { type ShellCommand, usageError } from './context.js';
import { table } from './format.js';
import { fsCommands } from './fs-commands.js';
import { groupCommands } from './group-commands.js';
import { sharingCommands } from './sharing-commands.js';
import { transferCommands } from './transfer-commands.js';

const quit: ShellCommand = {
  name: 'quit',
  aliases: ['exit'],
  usage: 'quit',
  summary: 'leave the shell (also exit, or Ctrl-D)',
  args: [],
  run(ctx) {
    ctx.quitting = true;
    return Promise.resolve();
  },
};

const help: ShellCommand = {
  name: 'help',
  usage: 'help [COMMAND]',
  summary: 'list the commands, or explain one',
  args: ['command'],
  run(ctx, args) {
    if (args.length > 1) return Promise.reject(usageError(this.usage));
    const topic = args[0];
    if (topic !== undefined) {
      const command = findCommand(topic);
      if (!command) {
        return Promise.reject(
          new FsError('invalid', `no command "${topic}"; type help for the list`, { op: 'help' }),
        );
      }
      ctx.out(`usage: ${command.usage}`);
      ctx.out(command.summary);
      if (command.details) ctx.out(command.details);
      return Promise.resolve();
    }
    ctx.out('Commands:');
    for (const line of table(shellCommands.map((c) => [`  ${c.usage}`, c.summary]))) ctx.out(line);
    ctx.out('');
    ctx.out('Paths: /user/dir/file, or relative to the working directory; ~ is your home.');
    ctx.out('Quote names with spaces: "my file" or my\\ file. Tab completes commands and paths.');
    return Promise.resolve();
  },
};

/** The order `help` lists them in: the seed's menu first, then the extras. */
const order = [
  ...['touch', 'mkdir', 'ls', 'cat', 'read', 'rm', 'rmdir', 'restore', 'revocate', 'quit'],
  ...[
    'share',
    'unshare',
    'perms',
    'shared',
    'group',
    'trash',
    'retention',
    'versions',
    'help',
    'cd',
    'pwd',
    'stat',
    'put',
    'get',
    'whoami',
    'peers',
    'passwd',
    'repair',
    'audit',
  ],
];

/** Every command, in the order `help` lists them. */
export const shellCommands: readonly ShellCommand[] = [
  ...fsCommands,
  ...sharingCommands,
  ...groupCommands,
  ...accountCommands,
  ...transferCommands,
  ...auditCommands,
  ...alertCommands,
  help,
  quit,
].sort((a, b) => rank(a.name) - rank(b.name));

function rank(name: string): number {
  const at = order.indexOf(name);
  return at === -1 ? order.length : at;
}

/** The command a word selects (by name or alias), if any. */
export function findCommand(word: string): ShellCommand | undefined {
  return shellCommands.find((c) => c.name === word || c.aliases?.includes(word));
}

/** Every word that selects a command, for completion. */
export const commandWords: readonly string[] = shellCommands
  .flatMap((c) => [c.name, ...(c.aliases ?? [])])
  .sort();

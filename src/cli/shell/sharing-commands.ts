/**
 * The shell's sharing commands: `share`, `unshare`, `perms` and `shared`. The owner of a file
 * or folder alone shares it and withdraws rights; `perms` shows who has them; grantees find
 * what is shared with them under `/OWNER`. (Grants at creation are on `touch` and `mkdir`.)
 */
import { checkGrantees, grantsOfWords } from '../local-api.js';
import { type ShellCommand, remotePath, usageError } from './context.js';
import { permissionLines, sharedLines, sharingLine, stillThroughLines } from './format.js';

const share: ShellCommand = {
  name: 'share',
  usage: 'share FILE USER r|w|rw [USER RIGHT ...]',
  summary: 'let USER read (r) or write (w) a file or folder you own',
  details: [
    'r reads; w (or rw) writes and reads. Only the owner shares.',
    'Sharing a folder gives the right on the folder and everything in it now; what is',
    'created in it later gets the folder’s grants too. USER finds a shared entry at',
    '/OWNER/NAME (see `shared`). A USER may be one of your groups, @team (see `group`).',
    'Example: share team5.txt bob r carol w',
  ].join('\n'),
  args: ['remote'],
  async run(ctx, args) {
    const [file, ...words] = args;
    if (file === undefined || words.length === 0) throw usageError(this.usage);
    const grants = grantsOfWords(words);
    ctx.out(sharingLine(await ctx.api.share(remotePath(ctx, file), grants)));
  },
};

const unshare: ShellCommand = {
  name: 'unshare',
  usage: 'unshare FILE USER [USER ...]',
  summary: 'take back every right of USER on a file or folder you own',
  details: [
    'On a folder, the users lose their rights on the folder and on everything in it;',
    'other users keep theirs. Only the owner unshares. A USER may be one of your groups:',
    "unshare FILE @team takes back the group's grant. A user you unshare who is still in a",
    'group the file is shared with keeps what the group gives (you are told so).',
  ].join('\n'),
  args: ['remote'],
  async run(ctx, args) {
    const [file, ...users] = args;
    if (file === undefined || users.length === 0) throw usageError(this.usage);
    checkGrantees(users, this.usage);
    const change = await ctx.api.unshare(remotePath(ctx, file), users);
    ctx.out(sharingLine(change));
    for (const line of stillThroughLines(change)) ctx.out(line);
  },
};

const perms: ShellCommand = {
  name: 'perms',
  usage: 'perms FILE',
  summary: 'show who may read and write a file or folder, and who wrote it last',
  details: [
    'Shows the owner, the kind, who wrote the current version, each grant (read or write)',
    'and whether the grants were inherited from the folder the entry was created in. A grant',
    'to a group shows its members (to the owner: @team (read): bob, carol), and then `users`',
    'lists everyone it comes to.',
  ].join('\n'),
  args: ['remote'],
  async run(ctx, args) {
    if (args.length !== 1) throw usageError(this.usage);
    for (const line of permissionLines(await ctx.api.permissions(remotePath(ctx, args[0]!))))
      ctx.out(line);
  },
};

const shared: ShellCommand = {
  name: 'shared',
  usage: 'shared',
  summary: 'list what others share with you, by owner, with your right',
  details: 'Each entry is reached at the path shown, e.g. read /alice/team5.txt or ls /alice.',
  args: [],
  async run(ctx, args) {
    if (args.length > 0) throw usageError(this.usage);
    const items = await ctx.api.shared();
    if (items.length === 0 && ctx.interactive) ctx.out('nothing is shared with you');
    for (const line of sharedLines(items)) ctx.out(line);
  },
};

export const sharingCommands: readonly ShellCommand[] = [share, unshare, perms, shared];

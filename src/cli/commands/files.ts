/**
 * The file commands: `ls`, `mkdir`, `touch`, `put`, `get`, `read`, `write`, `rm`, `rmdir`,
 * `stat`; versions and the trash: `versions`, `restore`, `trash`, `retention`; and sharing:
 * `share`, `unshare`, `perms`, `shared`. Each is one call (or one transfer) through the local
 * peer, which does all the encryption. Remote paths are PeerVault paths: `/owner/a/b`, or
 * relative to your own tree (`a/b`, `~/a/b`).
 */
import { once } from 'node:events';
import { createInterface } from 'node:readline/promises';
import { Readable } from 'node:stream';
import { FsError } from '../../interface/errors.js';
import { parseDuration } from '../args.js';
import type { Command } from '../command.js';
import { checkGrantees, grantsOfWords, type LocalApi } from '../local-api.js';
import type { Terminal } from '../passwords.js';
import { formatBytes } from '../progress.js';
import {
  permissionLines,
  refusedWarnings,
  restoredLine,
  retentionLine,
  sharedLines,
  sharingLine,
  stillThroughLines,
  trashWhere,
} from '../shell/format.js';
import { download, upload } from '../transfer.js';
import { commandHelp, formatTime, oneShot, positionalArgs } from '../session-options.js';

export const lsCommand: Command = {
  name: 'ls',
  summary: 'list a directory',
  help: commandHelp({
    usage: 'ls [PATH]',
    about: `Lists the directory PATH (default: your own root, ~): one name per line, directories with a
trailing /. An entry that does not verify (forged, or rolled back by the directory) is listed
with a warning on stderr and cannot be opened. With --json: the array of entries {name, kind,
version, owner, writer, refused (why, for an entry that did not verify)}.`,
    session: true,
    examples: ['peervault ls', 'peervault ls docs --json', 'peervault ls /bob/shared'],
  }),
  run: oneShot('ls', {}, async (ctx) => {
    const [path = '~'] = positionalArgs(
      ctx.positionals,
      [],
      ['PATH'],
      'peervault ls [PATH]',
      ctx.op,
    );
    const { api } = await ctx.session();
    const entries = await api.list(path);
    ctx.print(
      entries,
      entries.map((e) => (e.kind === 'dir' ? `${e.name}/` : e.name)),
    );
    if (!ctx.json) for (const line of refusedWarnings(entries)) ctx.io.err(line);
    return 0;
  }),
};

/** How grants are written, for the help of the commands that take them. */
const grantGrammar = `Grants are USER RIGHT pairs: r reads; w (or rw) writes, and so reads too. A USER may be
one of your groups, @team (\`peervault group\`). Only the owner shares; a grantee finds the
entry at /OWNER/NAME (\`peervault shared\` lists them).`;

export const mkdirCommand: Command = {
  name: 'mkdir',
  summary: 'make a directory, maybe shared',
  help: commandHelp({
    usage: 'mkdir PATH [USER RIGHT ...]',
    about: `Makes the directory PATH; its parent must exist. Exits 4 when PATH already exists.
With grants, the folder is shared, and what is created in it later gets its grants too (on
top of those it inherits from its own parent). ${grantGrammar}
With --json: {path, grants} (the grants given here).`,
    session: true,
    examples: [
      'peervault mkdir docs',
      'peervault mkdir docs/2025',
      'peervault mkdir proj bob r carol w',
    ],
  }),
  run: oneShot('mkdir', {}, async (ctx) => {
    const [path, ...words] = ctx.positionals;
    if (path === undefined) {
      throw new FsError('invalid', 'missing PATH (usage: peervault mkdir PATH [USER RIGHT ...])', {
        op: ctx.op,
      });
    }
    const grants = grantsOfWords(words);
    const { api } = await ctx.session();
    await api.mkdir(path, grants);
    ctx.print({ path, grants }, `created ${path}/`);
    return 0;
  }),
};

export const touchCommand: Command = {
  name: 'touch',
  summary: 'create an empty file, maybe shared',
  help: commandHelp({
    usage: 'touch PATH [USER RIGHT ...]',
    about: `Creates the empty file PATH, shared with the users named; it also gets the grants of its
folder. Exits 4 when PATH already exists (\`peervault share\` changes who may use an existing
file). ${grantGrammar}
With --json: {path, size, version, grants} (the grants given here).`,
    session: true,
    examples: ['peervault touch notes.txt', 'peervault touch team5.txt bob r carol w'],
  }),
  run: oneShot('touch', {}, async (ctx) => {
    const [path, ...words] = ctx.positionals;
    if (path === undefined) {
      throw new FsError('invalid', 'missing PATH (usage: peervault touch PATH [USER RIGHT ...])', {
        op: ctx.op,
      });
    }
    const grants = grantsOfWords(words);
    const { api } = await ctx.session();
    const result = await api.writeFile(path, new Uint8Array(0), 'create', grants);
    ctx.print({ path, size: result.size, version: result.version, grants }, `created ${path}`);
    return 0;
  }),
};

export const shareCommand: Command = {
  name: 'share',
  summary: 'let users read or write a file or folder you own',
  help: commandHelp({
    usage: 'share PATH USER RIGHT [USER RIGHT ...]',
    about: `Gives each USER the RIGHT on PATH, a file or folder you own. On a folder, the grant goes to
the folder and everything in it now, and what is created in it later inherits it.
${grantGrammar}
With --json: {path, kind, entries, grants} (entries: how many were given a new version;
grants: everyone's rights on PATH afterwards).`,
    session: true,
    examples: ['peervault share team5.txt bob r carol w', 'peervault share projects bob rw'],
  }),
  run: oneShot('share', {}, async (ctx) => {
    const [path, ...words] = ctx.positionals;
    if (path === undefined || words.length === 0) {
      throw new FsError(
        'invalid',
        `missing ${path === undefined ? 'PATH USER RIGHT' : 'USER RIGHT'} (usage: peervault share PATH USER r|w|rw [USER RIGHT ...])`,
        { op: ctx.op },
      );
    }
    const grants = grantsOfWords(words);
    const { api } = await ctx.session();
    const change = await api.share(path, grants);
    ctx.print(change, sharingLine(change));
    return 0;
  }),
};

export const unshareCommand: Command = {
  name: 'unshare',
  summary: 'take back every right of users on a file or folder you own',
  help: commandHelp({
    usage: 'unshare PATH USER [USER ...]',
    about: `Withdraws every right of each USER on PATH, a file or folder you own; on a folder, on the
folder and everything in it. Other users keep their rights. Only the owner unshares. A USER
may be one of your groups, @team: its grant is withdrawn. A user still in a group PATH is
shared with keeps what the group gives, and is named (stillThrough).
With --json: {path, kind, entries, grants, stillThrough?} (grants: everyone's rights on PATH
afterwards).`,
    session: true,
    examples: ['peervault unshare team5.txt bob', 'peervault unshare projects bob carol'],
  }),
  run: oneShot('unshare', {}, async (ctx) => {
    const [path, ...users] = ctx.positionals;
    if (path === undefined || users.length === 0) {
      throw new FsError(
        'invalid',
        `missing ${path === undefined ? 'PATH USER' : 'USER'} (usage: peervault unshare PATH USER [USER ...])`,
        { op: ctx.op },
      );
    }
    checkGrantees(users, 'peervault unshare PATH USER [USER ...]');
    const { api } = await ctx.session();
    const change = await api.unshare(path, users);
    ctx.print(change, [sharingLine(change), ...stillThroughLines(change)]);
    return 0;
  }),
};

export const permsCommand: Command = {
  name: 'perms',
  summary: 'show who may read and write a file or folder',
  help: commandHelp({
    usage: 'perms PATH',
    about: `Shows the owner and kind of PATH, who wrote its current version, each grant (read or
write) and whether the grants were inherited from the folder it was created in.
A grant to a group shows the group's members; \`users\` then lists everyone the grants come to.
With --json: {path, kind, owner, version, writer, grants, users, inherited} (grants as given,
a group's with its members; users: who may read and write, groups expanded).`,
    session: true,
    examples: ['peervault perms team5.txt', 'peervault perms projects --json'],
  }),
  run: oneShot('perms', {}, async (ctx) => {
    const [path] = positionalArgs(ctx.positionals, ['PATH'], [], 'peervault perms PATH', ctx.op);
    const { api } = await ctx.session();
    const perms = await api.permissions(path!);
    ctx.print(perms, permissionLines(perms));
    return 0;
  }),
};

export const sharedCommand: Command = {
  name: 'shared',
  summary: 'list what others share with you',
  help: commandHelp({
    usage: 'shared',
    about: `Lists what other users share with you, by owner: the path where you reach it (/OWNER/NAME),
your right (read, or write which includes read) and its kind. Nothing is printed when nothing
is shared with you. With --json: the array of {owner, name, path, kind, right, version}.`,
    session: true,
    examples: ['peervault shared', 'peervault shared --json'],
  }),
  run: oneShot('shared', {}, async (ctx) => {
    positionalArgs(ctx.positionals, [], [], 'peervault shared', ctx.op);
    const { api } = await ctx.session();
    const items = await api.shared();
    ctx.print(items, sharedLines(items));
    return 0;
  }),
};

export const putCommand: Command = {
  name: 'put',
  summary: 'upload a local file',
  help: commandHelp({
    usage: 'put LOCAL [REMOTE]',
    about: `Uploads the local file LOCAL as a new version of REMOTE (default: LOCAL's name in your root;
into a directory under LOCAL's name when REMOTE is one). The content is encrypted on your peer
as it streams; a progress bar is drawn on standard error when it is a terminal.
With --json: {path, size, version}.`,
    session: true,
    examples: ['peervault put ./report.pdf docs/', 'peervault put photo.jpg /alice/pics/photo.jpg'],
  }),
  run: oneShot('put', {}, async (ctx) => {
    const [local, remote] = positionalArgs(
      ctx.positionals,
      ['LOCAL'],
      ['REMOTE'],
      'peervault put LOCAL [REMOTE]',
      ctx.op,
    );
    const { api } = await ctx.session();
    const target = remote ?? baseName(local!, ctx.op);
    const result = await upload(api, local!, target, { progress: process.stderr });
    ctx.print(
      { path: result.path, size: result.size, version: result.version },
      `uploaded ${local} to ${result.path} (${formatBytes(result.size)}, version ${result.version})`,
    );
    return 0;
  }),
};

export const getCommand: Command = {
  name: 'get',
  summary: 'download a file',
  help: commandHelp({
    usage: 'get REMOTE [LOCAL] [--force]',
    about: `Downloads REMOTE to the local file LOCAL (default: REMOTE's name in the current directory;
into a directory under REMOTE's name when LOCAL is one). LOCAL - writes the contents to standard
output. The file appears under its name only once it is complete; an existing local file is
kept unless --force. A progress bar is drawn on standard error when it is a terminal.
With --json: {path, local, size, version} (not with LOCAL -).`,
    flags: '  -f, --force         replace an existing local file',
    session: true,
    examples: ['peervault get docs/report.pdf', 'peervault get docs/notes.txt - | less'],
  }),
  run: oneShot('get', { force: { type: 'boolean', short: 'f' } }, async (ctx) => {
    const [remote, local = '.'] = positionalArgs(
      ctx.positionals,
      ['REMOTE'],
      ['LOCAL'],
      'peervault get REMOTE [LOCAL]',
      ctx.op,
    );
    if (local === '-') {
      refuseJson(ctx.json, 'get REMOTE -', ctx.op);
      const { api } = await ctx.session();
      await copyOut(api, remote!, ctx.stdout);
      return 0;
    }
    const { api } = await ctx.session();
    const result = await download(api, remote!, local, {
      progress: process.stderr,
      overwrite: ctx.flags.force === true,
    });
    ctx.print(
      { path: remote, local: result.path, size: result.size, version: result.version },
      `downloaded ${remote} to ${result.path} (${formatBytes(result.size)}, version ${result.version})`,
    );
    return 0;
  }),
};

export const readCommand: Command = {
  name: 'read',
  summary: 'print a file to standard output',
  help: commandHelp({
    usage: 'read PATH [--version N]',
    about: `Writes the contents of the file PATH to standard output, byte for byte (like \`get PATH -\`);
with --version N, its version N (\`peervault versions PATH\` lists them).
--json does not apply (the output is the file itself; \`stat --json\` gives its metadata), so
with --json only a failure is printed, as {"error": …}.`,
    session: true,
    examples: ['peervault read notes.txt', 'peervault read data.bin > data.bin'],
  }),
  run: oneShot('read', { version: { type: 'string' } }, async (ctx) => {
    const [path] = positionalArgs(
      ctx.positionals,
      ['PATH'],
      [],
      'peervault read PATH [--version N]',
      ctx.op,
    );
    refuseJson(ctx.json, 'read', ctx.op);
    const version = versionOf(ctx.flags.version, ctx.op);
    const { api } = await ctx.session();
    await copyOut(api, path!, ctx.stdout, version);
    return 0;
  }),
};

export const writeCommand: Command = {
  name: 'write',
  summary: 'write standard input to a file',
  help: commandHelp({
    usage: 'write PATH [--append]',
    about: `Writes standard input to the file PATH as a new version (created when missing), or adds it to
the end with --append. Since the content comes from standard input, log in for the command
with --password-file rather than --password-stdin. With --json: {path, size, version}.`,
    flags: '  --append            add to the end of the file instead of replacing it',
    session: true,
    examples: [
      "echo 'hello' | peervault write notes.txt",
      'date | peervault write log.txt --append',
    ],
  }),
  run: oneShot('write', { append: { type: 'boolean' } }, async (ctx) => {
    const [path] = positionalArgs(ctx.positionals, ['PATH'], [], 'peervault write PATH', ctx.op);
    if (ctx.flags['password-stdin']) {
      throw new FsError(
        'invalid',
        'write reads the content from standard input, so the password cannot come from there too; use --password-file FILE',
        { op: ctx.op },
      );
    }
    const { api } = await ctx.session();
    const source = ctx.stdin instanceof Readable ? ctx.stdin : Readable.from(ctx.stdin);
    const result = await api.writeFile(path!, source, ctx.flags.append ? 'append' : 'replace');
    ctx.print(
      { path, size: result.size, version: result.version },
      `wrote ${path} (${formatBytes(result.size)}, version ${result.version})`,
    );
    return 0;
  }),
};

export const rmCommand: Command = {
  name: 'rm',
  summary: 'remove a file',
  help: commandHelp({
    usage: 'rm PATH',
    about: 'Removes the file PATH. For a directory, use `peervault rmdir`.',
    session: true,
    examples: ['peervault rm notes.txt'],
  }),
  run: oneShot('rm', {}, async (ctx) => {
    const [path] = positionalArgs(ctx.positionals, ['PATH'], [], 'peervault rm PATH', ctx.op);
    const { api } = await ctx.session();
    await api.remove(path!);
    ctx.print({ path, removed: 1 }, `removed ${path}`);
    return 0;
  }),
};

export const restoreCommand: Command = {
  name: 'restore',
  summary: 'restore a deleted file or directory, or an old version of a file',
  help: commandHelp({
    usage: 'restore PATH [--as NEWNAME] [--version N]',
    about: `Brings PATH back from your trash: the most recently deleted entry of that name in its folder
(a directory with everything deleted below it). Only a file's owner can restore it. When a
live entry has the name, restore under another one with --as NEWNAME.
With --version N, a deleted file comes back as its version N; on a live file, version N
becomes the newest (a new version with N's content: nothing is lost, \`versions PATH\` lists
them all). With --json: {restored, path, kind, version, reverted, from} (restored: the number
of entries; version: the newest now; reverted: whether a live file was reverted to version
from).`,
    flags: `  --as NEWNAME        restore under this name, in the same folder
  -v, --version N     the version to restore (\`peervault versions PATH\` lists them)`,
    session: true,
    examples: [
      'peervault restore team5.txt',
      'peervault restore team5.txt --as team5-old.txt',
      'peervault restore notes.txt --version 3',
    ],
  }),
  run: oneShot(
    'restore',
    { as: { type: 'string' }, version: { type: 'string', short: 'v' } },
    async (ctx) => {
      const [path] = positionalArgs(
        ctx.positionals,
        ['PATH'],
        [],
        'peervault restore PATH [--as NEWNAME] [--version N]',
        ctx.op,
      );
      const version = versionOf(ctx.flags.version, ctx.op);
      const { api } = await ctx.session();
      const result = await api.restore(path!, {
        ...(ctx.flags.as === undefined ? {} : { as: ctx.flags.as }),
        ...(version === undefined ? {} : { version }),
      });
      ctx.print(result, restoredLine(result, path!, ctx.flags.as));
      return 0;
    },
  ),
};

export const versionsCommand: Command = {
  name: 'versions',
  summary: "list a file's versions",
  help: commandHelp({
    usage: 'versions PATH',
    about: `Lists the versions of the file PATH, oldest first: number, time, writer, size (or "deleted").
\`peervault read PATH --version N\` reads one. With --json: the versions array.`,
    session: true,
    examples: ['peervault versions notes.txt', 'peervault read notes.txt --version 2'],
  }),
  run: oneShot('versions', {}, async (ctx) => {
    const [path] = positionalArgs(ctx.positionals, ['PATH'], [], 'peervault versions PATH', ctx.op);
    const { api } = await ctx.session();
    const versions = await api.versions(path!);
    ctx.print(
      versions,
      versions.map(
        (v) =>
          `${v.version}  ${new Date(v.time).toISOString()}  ${v.writer}  ${v.deleted ? 'deleted' : `${v.size} bytes`}`,
      ),
    );
    return 0;
  }),
};

export const trashCommand: Command = {
  name: 'trash',
  summary: 'list what you deleted, or delete it for good',
  help: commandHelp({
    usage: 'trash [purge PATH [--yes]]',
    about: `Lists your trash, newest deletion first: when, by whom, and the path (when its folder still
exists). \`peervault restore PATH\` brings an entry back until the retention period ends
(\`peervault retention\` shows or sets yours). With --json: the entries array.
trash purge PATH deletes the most recently deleted entry of that name (a folder with what was
deleted below it) for good, releasing its blocks: it cannot be restored. It asks first on a
terminal; without one it needs --yes. With --json: {path, purged} (the number of entries).`,
    flags: '  -y, --yes           purge without asking',
    session: true,
    examples: ['peervault trash', 'peervault trash --json', 'peervault trash purge old.txt --yes'],
  }),
  run: oneShot('trash', { yes: { type: 'boolean', short: 'y' } }, async (ctx) => {
    if (ctx.positionals[0] === 'purge') {
      const [path] = positionalArgs(
        ctx.positionals.slice(1),
        ['PATH'],
        [],
        'peervault trash purge PATH [--yes]',
        ctx.op,
      );
      if (ctx.flags.yes !== true && !(await confirmed(ctx, path!))) {
        ctx.print({ path, purged: 0 }, 'kept');
        return 0;
      }
      const { api } = await ctx.session();
      const purged = await api.purge(path!);
      ctx.print({ path, purged }, `purged ${path}${purged > 1 ? ` (${purged} entries)` : ''}`);
      return 0;
    }
    positionalArgs(ctx.positionals, [], [], 'peervault trash [purge PATH [--yes]]', ctx.op);
    if (ctx.flags.yes === true) {
      throw new FsError('invalid', '--yes goes with `peervault trash purge PATH`', { op: ctx.op });
    }
    const { api } = await ctx.session();
    const items = await api.trash();
    ctx.print(
      items,
      items.map(
        (item) =>
          `${new Date(item.deletedAt).toISOString()}  ${item.deletedBy}  ${trashWhere(item)}`,
      ),
    );
    return 0;
  }),
};

/**
 * Asks on the terminal whether to purge `path` for good. Never waits on a standard input that
 * is not a terminal: a script must say --yes.
 * @throws FsError `invalid` when there is no terminal to ask on
 */
async function confirmed(ctx: { op: string; terminal: Terminal }, path: string): Promise<boolean> {
  if (ctx.terminal.input.isTTY !== true) {
    throw new FsError(
      'invalid',
      `purging cannot be undone, and standard input is not a terminal to ask on; confirm with \`peervault trash purge ${path} --yes\``,
      { op: ctx.op },
    );
  }
  const lines = createInterface({ input: ctx.terminal.input, output: ctx.terminal.output });
  try {
    // Ctrl-C or the end of input is a no, never a wait.
    const answer = await new Promise<string | undefined>((resolve) => {
      lines.once('close', () => resolve(undefined));
      lines.once('SIGINT', () => lines.close());
      lines
        .question(`Delete ${path} for good? It cannot be restored. [y/N] `)
        .then(resolve, () => resolve(undefined));
    });
    return answer !== undefined && /^y(es)?$/i.test(answer.trim());
  } finally {
    lines.close();
  }
}

export const retentionCommand: Command = {
  name: 'retention',
  summary: 'show or set how long your deleted files stay in the trash',
  help: commandHelp({
    usage: 'retention [DURATION | default]',
    about: `Shows how long what you delete stays in your trash, restorable, before your agent purges it
and releases its blocks: your own setting, or the directory's default. With DURATION (30s,
10m, 2h or 90d), sets yours, within the bounds your directory allows (shown without one);
\`default\` follows the directory's default again. It applies to everything in your trash,
including what is already there. With --json: {retentionMs, own, defaultMs, minMs, maxMs}.`,
    session: true,
    examples: ['peervault retention', 'peervault retention 90d', 'peervault retention default'],
  }),
  run: oneShot('retention', {}, async (ctx) => {
    const [word] = positionalArgs(
      ctx.positionals,
      [],
      ['DURATION'],
      'peervault retention [DURATION | default]',
      ctx.op,
    );
    const ms = word === undefined || word === 'default' ? null : parseDuration(word, 'retention');
    const { api } = await ctx.session();
    const retention = word === undefined ? await api.retention() : await api.setRetention(ms);
    ctx.print(retention, retentionLine(retention));
    return 0;
  }),
};

export const rmdirCommand: Command = {
  name: 'rmdir',
  summary: 'remove a directory',
  help: commandHelp({
    usage: 'rmdir [-r | --recursive] PATH',
    about: `Removes the directory PATH, which must be empty (exit 8 otherwise), or with -r the directory
and everything under it. With --json: {path, removed} (the number of entries removed).`,
    flags: '  -r, --recursive     remove everything under PATH too',
    session: true,
    examples: ['peervault rmdir old', 'peervault rmdir -r old'],
  }),
  run: oneShot('rmdir', { recursive: { type: 'boolean', short: 'r' } }, async (ctx) => {
    const [path] = positionalArgs(
      ctx.positionals,
      ['PATH'],
      [],
      'peervault rmdir [-r] PATH',
      ctx.op,
    );
    const { api } = await ctx.session();
    const removed = await api.rmdir(path!, ctx.flags.recursive === true);
    ctx.print(
      { path, removed },
      removed === 1 ? `removed ${path}/` : `removed ${path}/ (${removed} entries)`,
    );
    return 0;
  }),
};

export const statCommand: Command = {
  name: 'stat',
  summary: 'show a file or directory’s metadata',
  help: commandHelp({
    usage: 'stat PATH',
    about: `Shows the kind, size, version, modification time and owner of PATH.
With --json: {path, kind, version, size, mtime, owner} (mtime in milliseconds since 1970).`,
    session: true,
    examples: ['peervault stat notes.txt', 'peervault stat docs --json'],
  }),
  run: oneShot('stat', {}, async (ctx) => {
    const [path] = positionalArgs(ctx.positionals, ['PATH'], [], 'peervault stat PATH', ctx.op);
    const { api } = await ctx.session();
    const info = await api.stat(path!);
    ctx.print(info, [
      `path      ${info.path}`,
      `kind      ${info.kind}`,
      `size      ${info.size} bytes (${formatBytes(info.size)})`,
      `version   ${info.version}`,
      `modified  ${formatTime(info.mtime)}`,
      `owner     ${info.owner}`,
    ]);
    return 0;
  }),
};

/** The last element of a local path, as the default remote name. */
function baseName(local: string, op: string): string {
  const base =
    local
      .replace(/[/\\]+$/, '')
      .split(/[/\\]/)
      .pop() ?? '';
  if (base === '' || base === '.' || base === '..') {
    throw new FsError('invalid', `name the remote file: peervault put ${local} REMOTE`, { op });
  }
  return base;
}

/** The value of a `--version N` flag. @throws FsError `invalid` when it is not a version number */
function versionOf(text: string | undefined, op: string): number | undefined {
  if (text === undefined) return undefined;
  const version = /^[1-9][0-9]{0,14}$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(version)) {
    throw new FsError('invalid', `--version is a version number such as 3, not "${text}"`, { op });
  }
  return version;
}

/** Refuses --json where the output is raw file content. */
function refuseJson(json: boolean, what: string, op: string): void {
  if (json) {
    throw new FsError(
      'invalid',
      `--json does not apply to \`${what}\`, whose output is the file itself; use \`stat --json\` for its metadata`,
      { op },
    );
  }
}

/** Streams the file `path` to `out` with backpressure; a reader that went away is not an error. */
async function copyOut(
  api: LocalApi,
  path: string,
  out: NodeJS.WritableStream,
  version?: number,
): Promise<void> {
  const file = await api.readFile(path, version);
  let gone = false;
  const onError = (err: NodeJS.ErrnoException): void => {
    if (err.code === 'EPIPE') gone = true;
  };
  out.on('error', onError);
  try {
    for await (const chunk of file.body as AsyncIterable<Buffer>) {
      if (gone) break;
      // once() rejects when 'error' comes first, so a closed pipe ends the wait too.
      if (!out.write(chunk)) await once(out, 'drain');
    }
  } catch (err) {
    if (!gone) {
      throw new FsError('unavailable', `reading ${path} was interrupted; try again`, {
        op: 'read',
        cause: err,
      });
    }
  } finally {
    file.body.destroy();
    // After a closed pipe, writes still queued may fail later: keep swallowing those.
    if (!gone) out.off('error', onError);
  }
}

/**
 * The shell's file-system commands (the seed's touch and mkdir, both with grants, ls, cat,
 * read, rm, rmdir, and cd, pwd, stat). Each resolves typed paths against the working directory
 * and calls the local API; failures are the API's FsErrors, which the loop prints.
 */
import { once } from 'node:events';
import type { Readable } from 'node:stream';
import { FsError, isFsError } from '../../interface/errors.js';
import { formatPath, parsePath } from '../../interface/paths.js';
import { parseDuration } from '../args.js';
import { type ApiListEntry, grantsOfWords } from '../local-api.js';
import { readText, textOfWords } from './cat-input.js';
import {
  type ShellCommand,
  type ShellContext,
  remotePath,
  takeFlags,
  usageError,
} from './context.js';
import {
  inColumns,
  longListing,
  refusedWarnings,
  restoredLine,
  retentionLine,
  sharingLine,
  shownName,
  statLines,
  trashWhere,
} from './format.js';
import { refuseNormalisedTwin } from './normalised-names.js';

const touch: ShellCommand = {
  name: 'touch',
  usage: 'touch FILE [USER r|w|rw ...]',
  summary: 'create a new, empty file, shared with USER for reading (r) or writing (w)',
  details: [
    'r reads; w (or rw) writes and reads: touch team5.txt bob r carol w. The file also gets',
    'the grants of its folder. An existing file is left alone (its content is not changed);',
    'grants given for it are added, as `share` does.',
  ].join('\n'),
  args: ['remote'],
  async run(ctx, args) {
    const [file, ...words] = args;
    if (file === undefined) throw usageError(this.usage);
    const grants = grantsOfWords(words);
    await refuseNormalisedTwin(ctx, file);
    const path = remotePath(ctx, file);
    try {
      await ctx.api.writeFile(path, new Uint8Array(0), 'create', grants);
    } catch (err) {
      // Grants on a folder reach everything in it: too much to do by a slip of `touch`.
      if (isFsError(err, 'is-dir') && grants.length > 0) {
        throw new FsError(
          'is-dir',
          `${path} is a directory; share it with \`share ${file} ${words.join(' ')}\``,
          { op: 'touch', path },
        );
      }
      // The name exists: like Unix touch, that is success, and the content is left alone. The
      // grants asked for are still given, so that what the command says is true afterwards.
      if (!isFsError(err, 'exist', 'is-dir')) throw err;
      if (grants.length > 0) ctx.out(sharingLine(await ctx.api.share(path, grants)));
    }
  },
};

/** Whether `word` is a right (`r`, `w`, `rw`), as grant pairs end. */
function isRightWord(word: string | undefined): boolean {
  return word !== undefined && /^(r|w|rw|wr)$/i.test(word);
}

const mkdir: ShellCommand = {
  name: 'mkdir',
  usage: 'mkdir [-p] DIR [USER r|w|rw ...]',
  summary: 'create a new directory (-p: and its parents), maybe shared with USER',
  details: [
    'r reads; w (or rw) writes and reads: mkdir proj bob r carol w. What is created in the',
    'folder later gets its grants too. Without grants, several folders at once: mkdir a b c',
    '(a folder named r, w or rw among them: write ./r).',
  ].join('\n'),
  args: ['remote'],
  async run(ctx, args) {
    const { flags, rest } = takeFlags(args, 'p', this.usage);
    if (rest.length === 0) throw usageError(this.usage);
    // `mkdir proj bob r`: the third word is a right, so what follows the folder are grants;
    // otherwise every word is a folder, as before sharing.
    const granting = isRightWord(rest[2]);
    const dirs = granting ? rest.slice(0, 1) : rest;
    const grants = granting ? grantsOfWords(rest.slice(1)) : [];
    for (const dir of dirs) {
      await refuseNormalisedTwin(ctx, dir);
      const path = parsePath(dir, ctx.user, ctx.cwd);
      const steps = flags.has('p')
        ? path.elements.map((_, i) => ({
            owner: path.owner,
            elements: path.elements.slice(0, i + 1),
          }))
        : [path];
      for (const [i, step] of steps.entries()) {
        // Only the folder named gets the grants, not the parents -p makes on the way.
        const last = i === steps.length - 1;
        try {
          await ctx.api.mkdir(formatPath(step), last ? grants : []);
        } catch (err) {
          // -p accepts folders that exist, except the one that was to be made with grants.
          const mayExist = flags.has('p') && !(last && grants.length > 0);
          if (!(mayExist && isFsError(err, 'exist'))) throw err;
        }
      }
    }
  },
};

const ls: ShellCommand = {
  name: 'ls',
  usage: 'ls [-l] [PATH]',
  summary: 'list files and directories (-l: kind, version, owner, writer)',
  args: ['remote'],
  async run(ctx, args) {
    const { flags, rest } = takeFlags(args, 'l', this.usage);
    if (rest.length > 1) throw usageError(this.usage);
    const typed = rest[0] ?? '.';
    const path = remotePath(ctx, typed);
    let entries: ApiListEntry[];
    try {
      entries = await ctx.api.list(path);
    } catch (err) {
      if (!isFsError(err, 'not-dir')) throw err;
      // `ls FILE` shows the file, as Unix ls does. stat does not say who wrote last: "-".
      const stat = await ctx.api.stat(path);
      entries = [
        { name: typed, kind: stat.kind, version: stat.version, owner: stat.owner, writer: '-' },
      ];
    }
    const lines = flags.has('l')
      ? longListing(entries)
      : ctx.interactive
        ? inColumns(entries.map(shownName), columnsOf(ctx.output))
        : entries.map(shownName);
    for (const line of lines) ctx.out(line);
    for (const line of refusedWarnings(entries)) ctx.out(line);
  },
};

/** The terminal's width, or 80. */
function columnsOf(output: NodeJS.WritableStream): number {
  return (output as { columns?: number }).columns || 80;
}

/** Checks, before text is typed, that `raw` can take it: it is not a directory. */
async function checkWritable(ctx: ShellContext, raw: string): Promise<void> {
  await refuseNormalisedTwin(ctx, raw);
  const path = remotePath(ctx, raw);
  const stat = await ctx.api.stat(path).catch((err: unknown) => {
    if (isFsError(err, 'not-exist')) return undefined;
    throw err;
  });
  if (stat?.kind === 'dir') {
    throw new FsError('is-dir', `${path} is a directory`, { op: 'cat', path });
  }
}

const cat: ShellCommand = {
  name: 'cat',
  usage: 'cat [-a] FILE [TEXT...]',
  summary: 'write text to a file (-a: append to it)',
  details: [
    'With TEXT, stores TEXT (and a newline) as the file content.',
    'Without it, stores the lines that follow, up to a line holding only "." (or the end of input).',
  ].join('\n'),
  args: ['remote'],
  async run(ctx, args) {
    const { flags, rest } = takeFlags(args, 'a', this.usage);
    const [file, ...words] = rest;
    if (file === undefined) throw usageError(this.usage);
    const mode = flags.has('a') ? 'append' : 'replace';
    let text: string;
    if (words.length > 0) {
      text = textOfWords(words);
      await refuseNormalisedTwin(ctx, file);
    } else if (ctx.interactive) {
      // Fail before asking for text that could not be stored.
      await checkWritable(ctx, file);
      ctx.out('(end the text with a line holding only ".")');
      text = await readText(() => ctx.readLine('> '));
    } else {
      // The text lines follow in the input whatever happens, so they are always consumed
      // first: a failure must not turn them into commands.
      text = await readText(() => ctx.readLine(''));
      await refuseNormalisedTwin(ctx, file);
    }
    await ctx.api.writeFile(remotePath(ctx, file), Buffer.from(text, 'utf8'), mode);
  },
};

/** Streams `body` to `output` with backpressure; stops when `signal` aborts. */
async function pipeOut(
  body: Readable,
  output: NodeJS.WritableStream,
  signal: AbortSignal,
): Promise<number | undefined> {
  const stop = (): void => void body.destroy();
  signal.addEventListener('abort', stop, { once: true });
  let last: number | undefined;
  try {
    for await (const chunk of body as AsyncIterable<Buffer>) {
      if (chunk.length > 0) last = chunk[chunk.length - 1];
      if (!output.write(chunk)) await once(output as NodeJS.EventEmitter, 'drain');
    }
  } finally {
    signal.removeEventListener('abort', stop);
  }
  return last;
}

const read: ShellCommand = {
  name: 'read',
  usage: 'read FILE[@N]',
  summary: 'print the contents of a file (@N: its version N)',
  args: ['remote'],
  async run(ctx, args) {
    if (args.length !== 1) throw usageError(this.usage);
    // FILE@N reads version N. Only a trailing @digits is a version, so `notes@2@1` is version 1
    // of a file named `notes@2`.
    const at = /^(.+)@(\d+)$/.exec(args[0]!);
    const path = remotePath(ctx, at ? at[1]! : args[0]!);
    const file = await ctx.api.readFile(path, at ? Number(at[2]) : undefined);
    let last: number | undefined;
    try {
      last = await pipeOut(file.body, ctx.output, ctx.signal);
    } catch (err) {
      if (isFsError(err) || ctx.signal.aborted) throw err;
      throw new FsError('unavailable', `reading ${path} was interrupted; try again`, {
        op: 'read',
        cause: err,
      });
    }
    // At a terminal, keep the prompt off the last line of a file that has no final newline.
    if (ctx.interactive && last !== undefined && last !== 0x0a) ctx.output.write('\n');
  },
};

const rm: ShellCommand = {
  name: 'rm',
  usage: 'rm FILE...',
  summary: 'delete a file',
  args: ['remote'],
  async run(ctx, args) {
    if (args.length === 0) throw usageError(this.usage);
    for (const file of args) await ctx.api.remove(remotePath(ctx, file));
  },
};

const rmdir: ShellCommand = {
  name: 'rmdir',
  usage: 'rmdir [-r] DIR',
  summary: 'delete a directory (-r: with everything in it)',
  args: ['remote'],
  async run(ctx, args) {
    const { flags, rest } = takeFlags(args, 'r', this.usage);
    if (rest.length !== 1) throw usageError(this.usage);
    const typed = rest[0]!;
    const path = remotePath(ctx, typed);
    let removed: number;
    try {
      removed = await ctx.api.rmdir(path, flags.has('r'));
    } catch (err) {
      if (isFsError(err, 'not-empty')) {
        throw new FsError(
          'not-empty',
          `${path} is not empty; use \`rmdir -r ${typed}\` to delete it with everything in it`,
          { op: 'rmdir', path },
        );
      }
      throw err;
    }
    if (ctx.interactive && removed > 1) ctx.out(`removed ${path} and ${removed - 1} entries in it`);
  },
};

const cd: ShellCommand = {
  name: 'cd',
  usage: 'cd [DIR]',
  summary: 'change the working directory (alone: to your home)',
  args: ['remote'],
  async run(ctx, args) {
    if (args.length > 1) throw usageError(this.usage);
    const target = parsePath(args[0] ?? '~', ctx.user, ctx.cwd);
    const stat = await ctx.api.stat(formatPath(target));
    if (stat.kind !== 'dir') {
      throw new FsError('not-dir', `${formatPath(target)} is not a directory`, { op: 'cd' });
    }
    ctx.cwd = target;
  },
};

const pwd: ShellCommand = {
  name: 'pwd',
  usage: 'pwd',
  summary: 'print the working directory',
  args: [],
  run(ctx, args) {
    if (args.length > 0) throw usageError(this.usage);
    ctx.out(formatPath(ctx.cwd));
    return Promise.resolve();
  },
};

const stat: ShellCommand = {
  name: 'stat',
  usage: 'stat PATH',
  summary: 'show the kind, size, version, owner and time of a path',
  args: ['remote'],
  async run(ctx, args) {
    if (args.length !== 1) throw usageError(this.usage);
    for (const line of statLines(await ctx.api.stat(remotePath(ctx, args[0]!)))) ctx.out(line);
  },
};

/** In the order `help` lists them: the seed's first. */
const restore: ShellCommand = {
  name: 'restore',
  usage: 'restore FILE [--as NEWNAME] [-v N]',
  summary: 'restore a deleted file or directory (owner only; --as: under another name)',
  details: [
    '-v N (or --version N): a deleted file comes back as its version N; on a live file, version',
    'N becomes the newest (a new version with its content; `versions FILE` lists them all).',
  ].join('\n'),
  args: ['remote'],
  async run(ctx, args) {
    const { values, rest } = takeOptions(args, { '--as': 'as', '--version': 'v', '-v': 'v' });
    if (rest.length !== 1 || values === undefined) throw usageError(this.usage);
    const { as, v } = values;
    const version = v === undefined ? undefined : /^[1-9][0-9]{0,14}$/.test(v) ? Number(v) : NaN;
    if (version !== undefined && !Number.isSafeInteger(version)) {
      throw new FsError('invalid', `-v is a version number such as 3, not "${v}"`, {
        op: 'restore',
      });
    }
    const result = await ctx.api.restore(remotePath(ctx, rest[0]!), {
      ...(as === undefined ? {} : { as }),
      ...(version === undefined ? {} : { version }),
    });
    if (version !== undefined) ctx.out(restoredLine(result, rest[0]!, as));
    else if (result.restored > 1) ctx.out(`restored ${result.restored} entries`);
  },
};

/**
 * Takes options with a value (`--as NAME`) out of `args`, anywhere among them, by the name
 * `names` gives each. `values` is undefined when one is given twice or without its value.
 */
function takeOptions(
  args: readonly string[],
  names: Readonly<Record<string, string>>,
): { values: Record<string, string> | undefined; rest: string[] } {
  const values: Record<string, string> = {};
  const rest: string[] = [];
  let ok = true;
  for (let i = 0; i < args.length; i++) {
    const name = names[args[i]!];
    if (name === undefined) {
      rest.push(args[i]!);
      continue;
    }
    const value = args[i + 1];
    if (value === undefined || name in values) ok = false;
    else values[name] = value;
    i++;
  }
  return { values: ok ? values : undefined, rest };
}

const versions: ShellCommand = {
  name: 'versions',
  usage: 'versions FILE',
  summary: 'list the versions of a file (read FILE@N reads one)',
  args: ['remote'],
  async run(ctx, args) {
    if (args.length !== 1) throw usageError(this.usage);
    for (const v of await ctx.api.versions(remotePath(ctx, args[0]!))) {
      const when = new Date(v.time).toISOString().replace('T', ' ').slice(0, 19);
      const what = v.deleted ? 'deleted' : `${v.size} bytes`;
      ctx.out(`${String(v.version).padStart(4)}  ${when}  ${v.writer}  ${what}`);
    }
  },
};

const trash: ShellCommand = {
  name: 'trash',
  usage: 'trash [purge [-y] FILE]',
  summary: 'list what you deleted; purge: delete it for good (asks first; -y: do not ask)',
  args: ['remote'],
  async run(ctx, args) {
    if (args[0] === 'purge') {
      const { flags, rest } = takeFlags(args.slice(1), 'y', this.usage);
      if (rest.length !== 1) throw usageError(this.usage);
      const path = remotePath(ctx, rest[0]!);
      if (!flags.has('y')) {
        if (!ctx.interactive) {
          throw new FsError(
            'invalid',
            `purging cannot be undone; confirm with \`trash purge -y ${rest[0]!}\``,
            {
              op: 'purge',
            },
          );
        }
        const answer = await ctx.readLine(`Delete ${path} for good? It cannot be restored. [y/N] `);
        if (answer?.trim().toLowerCase() !== 'y') {
          ctx.out('kept');
          return;
        }
      }
      const purged = await ctx.api.purge(path);
      ctx.out(`purged ${path}${purged > 1 ? ` (${purged} entries)` : ''}`);
      return;
    }
    if (args.length > 0) throw usageError(this.usage);
    for (const item of await ctx.api.trash()) {
      const when = new Date(item.deletedAt).toISOString().replace('T', ' ').slice(0, 16);
      ctx.out(`${when}  ${item.deletedBy}  ${trashWhere(item)}`);
    }
  },
};

const retention: ShellCommand = {
  name: 'retention',
  usage: 'retention [DURATION|default]',
  summary: 'show or set how long your deleted files stay in the trash (e.g. 90d)',
  details: [
    'DURATION is 30s, 10m, 2h or 90d, between the bounds of your directory (shown with no',
    'argument); `default` follows the directory default again. After it, your agent purges',
    'what you deleted and releases its blocks.',
  ].join('\n'),
  args: [],
  async run(ctx, args) {
    if (args.length > 1) throw usageError(this.usage);
    const [word] = args;
    if (word === undefined) {
      ctx.out(retentionLine(await ctx.api.retention()));
      return;
    }
    const ms = word === 'default' ? null : parseDuration(word, 'retention');
    ctx.out(retentionLine(await ctx.api.setRetention(ms)));
  },
};

export const fsCommands: readonly ShellCommand[] = [
  touch,
  mkdir,
  ls,
  cat,
  read,
  rm,
  rmdir,
  restore,
  trash,
  retention,
  versions,
  cd,
  pwd,
  stat,
];

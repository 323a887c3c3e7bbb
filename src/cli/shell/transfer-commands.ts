/**
 * `put` and `get`: whole files between the local disk and PeerVault, streamed, with a progress
 * bar at a terminal.
 */
import { basename } from 'node:path';
import { formatBytes } from '../progress.js';
import { download, upload } from '../transfer.js';
import {
  type ShellCommand,
  type ShellContext,
  remotePath,
  takeFlags,
  usageError,
} from './context.js';
import { expandHome } from './local-files.js';
import { refuseNormalisedTwin } from './normalised-names.js';

/** The output as a terminal to draw progress on, when it is one and the shell is interactive. */
function progressStream(ctx: ShellContext): NodeJS.WriteStream | undefined {
  const stream = ctx.output as NodeJS.WriteStream;
  return ctx.interactive && stream.isTTY === true ? stream : undefined;
}

const put: ShellCommand = {
  name: 'put',
  usage: 'put LOCAL [REMOTE]',
  summary: 'upload a local file (to the working directory by default)',
  args: ['local', 'remote'],
  async run(ctx, args) {
    if (args.length < 1 || args.length > 2) throw usageError(this.usage);
    const local = expandHome(args[0]!);
    const typed = args[1] ?? basename(local);
    await refuseNormalisedTwin(ctx, typed);
    // Without REMOTE the target is the working directory, which upload() fills under the
    // local file's name.
    const remote = args[1] === undefined ? remotePath(ctx, '.') : remotePath(ctx, typed);
    const progress = progressStream(ctx);
    const done = await upload(ctx.api, local, remote, {
      signal: ctx.signal,
      ...(progress === undefined ? {} : { progress }),
    });
    ctx.out(`stored ${done.path} (${formatBytes(done.size)}, version ${done.version})`);
  },
};

const get: ShellCommand = {
  name: 'get',
  usage: 'get [-f] REMOTE [LOCAL]',
  summary: 'download a file (to the local directory; -f: overwrite)',
  args: ['remote', 'local'],
  async run(ctx, args) {
    const { flags, rest } = takeFlags(args, 'f', this.usage);
    if (rest.length < 1 || rest.length > 2) throw usageError(this.usage);
    const progress = progressStream(ctx);
    const done = await download(ctx.api, remotePath(ctx, rest[0]!), expandHome(rest[1] ?? '.'), {
      signal: ctx.signal,
      overwrite: flags.has('f'),
      ...(progress === undefined ? {} : { progress }),
    });
    ctx.out(`saved ${done.path} (${formatBytes(done.size)}, version ${done.version})`);
  },
};

export const transferCommands: readonly ShellCommand[] = [put, get];

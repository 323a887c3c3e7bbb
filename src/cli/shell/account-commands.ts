/**
 * The shell's commands about the account and the network: whoami, passwd, peers, repair, and
 * the seed's revocate, which says plainly that it is not there yet.
 */
import { FsError, isFsError } from '../../interface/errors.js';
import { type ShellCommand, takeFlags, usageError } from './context.js';
import { peerLines } from './format.js';

const whoami: ShellCommand = {
  name: 'whoami',
  usage: 'whoami',
  summary: 'show who is logged in, and the key fingerprint',
  args: [],
  async run(ctx, args) {
    if (args.length > 0) throw usageError(this.usage);
    const me = await ctx.api.whoami();
    ctx.out(`${me.user}  ${me.fingerprint}`);
  },
};

const passwd: ShellCommand = {
  name: 'passwd',
  usage: 'passwd',
  summary: 'change your password (your other sessions end)',
  args: [],
  async run(ctx, args) {
    if (args.length > 0) throw usageError(this.usage);
    if (!ctx.interactive) {
      // Passwords are never taken from a script's command lines, where they would be kept.
      throw new FsError('invalid', 'passwd asks for passwords: run it in the shell at a terminal', {
        op: 'passwd',
      });
    }
    const current = await ctx.readLine('Current password: ', { secret: true });
    const next = await ctx.readLine('New password: ', { secret: true });
    const again = await ctx.readLine('New password again: ', { secret: true });
    if (current === undefined || next === undefined || again === undefined) {
      throw new FsError('invalid', 'passwd was not finished; nothing was changed', {
        op: 'passwd',
      });
    }
    if (next !== again) {
      throw new FsError('invalid', 'the new passwords differ; nothing was changed', {
        op: 'passwd',
      });
    }
    try {
      await ctx.api.passwd(current, next);
    } catch (err) {
      if (isFsError(err, 'permission'))
        throw new FsError('permission', 'the current password is wrong; nothing was changed', {
          op: 'passwd',
        });
      throw err;
    }
    // Changing the password ended every session, this one too: log back in to carry on.
    await ctx.api.login(ctx.user, next);
    ctx.out('password changed; your other sessions have ended');
  },
};

const peers: ShellCommand = {
  name: 'peers',
  usage: 'peers',
  summary: 'list the peers of the network (* marks this one)',
  args: [],
  async run(ctx, args) {
    if (args.length > 0) throw usageError(this.usage);
    const { time, peers: list } = await ctx.api.peers();
    for (const line of peerLines(list, time)) ctx.out(line);
  },
};

/** `1 file`, `2 files`. */
function count(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

const repair: ShellCommand = {
  name: 'repair',
  usage: 'repair [-a]',
  summary: 'restore full replication of your files now (-a: audit peers too)',
  args: [],
  async run(ctx, args) {
    const { flags, rest } = takeFlags(args, 'a', this.usage);
    if (rest.length > 0) throw usageError(this.usage);
    const s = await ctx.api.repair({ audit: flags.has('a') });
    ctx.out(
      `checked ${count(s.files, 'file')} and ${count(s.blocks, 'block')} in ${(s.ms / 1000).toFixed(1)} s: ` +
        `${count(s.copies, 'copy', 'copies')} made, ${s.short} short of replicas, ${s.lost} lost`,
    );
    if (s.badPeers.length > 0) ctx.out(`peers that failed the audit: ${s.badPeers.join(', ')}`);
  },
};

/** A seed command whose feature is not built yet: it says so and counts as failed. */
function notYet(name: string, usage: string, summary: string, arrives: string): ShellCommand {
  return {
    name,
    usage,
    summary: `${summary} (not available yet)`,
    args: name === 'restore' ? ['remote'] : [],
    run() {
      return Promise.reject(
        new FsError('invalid', `${name} is not available yet: it arrives with ${arrives}`, {
          op: name,
        }),
      );
    },
  };
}

export const accountCommands: readonly ShellCommand[] = [
  whoami,
  passwd,
  peers,
  repair,
  notYet('revocate', 'revocate', 'revoke your key', 'key revocation'),
];

/**
 * The shell's commands about the account and the network: whoami, passwd, peers, repair, and
 * the seed's revocate.
 */
import { FsError, isFsError } from '../../interface/errors.js';
import { type ShellCommand, takeFlags, usageError } from './context.js';
import { peerLines } from './format.js';
import { deviceLines } from '../devices-output.js';
import { revocationLines, revocationProgress } from '../revocate-output.js';

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
  summary: 'list the peers of the network and their health (* marks this one)',
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

const revocate: ShellCommand = {
  name: 'revocate',
  usage: 'revocate [--resume] [--new-password]',
  summary: 'replace your keys (a suspected compromise); --resume finishes an interrupted one',
  args: [],
  async run(ctx, args) {
    const resume = args.includes('--resume');
    const changePassword = args.includes('--new-password');
    if (args.some((a) => a !== '--resume' && a !== '--new-password')) {
      throw usageError(this.usage);
    }
    let newPassword: string | undefined;
    if (changePassword) {
      if (!ctx.interactive) {
        // Passwords are never taken from a script's command lines, where they would be kept.
        throw new FsError(
          'invalid',
          'revocate --new-password asks for the new password: run it at a terminal, or run passwd afterwards',
          { op: 'revocate' },
        );
      }
      const next = await ctx.readLine('New password: ', { secret: true });
      const again = await ctx.readLine('New password again: ', { secret: true });
      if (next === undefined || next !== again) {
        throw new FsError('invalid', 'the new passwords differ; nothing was changed', {
          op: 'revocate',
        });
      }
      newPassword = next;
    }
    const progress = revocationProgress(process.stderr);
    let summary;
    try {
      summary = await ctx.api.revocate(
        {
          ...(resume ? { resume: true } : {}),
          ...(newPassword === undefined ? {} : { newPassword }),
        },
        (p) => {
          if (ctx.interactive) progress.update(p);
        },
      );
    } finally {
      progress.done();
    }
    for (const line of revocationLines(ctx.user, summary)) ctx.out(line);
    // A new password ended every session, this one too: log back in to carry on.
    if (newPassword !== undefined) await ctx.api.login(ctx.user, newPassword);
  },
};

const devices: ShellCommand = {
  name: 'devices',
  usage: 'devices [revoke ID]',
  summary:
    'list your sessions (one per login at a peer); revoke ID ends one and replaces your keys',
  args: [],
  async run(ctx, args) {
    if (args.length === 0) {
      for (const line of deviceLines(await ctx.api.devices())) ctx.out(line);
      return;
    }
    const [verb, id, ...rest] = args;
    if (verb !== 'revoke' || id === undefined || rest.length > 0) throw usageError(this.usage);
    // The device held the unlocked keys: ending its session is not enough, they are replaced.
    await ctx.api.endDevice(id);
    ctx.out(`ended session ${id}; replacing your keys, as that device held them`);
    const progress = revocationProgress(process.stderr);
    let summary;
    try {
      summary = await ctx.api.revocate({}, (p) => {
        if (ctx.interactive) progress.update(p);
      });
    } finally {
      progress.done();
    }
    for (const line of revocationLines(ctx.user, summary)) ctx.out(line);
  },
};

export const accountCommands: readonly ShellCommand[] = [
  whoami,
  passwd,
  peers,
  repair,
  revocate,
  devices,
];

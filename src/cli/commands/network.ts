/**
 * The network commands: `peers` (the peers the directory knows), `status` (the local peer, and
 * who is logged in there) and `repair` (a repair pass over your files now).
 */
import { isFsError } from '../../interface/errors.js';
import type { Command } from '../command.js';
import { unreadAlerts } from '../alerts-output.js';
import type { ApiRepairSummary } from '../local-api.js';
import { formatBytes } from '../progress.js';
import { peerHealthText } from '../shell/format.js';
import {
  commandHelp,
  forgetSession,
  formatTime,
  oneShot,
  positionalArgs,
} from '../session-options.js';

/** `12s ago`, `5m ago`, `3h ago`, `2d ago`. */
export function formatAge(ms: number): string {
  const seconds = Math.max(0, Math.round(ms / 1000));
  if (seconds < 60) return `${seconds}s ago`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m ago`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)}h ago`;
  return `${Math.floor(seconds / 86400)}d ago`;
}

export const peersCommand: Command = {
  name: 'peers',
  summary: 'list the peers of the network',
  help: commandHelp({
    usage: 'peers',
    about: `Lists the peers the directory knows: fingerprint, address, capacity offered, when it was
last heard from, and its health: strikes (blocks that failed verification or audits, as users'
agents reported them) and QUARANTINED when the directory took it out of placement (its blocks are
repaired elsewhere); * marks the local peer. Needs no login.
With --json: {time, peers: [{fingerprint, address, capacity, lastSeen, self, strikes,
quarantined}]}.`,
    session: false,
    examples: ['peervault peers', 'peervault peers --json'],
  }),
  run: oneShot('peers', {}, async (ctx) => {
    positionalArgs(ctx.positionals, [], [], 'peervault peers', ctx.op);
    const api = await ctx.api();
    const answer = await api.peers();
    const width = Math.max(7, ...answer.peers.map((p) => p.address.length));
    ctx.print(answer, [
      `  ${'FINGERPRINT'.padEnd(39)}  ${'ADDRESS'.padEnd(width)}  ${'CAPACITY'.padStart(10)}  ${'LAST SEEN'.padEnd(9)}  HEALTH`,
      ...answer.peers.map(
        (p) =>
          `${p.self ? '*' : ' '} ${p.fingerprint.padEnd(39)}  ${p.address.padEnd(width)}  ${(p.quarantined ? '-' : formatBytes(p.capacity)).padStart(10)}  ${(p.quarantined ? '-' : formatAge(answer.time - p.lastSeen)).padEnd(9)}  ${peerHealthText(p)}`,
      ),
    ]);
    return 0;
  }),
};

export const statusCommand: Command = {
  name: 'status',
  summary: 'show the local peer and who is logged in',
  help: commandHelp({
    usage: 'status',
    about: `Shows the local peer (its fingerprint, its directory's, the sessions it holds, the storage it
offers and uses) and, when there is a saved session, who is logged in.
With --json: {peer, directory, sessions, usage: {blocks, bytes, capacity}, user} where user is
{user, fingerprint, expiresAt} or null, and alerts is the number of unread security alerts
(null when not logged in).`,
    session: false,
    examples: ['peervault status', 'peervault status --peer ./.peervault/peer --json'],
  }),
  run: oneShot('status', {}, async (ctx) => {
    positionalArgs(ctx.positionals, [], [], 'peervault status', ctx.op);
    const api = await ctx.api();
    const status = await api.status();
    const session = await ctx.optionalSession();
    let me: { user: string; fingerprint: string; expiresAt: number } | null = null;
    // Unread security alerts of the logged-in user (all, for an admin); null when not logged in.
    let alerts: number | null = null;
    if (session) {
      try {
        me = await session.api.whoami();
        alerts = unreadAlerts(await session.api.alerts());
      } catch (err) {
        if (!isFsError(err, 'revoked', 'permission')) throw err;
        // The peer no longer knows the saved session: it is of no use to anyone.
        if (session.saved) forgetSession(session.location.dataDir);
      }
    }
    const { blocks, bytes, capacity } = status.usage;
    ctx.print({ ...status, user: me, alerts }, [
      `peer       ${status.peer}`,
      `directory  ${status.directory}`,
      `sessions   ${status.sessions}`,
      `storage    ${blocks} blocks, ${formatBytes(bytes)} of ${formatBytes(capacity)} used`,
      me === null
        ? 'user       not logged in'
        : `user       ${me.user} (${me.fingerprint}), session until ${formatTime(me.expiresAt)}`,
      ...(alerts === null
        ? []
        : [`alerts     ${alerts} unread${alerts > 0 ? ' (peervault alerts)' : ''}`]),
    ]);
    return 0;
  }),
};

const plural = (n: number, noun: string) => `${n} ${noun}${n === 1 ? '' : 's'}`;

/** The text form of a repair summary. */
export function repairLines(summary: ApiRepairSummary): string[] {
  const lines = [
    `checked ${plural(summary.files, 'file')}, ${plural(summary.blocks, 'block')} in ${summary.ms} ms`,
    `copies made      ${summary.copies}`,
    `short of copies  ${summary.short}`,
    `lost             ${summary.lost}`,
    `bad peers        ${summary.badPeers.length === 0 ? 'none' : summary.badPeers.join(', ')}`,
  ];
  // Newer peers also count file versions whose block list could not be opened.
  const unreadable = (summary as { unreadableVersions?: unknown }).unreadableVersions;
  if (typeof unreadable === 'number' && unreadable > 0)
    lines.push(`unreadable file versions  ${unreadable}`);
  if (summary.lost > 0)
    lines.push('Some blocks have no good copy left: the files that use them cannot be read.');
  else if (summary.short > 0)
    lines.push('Some blocks have fewer copies than wanted: add peers, then run repair again.');
  return lines;
}

export const repairCommand: Command = {
  name: 'repair',
  summary: 'check and repair the copies of your files now',
  help: commandHelp({
    usage: 'repair [--audit]',
    about: `Runs a repair pass over your files now: every block is brought back to its number of copies
where peers are missing some. With --audit, the peers holding them must also prove they still
have the right bytes. The summary says what was found; the exit code is 0 when the pass ran.
With --json: {files, blocks, copies, short, lost, badPeers, ms}.`,
    flags: '  --audit             also ask every holder to prove it has the right bytes',
    session: true,
    examples: ['peervault repair', 'peervault repair --audit --json'],
  }),
  run: oneShot('repair', { audit: { type: 'boolean' } }, async (ctx) => {
    positionalArgs(ctx.positionals, [], [], 'peervault repair [--audit]', ctx.op);
    const { api } = await ctx.session();
    const summary = await api.repair({ audit: ctx.flags.audit === true });
    ctx.print(summary, repairLines(summary));
    return 0;
  }),
};

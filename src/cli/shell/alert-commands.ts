/**
 * The shell's `alerts` and `alerts ack ID`: the directory's security alerts for the logged-in
 * user (every alert, for an admin), unread first, each with what to do.
 */
import { FsError } from '../../interface/errors.js';
import { alertLines, alertsLines, parseAlertName } from '../alerts-output.js';
import { type ShellCommand, usageError } from './context.js';

const alerts: ShellCommand = {
  name: 'alerts',
  usage: 'alerts [ack ID]',
  summary: 'list your security alerts, unread first, with what to do (ack ID marks one read)',
  details: [
    'Repeated failed logins on your account, another user probing your files, a burst of',
    'deletions of your files: each alert says what to do. A burst keeps the deleted files',
    'from purge until you acknowledge it with `alerts ack ID`. An admin sees every alert.',
    "Alerts named D1, D2… are this device's own: the directory rolled back or forked a file",
    'you saw (it cannot delete these); `alerts ack D1` marks one read.',
  ].join('\n'),
  args: [],
  async run(ctx, args) {
    if (args.length === 0) {
      for (const line of alertsLines(await ctx.api.alerts(), 'alerts ack')) ctx.out(line);
      return;
    }
    const [verb, word] = args;
    if (verb !== 'ack' || word === undefined || args.length > 2) throw usageError(this.usage);
    const name = parseAlertName(word);
    if (name === undefined) {
      throw new FsError('invalid', `ID is an alert number such as 3 or D3, not "${word}"`, {
        op: 'alerts',
      });
    }
    for (const line of alertLines(await ctx.api.ackAlert(name.id, name.origin), 'alerts ack'))
      ctx.out(line);
  },
};

export const alertCommands: readonly ShellCommand[] = [alerts];

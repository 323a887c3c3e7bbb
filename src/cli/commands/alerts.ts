/**
 * `peervault alerts`: the directory's security alerts for you (every alert, for an admin), unread
 * first, each with what to do; `peervault alerts ack ID` acknowledges one (a burst-of-deletions
 * alert keeps the deleted files from purge until then).
 */
import { FsError } from '../../interface/errors.js';
import { alertLines, alertsLines, parseAlertName } from '../alerts-output.js';
import type { Command } from '../command.js';
import { commandHelp, oneShot } from '../session-options.js';

const help = commandHelp({
  usage: 'alerts [ack ID]',
  about: `Lists the security alerts the directory raised for you, unread first, each with what to do
next: repeated failed logins on your account, another user probing your files, a burst of
deletions of your files (which keeps them from purge until you acknowledge it). An admin sees
every alert, those for admins only included. \`alerts ack ID\` marks one read.

Alerts named D1, D2… are this device's own (kept at its peer, where the directory cannot delete
them): the directory showed you an older version of a file than you saw before (a rollback), or
another history than you or another peer's users saw (a fork), or a version its owner's rules
do not allow (forged). They are listed even when the directory does not answer; \`alerts ack D1\`
marks one read.

With --json: {alerts: [{id, origin, audience, admin, rule, severity, summary, action, firstAt,
lastAt, count, ackedAt, subject?, evidence?}], scope, directoryUnavailable?}; ack: the alert.`,
  session: true,
  examples: [
    'peervault alerts',
    'peervault alerts ack 3',
    'peervault alerts ack D1',
    'peervault alerts --json',
  ],
});

const run = oneShot('alerts', {}, async (ctx) => {
  const usage = 'peervault alerts [ack ID]';
  const [verb, word, ...rest] = ctx.positionals;
  if (verb === undefined) {
    const { api } = await ctx.session();
    const page = await api.alerts();
    ctx.print(page, alertsLines(page, 'peervault alerts ack'));
    return 0;
  }
  if (verb !== 'ack' || word === undefined || rest.length > 0) {
    throw new FsError('invalid', `usage: ${usage}`, { op: ctx.op });
  }
  const name = parseAlertName(word);
  if (name === undefined) {
    throw new FsError('invalid', `ID is an alert number such as 3 or D3, not "${word}"`, {
      op: ctx.op,
    });
  }
  const { api } = await ctx.session();
  const alert = await api.ackAlert(name.id, name.origin);
  ctx.print(alert, alertLines(alert, 'peervault alerts ack'));
  return 0;
});

export const alertsCommand: Command = {
  name: 'alerts',
  summary: 'list your security alerts, unread first (ack ID marks one read)',
  help,
  run,
};

/**
 * `peervault group`: the user's groups (`@team` in grants), listed, made, changed or deleted
 * through the local peer, which signs each group and re-applies what is shared with it.
 */
import type { Command } from '../command.js';
import { groupDetails, runGroupVerb } from '../group-verbs.js';
import { commandHelp, oneShot } from '../session-options.js';

const usage =
  'group [create NAME [USER ...] | add NAME USER ... | remove NAME USER ... | delete NAME [--force]]';

export const groupCommand: Command = {
  name: 'group',
  summary: 'list, make or change your groups (@team in grants)',
  help: commandHelp({
    usage,
    about: `${groupDetails}
With --json: the array of {name, version, members, time}; after create, add or remove
{name, version, members, time, created, entries} (entries: how many entries shared with the
group got a new version); after delete {name, entries}.`,
    flags: '  -f, --force         delete: take the group off the entries shared with it first',
    session: true,
    examples: [
      'peervault group create team bob carol',
      'peervault touch notes.txt @team r',
      'peervault group add team dave',
      'peervault group remove team bob',
      'peervault group --json',
      'peervault group delete team --force',
    ],
  }),
  run: oneShot('group', { force: { type: 'boolean', short: 'f' } }, async (ctx) => {
    const { api } = await ctx.session();
    const outcome = await runGroupVerb(api, ctx.positionals, {
      force: ctx.flags.force === true,
      usage: `peervault ${usage}`,
    });
    ctx.print(outcome.json, outcome.lines);
    return 0;
  }),
};

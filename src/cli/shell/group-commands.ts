/**
 * The shell's `group`: the user's groups (`@team` in grants), listed, made, changed or deleted
 * (src/cli/group-verbs.ts, shared with the one-shot command).
 */
import { groupDetails, groupUsage, runGroupVerb } from '../group-verbs.js';
import type { ShellCommand } from './context.js';

const group: ShellCommand = {
  name: 'group',
  usage: groupUsage,
  summary: 'list your groups, or make, change or delete one (@team in grants)',
  details: groupDetails,
  args: [],
  async run(ctx, args) {
    const force = args.includes('--force') || args.includes('-f');
    const words = args.filter((word) => word !== '--force' && word !== '-f');
    const outcome = await runGroupVerb(ctx.api, words, { force, usage: this.usage });
    if (words.length === 0 && outcome.lines.length === 0 && ctx.interactive) {
      ctx.out('you have no groups; make one with `group create NAME USER ...`');
    }
    for (const line of outcome.lines) ctx.out(line);
  },
};

export const groupCommands: readonly ShellCommand[] = [group];

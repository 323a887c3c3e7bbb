/**
 * The shell's `audit`: the directory's audit log as it concerns the logged-in user (every event,
 * for an admin), a page at a time. Checking the whole log is `peervault audit verify`, next to
 * the directory.
 */
import { FsError } from '../../interface/errors.js';
import { auditPageLines } from '../audit-output.js';
import { type ShellCommand, usageError } from './context.js';

const pageSize = 100;

const audit: ShellCommand = {
  name: 'audit',
  usage: 'audit [AFTER]',
  summary: 'list the audit log’s events about you (logins, shares, deletions, refusals)',
  details: [
    'Oldest first, 100 at a time; AFTER starts after that record (a full page says which).',
    'You see events about your account and files; an admin sees every event. Addresses',
    'are shown for events nobody else caused. To check the whole log for tampering, run',
    '`peervault audit verify` next to the directory.',
  ].join('\n'),
  args: [],
  async run(ctx, args) {
    if (args.length > 1) throw usageError(this.usage);
    const word = args[0];
    const after = word === undefined ? 0 : Number(word);
    if (word !== undefined && (!/^\d+$/.test(word) || !Number.isSafeInteger(after))) {
      throw new FsError(
        'invalid',
        `AFTER is a record number, not "${word}"; usage: ${this.usage}`,
        {
          op: 'audit',
        },
      );
    }
    const page = await ctx.api.audit({ after, limit: pageSize });
    for (const line of auditPageLines(page, pageSize, 'audit')) ctx.out(line);
  },
};

export const auditCommands: readonly ShellCommand[] = [audit];

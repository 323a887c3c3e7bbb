/**
 * `peervault audit`: the directory's audit log. Without a subcommand, the events about you (your
 * logins, your key events, who shared, deleted or restored your files, refused requests on
 * them), through the local peer; an admin sees every event. `audit verify` runs next to the
 * directory and checks its whole log in the database: every record's hash, the chain, and every
 * signed checkpoint.
 *
 * `verify` imports the directory's store when it runs, like the other directory admin commands.
 */
import { FsError } from '../../interface/errors.js';
import { parseFlags } from '../args.js';
import { auditPageLines, auditVerificationLines } from '../audit-output.js';
import type { Command, CommandIo } from '../command.js';
import { exitCodes } from '../exit-codes.js';
import { commandHelp, oneShot, positionalArgs } from '../session-options.js';

const defaultData = './.peervault/directory';
const defaultLimit = 100;

const listHelp = commandHelp({
  usage: 'audit [--after SEQ] [--limit N]',
  about: `Lists the events of the directory's audit log that concern you, oldest first: logins and
failed logins on your account, your key events, shares, unshares, deletions, restores and purges
of your files (by you or a writer), and refused requests on them. An admin sees every event.
A full page ends with the command that reads the next one.

Check the whole log, next to the directory (reading its database):
  peervault audit verify [--data DIR] [--database URL] [--fingerprint FP] [--witness PEERDIR]
                         [--json]
    --data DIR          the directory's data directory (default ./.peervault/directory)
    --database URL      its PostgreSQL database, when it uses one (also DATABASE_URL)
    --fingerprint FP    also insist that the key in DIR is this one (the fingerprint clients pin)
    --witness PEERDIR   also compare the log with the signed checkpoints that the peer with
                        data directory PEERDIR kept: a log rewritten (and signed again) after
                        that peer saw it does not match them
  It says where the log breaks (an edited, removed or reordered record, a forged checkpoint, a
  cut-off tail) and exits with 10 when it does, 0 when it is intact.

With --json: {records: [{seq, time, event, actor, subjects, entry, source, details, prev, hash}],
next, scope}; verify: {ok, records, head, checkpoints, validCheckpoints, lastCheckpoint,
unsigned, witnesses?, problems: [{kind, seq, message}]}.`,
  flags: `  --after SEQ         start after this record (default 0: from the beginning)
  --limit N           at most N records (default ${defaultLimit}, at most 1000)`,
  session: true,
  examples: ['peervault audit', 'peervault audit --after 1200 --json', 'peervault audit verify'],
});

/** A whole number flag within bounds. @throws FsError `invalid` */
function count(
  text: string | undefined,
  flag: string,
  min: number,
  max: number,
): number | undefined {
  if (text === undefined) return undefined;
  const value = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(value) || value < min || value > max) {
    throw new FsError('invalid', `${flag} is a whole number from ${min} to ${max}`, {
      op: 'audit',
    });
  }
  return value;
}

const list = oneShot(
  'audit',
  { after: { type: 'string' }, limit: { type: 'string' } },
  async (ctx) => {
    positionalArgs(ctx.positionals, [], [], 'peervault audit [--after SEQ] [--limit N]', ctx.op);
    const after = count(ctx.flags.after, '--after', 0, Number.MAX_SAFE_INTEGER);
    const limit = count(ctx.flags.limit, '--limit', 1, 1000) ?? defaultLimit;
    const { api } = await ctx.session();
    const page = await api.audit({ ...(after === undefined ? {} : { after }), limit });
    ctx.print(page, auditPageLines(page, limit, 'peervault audit --after'));
    return 0;
  },
);

/** Checks the whole log; under `--json`, a failure to check is `{"error"}` as for every command. */
async function verify(args: readonly string[], io: CommandIo): Promise<number> {
  try {
    return await verifyLog(args, io);
  } catch (err) {
    if (args.includes('--json')) {
      const error =
        err instanceof FsError
          ? { kind: err.kind, message: err.message }
          : { kind: 'internal', message: 'internal error' };
      io.out(JSON.stringify({ error }));
    }
    throw err;
  }
}

async function verifyLog(args: readonly string[], io: CommandIo): Promise<number> {
  const op = 'audit verify';
  const { flags, positionals } = parseFlags(
    args,
    {
      data: { type: 'string' },
      database: { type: 'string' },
      fingerprint: { type: 'string' },
      witness: { type: 'string' },
      json: { type: 'boolean' },
    },
    op,
  );
  if (positionals.length > 0) {
    throw new FsError('invalid', `unexpected argument "${positionals[0]}"`, { op });
  }
  const dataDir = flags.data ?? defaultData;
  const { loadDirectoryPublicKey } = await import('../../directory/keys.js');
  const key = await loadDirectoryPublicKey(dataDir);
  if (flags.fingerprint !== undefined && flags.fingerprint !== key.fingerprint) {
    throw new FsError(
      'integrity',
      `the directory key in ${dataDir} is ${key.fingerprint}, not ${flags.fingerprint}`,
      { op },
    );
  }
  const { openDirectoryStore } = await import('../../directory/service.js');
  const { verifyAuditLog } = await import('../../directory/audit.js');
  const witnesses =
    flags.witness === undefined ? [] : await witnessedCheckpoints(flags.witness, op);
  const store = await openDirectoryStore(dataDir, flags.database);
  let result;
  try {
    result = await verifyAuditLog(store, key.publicKey, witnesses);
  } finally {
    await store.close();
  }
  if (flags.json === true) io.out(JSON.stringify(result));
  else io.out(auditVerificationLines(result).join('\n'));
  return result.ok ? 0 : exitCodes.integrity;
}

/**
 * The checkpoints a peer kept of this log (`seen.sqlite` in its data directory `peerDir`).
 * @throws FsError `not-exist` when it keeps none there
 */
async function witnessedCheckpoints(peerDir: string, op: string) {
  const fs = await import('node:fs');
  const path = (await import('node:path')).join(peerDir, 'seen.sqlite');
  if (!fs.existsSync(path)) {
    throw new FsError(
      'not-exist',
      `${path} does not exist: --witness wants the data directory of a peer of this network`,
      { op },
    );
  }
  const { openSeenVersions } = await import('../../client/seen-versions.js');
  const seen = openSeenVersions(path);
  try {
    const all = [];
    for (let after = 0; ;) {
      const page = seen.witnessed(after, 1000);
      all.push(...page);
      if (page.length < 1000) return all;
      after = page.at(-1)!.seq;
    }
  } finally {
    seen.close();
  }
}

export const auditCommand: Command = {
  name: 'audit',
  summary: "list the audit log's events about you; check the whole log (verify)",
  help: listHelp,
  run(args, io) {
    if (args[0] === 'verify') return verify(args.slice(1), io);
    return list(args, io);
  },
};

/**
 * `peervault directory`: run the directory service (the seed's "CDS"), make its keys, or make
 * invite codes.
 *
 * The services are imported when a command runs, not when the CLI starts: they pull in the
 * web server, the databases and OPAQUE, which every other `peervault` command would pay for.
 */
import { randomBytes } from 'node:crypto';
import { FsError } from '../../interface/errors.js';
import { parseDuration, parseFlags } from '../args.js';
import type { Command, CommandIo } from '../command.js';

const help = `Usage:
  peervault directory [--data DIR] [--listen HOST:PORT] [--database URL] [--registration open|invite]
                     [--retention T] [--json]
  peervault directory init [--data DIR] [--json]
  peervault directory invite [--data DIR] [--database URL] [--days N]

Runs the directory: accounts, public keys, the encrypted file tree and the peer registry, over
HTTPS (TLS 1.3) with a certificate that carries the directory's identity key. Clients pin the
fingerprint it prints.

  --data DIR          keys (and the SQLite database) live here (default ./.peervault/directory)
  --listen HOST:PORT  address to serve on (default 127.0.0.1:7400; port 0 picks a free one)
  --database URL      use PostgreSQL (postgres://…) instead of SQLite; also DATABASE_URL
  --registration M    "open" (default) or "invite" (new accounts need an invite code)
  --retention T       how long deleted files stay in the trash before their owners' agents
                      purge them and release their blocks, e.g. 7d (default 30d)
  --json              print one JSON line {"url", "fingerprint"} when ready

  init     make the keys if missing and print the fingerprint, without serving
  invite   print a new single-use invite code (valid --days N, default 7)

Back up the data directory: it holds the identity key and the OPAQUE key without which no
user can unlock their keys.`;

const defaultData = './.peervault/directory';

async function serve(args: readonly string[], io: CommandIo): Promise<number> {
  const { flags } = parseFlags(
    args,
    {
      data: { type: 'string' },
      listen: { type: 'string' },
      database: { type: 'string' },
      registration: { type: 'string' },
      retention: { type: 'string' },
      json: { type: 'boolean' },
    },
    'directory',
  );
  const retention =
    flags.retention === undefined
      ? {}
      : { retentionMs: parseDuration(flags.retention, '--retention') };
  const registration = flags.registration ?? 'open';
  if (registration !== 'open' && registration !== 'invite') {
    throw new FsError('invalid', '--registration is "open" or "invite"', { op: 'directory' });
  }
  const { startDirectory } = await import('../../directory/service.js');
  const running = await startDirectory({
    dataDir: flags.data ?? defaultData,
    ...(flags.listen === undefined ? {} : { listen: flags.listen }),
    ...(flags.database === undefined ? {} : { database: flags.database }),
    config: { registration, ...retention },
  });
  if (flags.json) {
    io.out(JSON.stringify({ url: running.url, fingerprint: running.fingerprint }));
  } else {
    io.out(`PeerVault directory listening on ${running.url}`);
    io.out(`fingerprint: ${running.fingerprint}`);
    io.out('Press Ctrl-C to stop.');
  }
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  await running.close();
  return 0;
}

async function init(args: readonly string[], io: CommandIo): Promise<number> {
  const { flags } = parseFlags(
    args,
    { data: { type: 'string' }, json: { type: 'boolean' } },
    'directory init',
  );
  const dataDir = flags.data ?? defaultData;
  const { loadOrCreateDirectoryKeys } = await import('../../directory/keys.js');
  const { keys, created } = await loadOrCreateDirectoryKeys(dataDir);
  if (flags.json) io.out(JSON.stringify({ fingerprint: keys.fingerprint, created, data: dataDir }));
  else
    io.out(
      `${created ? 'Created keys in' : 'Keys already in'} ${dataDir}\nfingerprint: ${keys.fingerprint}`,
    );
  return 0;
}

async function invite(args: readonly string[], io: CommandIo): Promise<number> {
  const { flags } = parseFlags(
    args,
    { data: { type: 'string' }, database: { type: 'string' }, days: { type: 'string' } },
    'directory invite',
  );
  const days = Number(flags.days ?? '7');
  if (!Number.isInteger(days) || days < 1 || days > 365) {
    throw new FsError('invalid', '--days is a whole number from 1 to 365', {
      op: 'directory invite',
    });
  }
  const { openDirectoryStore } = await import('../../directory/service.js');
  const { inviteHash } = await import('../../directory/routes/accounts.js');
  const store = await openDirectoryStore(flags.data ?? defaultData, flags.database);
  try {
    const code = randomBytes(15).toString('base64url');
    const now = Date.now();
    await store.createInvite({
      codeHash: inviteHash(code),
      createdAt: now,
      expiresAt: now + days * 86_400_000,
      usedBy: null,
    });
    io.out(code);
  } finally {
    await store.close();
  }
  return 0;
}

export const directoryCommand: Command = {
  name: 'directory',
  summary: 'run the directory service (accounts, keys, encrypted tree, peers)',
  help,
  run(args, io) {
    const [sub, ...rest] = args;
    if (sub === 'init') return init(rest, io);
    if (sub === 'invite') return invite(rest, io);
    if (sub !== undefined && !sub.startsWith('-')) {
      throw new FsError(
        'invalid',
        `unknown subcommand "directory ${sub}"; see \`peervault directory --help\``,
        { op: 'directory' },
      );
    }
    return serve(args, io);
  },
};

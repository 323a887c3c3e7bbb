/**
 * `peervault directory`: run the directory service (the seed's "CDS"), make its keys, make
 * invite codes, or name the admins who read the whole audit log.
 *
 * The services are imported when a command runs, not when the CLI starts: they pull in the
 * web server, the databases and OPAQUE, which every other `peervault` command would pay for.
 */
import { randomBytes } from 'node:crypto';
import { FsError } from '../../interface/errors.js';
import { parseUserName } from '../../interface/names.js';
import { parseDuration, parseFlags } from '../args.js';
import type { Command, CommandIo } from '../command.js';
import { defaultMonitor } from '../../directory/config.js';
import { monitorSettingNames, parseMonitorSettings } from '../monitor-settings.js';

/** `words` joined by commas in lines of at most `width` characters, each indented by `indent`. */
function wrapNames(words: readonly string[], indent: number, width: number): string {
  const lines: string[] = [];
  let line = '';
  for (const word of words) {
    const next = line === '' ? word : `${line}, ${word}`;
    if (indent + next.length + 1 > width && line !== '') {
      lines.push(`${line},`);
      line = word;
    } else {
      line = next;
    }
  }
  if (line !== '') lines.push(line);
  return lines.map((l) => ' '.repeat(indent) + l).join('\n');
}

const help = `Usage:
  peervault directory [--data DIR] [--listen HOST:PORT] [--database URL] [--registration open|invite]
                     [--retention T] [--min-retention T] [--rate-limit N]
                     [--monitor NAME=VALUE,…] [--quarantine BLOCKS,REPORTERS]
                     [--checkpoint RECORDS,T] [--self-check T] [--json]
  peervault directory init [--data DIR] [--json]
  peervault directory invite [--data DIR] [--database URL] [--days N]
  peervault directory admin add|remove USER [--data DIR] [--database URL]
  peervault directory peers release PEER [--data DIR] [--database URL]

Runs the directory: accounts, public keys, the encrypted file tree and the peer registry, over
HTTPS (TLS 1.3) with a certificate that carries the directory's identity key. Clients pin the
fingerprint it prints.

  --data DIR          keys (and the SQLite database) live here (default ./.peervault/directory)
  --listen HOST:PORT  address to serve on (default 127.0.0.1:7400; port 0 picks a free one)
  --database URL      use PostgreSQL (postgres://…) instead of SQLite; also DATABASE_URL
  --registration M    "open" (default) or "invite" (new accounts need an invite code)
  --retention T       how long deleted files stay in the trash before their owners' agents
                      purge them and release their blocks, e.g. 7d (default 30d), for users
                      who set none of their own (\`peervault retention\`)
  --min-retention T   the shortest retention a user may set (default 1d; the default above is
                      always allowed); the longest is 3650d
  --rate-limit N      requests a second from one address before it is refused (default
                      200); peers and users behind one NAT share it
  --monitor NAME=VALUE,…
                      the security monitor's thresholds (docs/monitor.md), e.g.
                      guessFailures=50,burstWindow=10m. Names:
${wrapNames(monitorSettingNames, 22, 96)}
  --quarantine BLOCKS,REPORTERS
                      quarantine a peer once bad-block reports name BLOCKS distinct blocks
                      from REPORTERS distinct users (default 3,2; 1 reporter only in a
                      one-user network)
  --checkpoint RECORDS,T
                      sign the audit log's head once RECORDS records follow the last
                      checkpoint, or after T if any do (default 100,60s). Peers keep what is
                      signed as witnesses; what follows the last checkpoint can be cut off
                      unseen, so smaller values narrow that window
  --self-check T      how often the directory checks its whole audit log (and the key logs
                      it pins) as \`audit verify\` does, alerting the admins when the
                      database was edited behind it (default 1h; 0 for never)
  --json              print one JSON line {"url", "fingerprint"} when ready

  init     make the keys if missing and print the fingerprint, without serving
  invite   print a new single-use invite code (valid --days N, default 7)
  admin    let USER read the whole audit log (add), or only the events about them (remove);
           the change is itself recorded in the log (role.changed)
  peers release  lift the quarantine of PEER (its fingerprint, as \`peervault peers\` shows
           it, or its key) and forget its strikes; recorded in the log (peer.released)

Back up the data directory: it holds the identity key and the OPAQUE key without which no
user can unlock their keys.`;

const defaultData = './.peervault/directory';

/** A whole number flag from `min` to `max`. @throws FsError `invalid` */
function wholeNumber(text: string, flag: string, min: number, max: number): number {
  const value = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(value) || value < min || value > max) {
    throw new FsError('invalid', `${flag} is a whole number from ${min} to ${max}, not "${text}"`, {
      op: 'directory',
    });
  }
  return value;
}

/** `--quarantine BLOCKS,REPORTERS`. @throws FsError `invalid` */
function parseQuarantine(text: string): { quarantineBlocks: number; quarantineReporters: number } {
  const [blocks, reporters, ...rest] = text.split(',');
  if (blocks === undefined || reporters === undefined || rest.length > 0) {
    throw new FsError('invalid', `--quarantine is BLOCKS,REPORTERS such as 3,2, not "${text}"`, {
      op: 'directory',
    });
  }
  return {
    quarantineBlocks: wholeNumber(blocks.trim(), '--quarantine BLOCKS', 1, 1000),
    quarantineReporters: wholeNumber(reporters.trim(), '--quarantine REPORTERS', 1, 1000),
  };
}

/** `--checkpoint RECORDS,T`. @throws FsError `invalid` */
function parseCheckpoint(text: string): {
  auditCheckpointRecords: number;
  auditCheckpointMs: number;
} {
  const [records, every, ...rest] = text.split(',');
  if (records === undefined || every === undefined || rest.length > 0) {
    throw new FsError('invalid', `--checkpoint is RECORDS,T such as 100,60s, not "${text}"`, {
      op: 'directory',
    });
  }
  const ms = parseDuration(every.trim(), '--checkpoint T');
  if (ms < 100 || ms > 24 * 60 * 60 * 1000) {
    throw new FsError('invalid', '--checkpoint T is from 100ms to 24h', { op: 'directory' });
  }
  return {
    auditCheckpointRecords: wholeNumber(records.trim(), '--checkpoint RECORDS', 1, 1_000_000),
    auditCheckpointMs: ms,
  };
}

/** `--self-check T`, or 0 for never. @throws FsError `invalid` */
function parseSelfCheck(text: string): number {
  if (text.trim() === '0') return 0;
  const ms = parseDuration(text, '--self-check');
  if (ms < 100 || ms > 30 * 86_400_000) {
    throw new FsError('invalid', '--self-check is from 100ms to 30d, or 0 for never', {
      op: 'directory',
    });
  }
  return ms;
}

async function serve(args: readonly string[], io: CommandIo): Promise<number> {
  const { flags } = parseFlags(
    args,
    {
      data: { type: 'string' },
      listen: { type: 'string' },
      database: { type: 'string' },
      registration: { type: 'string' },
      retention: { type: 'string' },
      'min-retention': { type: 'string' },
      'rate-limit': { type: 'string' },
      monitor: { type: 'string' },
      quarantine: { type: 'string' },
      checkpoint: { type: 'string' },
      'self-check': { type: 'string' },
      json: { type: 'boolean' },
    },
    'directory',
  );
  const retention = {
    ...(flags.retention === undefined
      ? {}
      : { retentionMs: parseDuration(flags.retention, '--retention') }),
    ...(flags['min-retention'] === undefined
      ? {}
      : { minRetentionMs: parseDuration(flags['min-retention'], '--min-retention') }),
  };
  const registration = flags.registration ?? 'open';
  if (registration !== 'open' && registration !== 'invite') {
    throw new FsError('invalid', '--registration is "open" or "invite"', { op: 'directory' });
  }
  const { startDirectory } = await import('../../directory/service.js');
  const running = await startDirectory({
    dataDir: flags.data ?? defaultData,
    ...(flags.listen === undefined ? {} : { listen: flags.listen }),
    ...(flags.database === undefined ? {} : { database: flags.database }),
    config: {
      registration,
      ...retention,
      ...(flags['rate-limit'] === undefined
        ? {}
        : { requestsPerSecond: wholeNumber(flags['rate-limit'], '--rate-limit', 1, 1_000_000) }),
      ...(flags.monitor === undefined
        ? {}
        : { monitor: { ...defaultMonitor, ...parseMonitorSettings(flags.monitor) } }),
      ...(flags.quarantine === undefined ? {} : parseQuarantine(flags.quarantine)),
      ...(flags.checkpoint === undefined ? {} : parseCheckpoint(flags.checkpoint)),
      ...(flags['self-check'] === undefined
        ? {}
        : { selfCheckMs: parseSelfCheck(flags['self-check']) }),
    },
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

async function admin(args: readonly string[], io: CommandIo): Promise<number> {
  const op = 'directory admin';
  const { flags, positionals } = parseFlags(
    args,
    { data: { type: 'string' }, database: { type: 'string' } },
    op,
  );
  const [action, name, ...extra] = positionals;
  if ((action !== 'add' && action !== 'remove') || name === undefined || extra.length > 0) {
    throw new FsError('invalid', 'usage: peervault directory admin add|remove USER', { op });
  }
  const user = parseUserName(name);
  const role = action === 'add' ? 'admin' : 'user';
  const { openDirectoryStore } = await import('../../directory/service.js');
  const store = await openDirectoryStore(flags.data ?? defaultData, flags.database);
  try {
    await store.setRole(user, role, [
      {
        time: Date.now(),
        event: 'role.changed',
        // The operator at the directory's machine, not a user of it.
        actor: null,
        subjects: [user],
        entry: null,
        source: 'local',
        details: { role },
      },
    ]);
  } finally {
    await store.close();
  }
  io.out(role === 'admin' ? `${user} is now an admin` : `${user} is no longer an admin`);
  return 0;
}

async function peers(args: readonly string[], io: CommandIo): Promise<number> {
  const op = 'directory peers';
  const { flags, positionals } = parseFlags(
    args,
    { data: { type: 'string' }, database: { type: 'string' } },
    op,
  );
  const [action, name, ...extra] = positionals;
  if (action !== 'release' || name === undefined || extra.length > 0) {
    throw new FsError('invalid', 'usage: peervault directory peers release PEER', { op });
  }
  const { openDirectoryStore } = await import('../../directory/service.js');
  const { fingerprint } = await import('../../crypto/identity.js');
  const store = await openDirectoryStore(flags.data ?? defaultData, flags.database);
  try {
    const peer = (await store.listPeers(0)).find(
      (p) => p.id === name || fingerprint(p.key) === name,
    );
    if (peer === undefined) {
      throw new FsError('not-exist', `no registered peer is ${name}`, { op });
    }
    const released = await store.releasePeer(peer.id, [
      {
        time: Date.now(),
        event: 'peer.released',
        // The operator at the directory's machine, not a user of it.
        actor: null,
        subjects: [],
        entry: null,
        source: 'local',
        details: { peer: peer.id },
      },
    ]);
    io.out(
      released
        ? `${fingerprint(peer.key)} is released: agents place blocks on it again`
        : `${fingerprint(peer.key)} was not quarantined; its strikes are forgotten`,
    );
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
    if (sub === 'admin') return admin(rest, io);
    if (sub === 'peers') return peers(rest, io);
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

/**
 * `peervault peer`: run a peer (block storage for the network, and the user's agent).
 */
import { FsError } from '../../interface/errors.js';
import { auditDefaults } from '../../peer/repair.js';
import { parseDuration, parseFlags } from '../args.js';
import type { Command, CommandIo } from '../command.js';

const help = `Usage:
  peervault peer --directory URL#FINGERPRINT [--data DIR] [--listen HOST:PORT] [--api HOST:PORT]
                 [--capacity SIZE] [--replicas N] [--repair-grace T]
                 [--sweep-interval T] [--gossip-interval T] [--rekey-eager-max SIZE]
                 [--audit-every T] [--audit-sample PERCENT] [--json]

Runs a peer: it stores other users' encrypted blocks and serves them over mutual TLS 1.3 to
peers holding a valid capability, registers and heartbeats with the directory, and serves the
local API (127.0.0.1, with the token in DIR/api-token) that the shell and other front ends use.

  --directory URL#FP  the directory and the fingerprint it must prove (printed by
                      \`peervault directory\`), e.g. https://127.0.0.1:7400#ABCD-EFGH-…
  --data DIR          identity key, API token and blocks (default ./.peervault/peer)
  --listen HOST:PORT  block protocol address (default 127.0.0.1:7600; port 0 picks one)
  --api HOST:PORT     local API address, loopback only (default 127.0.0.1:7601)
  --capacity SIZE     space offered to the network, e.g. 500M, 20G (default 10G)
  --replicas N        copies of each block this peer's agent writes (default 3)
  --repair-grace T    how long a peer must be gone before the blocks of users logged in here
                      are copied elsewhere, e.g. 30s, 10m, 2h (default 10m); a peer that
                      joins triggers a repair pass at once
  --sweep-interval T  how often to read the directory's log of released blocks and delete
                      the ones this peer holds (default 1m)
  --gossip-interval T how often to tell the other peers which entry versions the users here
                      saw, so that a directory showing two peers different histories of a
                      file is caught (default 30s)
  --rekey-eager-max SIZE
                      when a user loses access to a file, files up to SIZE are sealed again
                      under a new key at once; larger ones keep their content under the old
                      key until the next write (default 16M; 0 for never at once)
  --audit-every T     how often the agent challenges the peers that hold a sample of the
                      blocks of each user logged in here, to catch a peer that lost or
                      dropped them (default 6h; 0 for never; \`repair --audit\` checks all)
  --audit-sample PERCENT
                      the share of blocks each scheduled audit checks, drawn at random
                      (default 5)
  --json              print one JSON line {"listen", "api", "fingerprint"} when ready`;

const units: Record<string, number> = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4 };

/** Parses `--rekey-eager-max`: a size such as 16M, or 0. @throws FsError `invalid` */
function parseRekeyMax(text: string): number {
  if (text.trim() === '0') return 0;
  const match = /^(\d+(?:\.\d+)?)\s*([KMGT]?)i?B?$/i.exec(text.trim());
  const value = match ? Number(match[1]) * (units[match[2]!.toUpperCase()] ?? NaN) : NaN;
  if (!Number.isFinite(value) || value < 0) {
    throw new FsError(
      'invalid',
      `--rekey-eager-max wants a size such as 16M, or 0, not "${text}"`,
      {
        op: 'peer',
      },
    );
  }
  return Math.floor(value);
}

/** `--audit-every T` and `--audit-sample PERCENT`, each defaulted. @throws FsError `invalid` */
function parseAudits(
  every: string | undefined,
  sample: string | undefined,
): { everyMs: number; sample: number } {
  const everyMs =
    every === undefined
      ? auditDefaults.everyMs
      : every.trim() === '0'
        ? 0
        : parseDuration(every, '--audit-every');
  if (everyMs !== 0 && (everyMs < 100 || everyMs > 30 * 86_400_000)) {
    throw new FsError('invalid', '--audit-every is from 100ms to 30d, or 0 for never', {
      op: 'peer',
    });
  }
  const percent = sample === undefined ? auditDefaults.sample * 100 : Number(sample.trim());
  if (
    sample !== undefined &&
    (!/^\d+(\.\d+)?$/.test(sample.trim()) || percent <= 0 || percent > 100)
  ) {
    throw new FsError(
      'invalid',
      `--audit-sample is a percentage above 0 and at most 100, such as 5, not "${sample}"`,
      { op: 'peer' },
    );
  }
  return { everyMs, sample: percent / 100 };
}

/** Parses sizes such as 500M, 20G, 1.5T or a byte count. @throws FsError `invalid` */
export function parseSize(text: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*([KMGT]?)i?B?$/i.exec(text.trim());
  const value = match ? Number(match[1]) * (units[match[2]!.toUpperCase()] ?? NaN) : NaN;
  if (!Number.isFinite(value) || value < 1024 * 1024) {
    throw new FsError(
      'invalid',
      `--capacity wants a size of at least 1M, such as 500M or 20G, not "${text}"`,
      { op: 'peer' },
    );
  }
  return Math.floor(value);
}

function parseReplicas(text: string): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1 || value > 16) {
    throw new FsError('invalid', `--replicas is a whole number from 1 to 16, not "${text}"`, {
      op: 'peer',
    });
  }
  return value;
}

async function run(args: readonly string[], io: CommandIo): Promise<number> {
  const { flags } = parseFlags(
    args,
    {
      directory: { type: 'string' },
      data: { type: 'string' },
      listen: { type: 'string' },
      api: { type: 'string' },
      capacity: { type: 'string' },
      replicas: { type: 'string' },
      'repair-grace': { type: 'string' },
      'sweep-interval': { type: 'string' },
      'gossip-interval': { type: 'string' },
      'rekey-eager-max': { type: 'string' },
      'audit-every': { type: 'string' },
      'audit-sample': { type: 'string' },
      json: { type: 'boolean' },
    },
    'peer',
  );
  const [url, fp] = (flags.directory ?? '').split('#');
  if (!url || !fp) {
    throw new FsError(
      'invalid',
      '--directory wants URL#FINGERPRINT, as printed by `peervault directory`',
      { op: 'peer' },
    );
  }
  // Imported here: the peer service is heavy, and other commands should not pay for it.
  const { startPeer } = await import('../../peer/service.js');
  const peer = await startPeer({
    dataDir: flags.data ?? './.peervault/peer',
    directory: { url, fingerprint: fp },
    ...(flags.listen === undefined ? {} : { listen: flags.listen }),
    ...(flags.api === undefined ? {} : { api: flags.api }),
    ...(flags.capacity === undefined ? {} : { capacity: parseSize(flags.capacity) }),
    ...(flags.replicas === undefined ? {} : { replicas: parseReplicas(flags.replicas) }),
    ...(flags['repair-grace'] === undefined
      ? {}
      : { repairGraceMs: parseDuration(flags['repair-grace'], '--repair-grace') }),
    ...(flags['sweep-interval'] === undefined
      ? {}
      : { releaseSweepMs: parseDuration(flags['sweep-interval'], '--sweep-interval') }),
    ...(flags['gossip-interval'] === undefined
      ? {}
      : { gossipMs: parseDuration(flags['gossip-interval'], '--gossip-interval') }),
    ...(flags['rekey-eager-max'] === undefined
      ? {}
      : { eagerRekeyMaxBytes: parseRekeyMax(flags['rekey-eager-max']) }),
    ...(flags['audit-every'] === undefined && flags['audit-sample'] === undefined
      ? {}
      : { audits: parseAudits(flags['audit-every'], flags['audit-sample']) }),
  });
  if (flags.json)
    io.out(JSON.stringify({ listen: peer.listen, api: peer.api, fingerprint: peer.fingerprint }));
  else
    io.out(
      `PeerVault peer ${peer.fingerprint}\nblocks on ${peer.listen}, local API on ${peer.api}\nPress Ctrl-C to stop.`,
    );
  await new Promise<void>((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
  await peer.close();
  return 0;
}

export const peerCommand: Command = {
  name: 'peer',
  summary: 'run a peer (block storage and your agent)',
  help,
  run,
};

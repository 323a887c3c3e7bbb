/**
 * A network of real processes for end-to-end tests and benchmarks: one `peervault directory`
 * and N `peervault peer`s on 127.0.0.1 with fresh data directories, users registered at the
 * directory, and logins at a peer's local API.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { DirectoryClient } from '../../src/client/directory-client.js';
import type { AlertOptions, AllowedAlerts } from './alerts.js';
import { type RunningProcess, startPeervault } from './processes.js';

/** A peer process and how to call its local API. */
export interface ProcessPeer {
  proc: RunningProcess<{ listen: string; api: string; fingerprint: string }>;
  /** Its data directory. */
  data: string;
  /** Its local API token (from `data/api-token`). */
  token: string;
  /** The local API URL of `path`. */
  url(path: string): string;
  /** The headers every local API call needs, with a user's session token when given. */
  headers(session?: string): Record<string, string>;
  /** Logs `user` in at this peer; returns the session token. */
  login(user: string, password: string): Promise<string>;
}

/** The network. */
export interface ProcessNetwork {
  directory: RunningProcess<{ url: string; fingerprint: string }>;
  peers: ProcessPeer[];
  /** Starts one more peer in the network (with its own extra arguments). */
  addPeer(extraArgs?: readonly string[], env?: NodeJS.ProcessEnv): Promise<ProcessPeer>;
  /** Registers a user at the directory (through a pinned client). */
  register(user: string, password: string): Promise<void>;
  /** Allows these alerts too, from the test that triggers them (test/helpers/alerts.ts). */
  allowAlerts(allowed: AllowedAlerts): void;
  /**
   * Stops every process and removes the data directories; then fails if the directory raised
   * an alert the test did not allow (test/helpers/alerts.ts).
   */
  close(): Promise<void>;
}

/**
 * Starts a directory and `peers` peer processes. The directory may raise no alert unless
 * `allowAlerts` names the rule.
 */
export async function startProcessNetwork(
  options: {
    peers: number;
    replicas?: number;
    capacity?: string;
    /** Extra arguments for `peervault directory`. */
    directoryArgs?: readonly string[];
    /** Extra arguments for every `peervault peer`. */
    peerArgs?: readonly string[];
  } & AlertOptions,
): Promise<ProcessNetwork> {
  const root = mkdtempSync(join(tmpdir(), 'pv-net-'));
  const directory = await startPeervault<{ url: string; fingerprint: string }>(
    [
      'directory',
      '--data',
      join(root, 'directory'),
      '--listen',
      '127.0.0.1:0',
      ...(options.directoryArgs ?? []),
      '--json',
    ],
    20_000,
    {},
    undefined,
    { allowAlerts: options.allowAlerts },
  );
  const pin = `${directory.ready.url}#${directory.ready.fingerprint}`;
  const peers: ProcessPeer[] = [];
  const addPeer = async (
    extraArgs: readonly string[] = [],
    env: NodeJS.ProcessEnv = {},
  ): Promise<ProcessPeer> => {
    const data = join(root, `peer-${peers.length}`);
    const proc = await startPeervault<{ listen: string; api: string; fingerprint: string }>(
      [
        'peer',
        '--directory',
        pin,
        '--data',
        data,
        '--listen',
        '127.0.0.1:0',
        '--api',
        '127.0.0.1:0',
        '--capacity',
        options.capacity ?? '1G',
        ...(options.replicas === undefined ? [] : ['--replicas', String(options.replicas)]),
        ...(options.peerArgs ?? []),
        ...extraArgs,
        '--json',
      ],
      20_000,
      env,
    );
    const token = readFileSync(join(data, 'api-token'), 'utf8').trim();
    const peer: ProcessPeer = {
      proc,
      data,
      token,
      url: (path) => proc.ready.api + path,
      headers: (session) => ({
        authorization: `Bearer ${token}`,
        ...(session ? { 'x-peervault-session': session } : {}),
      }),
      async login(user, password) {
        const res = await request(peer.url('/v1/login'), {
          method: 'POST',
          headers: { ...peer.headers(), 'content-type': 'application/json' },
          body: JSON.stringify({ user, password }),
        });
        const body = (await res.body.json()) as { token?: string; message?: string };
        if (res.statusCode !== 200 || !body.token)
          throw new Error(`login failed: ${body.message ?? res.statusCode}`);
        return body.token;
      },
    };
    peers.push(peer);
    return peer;
  };
  for (let i = 0; i < options.peers; i++) await addPeer();
  return {
    directory,
    peers,
    addPeer,
    async register(user, password) {
      const client = await DirectoryClient.connect(directory.ready);
      try {
        await client.register(user, password);
      } finally {
        await client.close();
      }
    },
    allowAlerts: (allowed) => directory.allowAlerts(allowed),
    async close() {
      try {
        for (const peer of peers) await peer.proc.stop();
      } finally {
        try {
          await directory.stop(); // checks its alerts
        } finally {
          rmSync(root, { recursive: true, force: true });
        }
      }
    },
  };
}

/**
 * Users' agents in one process, for the client tests: a real directory over HTTPS (SQLite), a
 * network of real block peers over mutual TLS, and one logged-in `FileContext` per user whose
 * blocks go through a replicator to those peers.
 */
import type { DirectoryClient } from '../../src/client/directory-client.js';
import { type FileContext, readFile } from '../../src/client/files.js';
import type { DirectoryConfig } from '../../src/directory/config.js';
import type { PathName } from '../../src/interface/paths.js';
import { createReplicator } from '../../src/peer/replication.js';
import type { AlertOptions, AllowedAlerts } from './alerts.js';
import { type BlockNetwork, startBlockNetwork } from './block-network.js';
import { goodPassword, startTestDirectory, type TestDirectory } from './directory.js';

/** The running pieces and each user's agent context. */
export interface Agents<U extends string> {
  dir: TestDirectory;
  net: BlockNetwork;
  /** The one directory client every user's context shares. */
  client: DirectoryClient;
  ctx: Record<U, FileContext>;
  /** Allows these alerts too, from the test that triggers them (test/helpers/alerts.ts). */
  allowAlerts(allowed: AllowedAlerts): void;
  /** Stops the peers and the directory; fails on an undeclared alert (test/helpers/alerts.ts). */
  close(): Promise<void>;
}

/**
 * Registers and logs in `users` (passwords from {@link goodPassword}). The directory may raise
 * no alert unless `allowAlerts` names the rule.
 */
export async function startAgents<U extends string>(
  users: readonly U[],
  options: {
    peers?: number;
    replicas?: number;
    directory?: Partial<DirectoryConfig>;
  } & AlertOptions = {},
): Promise<Agents<U>> {
  const dir = await startTestDirectory('sqlite', options.directory, {
    allowAlerts: options.allowAlerts,
  });
  const net = await startBlockNetwork(options.peers ?? 3);
  const client = await dir.client();
  const replicator = createReplicator({
    client: net.client,
    capability: net.capability,
    replicas: options.replicas ?? 2,
  });
  const live = () => net.peers.map((peer) => peer.address);
  const blocks: FileContext['blocks'] = {
    putBlock: async (_file, id, parts) => void (await replicator.putBlock(id, parts, live())),
    getBlock: (_file, id) => replicator.getBlock(id, live()),
  };
  const ctx = {} as Record<U, FileContext>;
  for (const user of users) {
    await client.register(user, goodPassword(user));
    ctx[user] = {
      directory: client,
      session: await client.login(user, goodPassword(user)),
      blocks,
    };
  }
  return {
    dir,
    net,
    client,
    ctx,
    allowAlerts: (allowed) => dir.allowAlerts(allowed),
    async close() {
      try {
        await net.close();
      } finally {
        await dir.stop();
      }
    },
  };
}

/** A content source of one piece. */
// eslint-disable-next-line @typescript-eslint/require-await -- a source with nothing to wait for
export async function* bytesOf(text: string): AsyncIterable<Uint8Array> {
  yield Buffer.from(text);
}

/** A file (or one of its versions) read back whole, as text. */
export async function textOf(ctx: FileContext, path: PathName, version?: number): Promise<string> {
  const file = await readFile(ctx, path, version === undefined ? {} : { version });
  const parts: Uint8Array[] = [];
  for await (const part of file.content) parts.push(part);
  return Buffer.concat(parts).toString();
}

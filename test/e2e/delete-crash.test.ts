/**
 * A crash while a delete is in flight loses nothing (issue 7, "Must hold"): real processes, a
 * directory and three peers; alice's one-shot `peervault rm FILE` runs through peer 0 (her
 * agent), and the directory and peer 0 are killed with SIGKILL at a spread of moments while it
 * runs (from right after it is spawned to about when it would finish), and once after it has
 * said it was done. Both are started again on the same data; the file is then either still
 * live and byte-identical, or in alice's trash (always, once the delete was acknowledged), and
 * restoring it gives the same bytes back. Never gone.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalApi } from '../../src/cli/local-api.js';
import { saveSession } from '../../src/cli/session-options.js';
import { DirectoryClient } from '../../src/client/directory-client.js';
import { isFsError } from '../../src/interface/errors.js';
import { goodPassword } from '../helpers/directory.js';
import { readAll } from '../helpers/peer-files.js';
import { type RunningProcess, startPeervault } from '../helpers/processes.js';

const bin = fileURLToPath(new URL('../../bin/peervault.js', import.meta.url));

type PeerReady = { listen: string; api: string; fingerprint: string };

/** A port on 127.0.0.1 that is free now (the directory must come back on the same one). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return typeof address === 'object' && address !== null ? address.port : 0;
}

/** Spawns `peervault ...args`; resolves when it exits, with its exit code. */
function spawnPv(args: readonly string[]): { done: Promise<number | null>; kill(): void } {
  const child = spawn(process.execPath, [bin, ...args], {
    stdio: ['ignore', 'ignore', 'ignore'],
    env: { ...process.env, PEERVAULT_DEBUG: '' },
  });
  const done = new Promise<number | null>((resolve) => child.once('exit', resolve));
  return { done, kill: () => void child.kill('SIGKILL') };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('a crash of the directory and the agent while a delete is in flight', () => {
  let root: string;
  let port: number;
  let pin: string;
  let directory: RunningProcess<{ url: string; fingerprint: string }>;
  const peers: { data: string; proc: RunningProcess<PeerReady> }[] = [];
  const password = goodPassword('alice');

  const startDirectory = () =>
    startPeervault<{ url: string; fingerprint: string }>([
      'directory',
      '--data',
      join(root, 'directory'),
      '--listen',
      `127.0.0.1:${port}`,
      '--json',
    ]);
  const startPeer = (data: string) =>
    startPeervault<PeerReady>([
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
      '256M',
      '--json',
    ]);

  /** Alice logged in at peer 0 (its API as it is now), the session saved for one-shot commands. */
  const aliceAtAgent = async (): Promise<LocalApi> => {
    const agent = peers[0]!;
    const token = readFileSync(join(agent.data, 'api-token'), 'utf8').trim();
    const api = new LocalApi({ url: agent.proc.ready.api, token });
    const session = await api.login('alice', password);
    saveSession(agent.data, session);
    return api;
  };

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'pv-crash-'));
    port = await freePort();
    directory = await startDirectory();
    pin = `${directory.ready.url}#${directory.ready.fingerprint}`;
    for (let i = 0; i < 3; i++) {
      const data = join(root, `peer-${i}`);
      peers.push({ data, proc: await startPeer(data) });
    }
    const client = await DirectoryClient.connect(directory.ready);
    try {
      await client.register('alice', password);
    } finally {
      await client.close();
    }
  }, 60_000);

  afterAll(async () => {
    for (const peer of peers) await peer.proc.stop();
    await directory?.stop();
    if (root) rmSync(root, { recursive: true, force: true });
  });

  it('leaves the file live or in the trash, byte-identical, never gone', async () => {
    let api = await aliceAtAgent();
    const rm = (name: string) => spawnPv(['rm', name, '--peer', peers[0]!.data]);

    // How long an undisturbed `rm` takes, from spawn to exit: the window the kills spread over.
    const baseline = randomBytes(1024);
    await api.writeFile('/alice/baseline.bin', baseline);
    const started = Date.now();
    expect(await rm('baseline.bin').done).toBe(0);
    const window = Date.now() - started;

    // Kills at fractions of that window, then one after `rm` said it was done (its delete must
    // survive: in the trash, not live).
    const moments = [0, 0.5, 0.7, 0.8, 0.9, 1.1, 'after exit'] as const;
    const outcomes: string[] = [];
    for (const moment of moments) {
      const name = `crash-${outcomes.length}.bin`;
      const path = `/alice/${name}`;
      const content = randomBytes(200 * 1024 + outcomes.length);
      await api.writeFile(path, content);

      const run = rm(name);
      if (moment === 'after exit') expect(await run.done).toBe(0);
      else await sleep(Math.round(window * moment));
      await Promise.all([directory.kill(), peers[0]!.proc.kill()]);
      // Without its peer the command fails (or finished just before): either way it ends.
      const ended = await Promise.race([
        run.done.then(() => true),
        sleep(15_000).then(() => false),
      ]);
      if (!ended) run.kill();

      directory = await startDirectory();
      peers[0]!.proc = await startPeer(peers[0]!.data);
      api = await aliceAtAgent();

      let live: Buffer | undefined;
      try {
        live = await readAll(api, path);
      } catch (err) {
        if (!isFsError(err, 'not-exist')) throw err;
      }
      if (live !== undefined) {
        expect(moment, `${name} is live after an acknowledged delete`).not.toBe('after exit');
        expect(live.equals(content), `${name} reads back changed`).toBe(true);
        outcomes.push('live');
        continue;
      }
      const trash = await api.trash();
      expect(
        trash.map((item) => item.path),
        `${name} is neither live nor in the trash`,
      ).toContain(path);
      await api.restore(path);
      expect((await readAll(api, path)).equals(content), `${name} restored changed`).toBe(true);
      outcomes.push('trash');
    }
    expect(outcomes).toHaveLength(moments.length);
  }, 120_000);
});

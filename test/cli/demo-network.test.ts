/**
 * The demo network in-process: it claims its directory, records where it listens, reuses those
 * ports on a restart (and falls back to free ones when they are taken), and cleans up after
 * itself and after a failed start.
 */
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type DemoNetwork, startDemoNetwork } from '../../src/cli/demo-network.js';
import { readDemoState } from '../../src/cli/locate-peer.js';
import { AlertAllowance, checkStoppedDirectory, throwFirst } from '../helpers/alerts.js';
import { expectKindAsync } from '../helpers/expect-error.js';

const portOf = (url: string) => Number(/:(\d+)$/.exec(url)![1]);

function occupy(port: number): Promise<Server> {
  const server = createServer();
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

describe('demo network', () => {
  let dir: string;
  let network: DemoNetwork | undefined;
  const events: Record<string, unknown>[] = [];
  const start = async (peers = 2) => {
    network = await startDemoNetwork({ dir, peers, log: (e) => events.push(e) });
    return network;
  };
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'pv-demo-net-'));
  });
  afterEach(async () => {
    await network?.close();
    network = undefined;
    // Quiet by default (test/helpers/alerts.ts): the demo's directory raised no alert.
    const undeclared = existsSync(join(dir, 'directory', 'directory.db'))
      ? await checkStoppedDirectory(
          { dataDir: join(dir, 'directory'), database: '' },
          new AlertAllowance(),
          'the demo directory',
        )
      : undefined;
    rmSync(dir, { recursive: true, force: true });
    throwFirst(undeclared);
  });

  it('records where it listens in demo.json (0600) and holds demo.pid while running', async () => {
    const { state } = await start();
    expect(readDemoState(dir)).toEqual(state);
    expect(statSync(join(dir, 'demo.json')).mode & 0o777).toBe(0o600);
    expect(state.peers.map((p) => p.data)).toEqual([join(dir, 'peer-1'), join(dir, 'peer-2')]);
    for (const peer of state.peers) {
      const info = JSON.parse(readFileSync(join(peer.data, 'api.json'), 'utf8')) as {
        api: string;
      };
      expect(info.api).toBe(peer.api);
    }
    expect(readFileSync(join(dir, 'demo.pid'), 'utf8').trim()).toBe(String(process.pid));
    await network!.close();
    await network!.close(); // idempotent
    expect(existsSync(join(dir, 'demo.pid'))).toBe(false);
    expect(readDemoState(dir)).toEqual(state); // kept: it says where things were
  });

  it('refuses a second network on the same directory while the first runs', async () => {
    await start();
    // This process holds demo.pid; a different live process (our parent) stands in for it.
    writeFileSync(join(dir, 'demo.pid'), `${process.ppid}\n`);
    await expectKindAsync('exist', startDemoNetwork({ dir, peers: 1, log: () => undefined }));
  });

  it('takes over a demo.pid left by a process that died', async () => {
    writeFileSync(join(dir, 'demo.pid'), '999999999\n');
    const { state } = await start(1);
    expect(state.peers).toHaveLength(1);
  });

  it('stops what it started when a peer fails to start, so a fixed retry works', async () => {
    mkdirSync(join(dir, 'peer-2'), { recursive: true, mode: 0o700 });
    writeFileSync(join(dir, 'peer-2', 'api-token'), 'token\n', { mode: 0o644 });
    await expectKindAsync('permission', start());
    network = undefined;
    expect(existsSync(join(dir, 'demo.pid'))).toBe(false);
    chmodSync(join(dir, 'peer-2', 'api-token'), 0o600);
    expect((await start()).state.peers).toHaveLength(2);
  });

  it('comes back on the same ports and fingerprint, or free ones when they are taken', async () => {
    const first = (await start()).state;
    await network!.close();
    const again = (await start()).state;
    expect(again).toEqual(first);
    await network!.close();
    const blocker = await occupy(portOf(first.directory));
    try {
      const moved = (await start()).state;
      expect(moved.fingerprint).toBe(first.fingerprint);
      expect(moved.directory).not.toBe(first.directory);
      expect(moved.peers).toEqual(first.peers);
    } finally {
      blocker.close();
    }
  });
});

/**
 * `peervault demo --no-shell` as a real process: one JSON line says where the network is; the
 * accounts exist with strong passwords kept 0600; every peer's local API answers and a file
 * written through one peer reads back through another; SIGTERM stops it cleanly; a restart on
 * the same directory brings back the same directory identity, accounts and files; without
 * --no-shell the shell opens as alice; a second demo on a busy directory and a bad --peers are
 * refused plainly.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalApi } from '../../src/cli/local-api.js';
import { readDemoState, type DemoState } from '../../src/cli/locate-peer.js';
import { checkPasswordStrength } from '../../src/client/password-policy.js';
import { type RunningProcess, startPeervault } from '../helpers/processes.js';

/** Under load on two cores a first start (three OPAQUE registrations) can take several seconds. */
const startTimeoutMs = 45_000;

const bin = fileURLToPath(new URL('../../bin/peervault.js', import.meta.url));

interface Accounts {
  accounts: { user: string; password: string }[];
}

function apiOf(state: DemoState, i: number): LocalApi {
  const peer = state.peers[i]!;
  const token = readFileSync(join(peer.data, 'api-token'), 'utf8').trim();
  return new LocalApi({ url: peer.api, token });
}

async function startDemo(dir: string): Promise<{ demo: RunningProcess<DemoState>; ms: number }> {
  const started = performance.now();
  const demo = await startPeervault<DemoState>(
    ['demo', '--no-shell', '--data', dir],
    startTimeoutMs,
  );
  return { demo, ms: Math.round(performance.now() - started) };
}

describe('peervault demo', () => {
  let dir: string;
  let demo: RunningProcess<DemoState> | undefined;
  let accounts: Accounts;
  const password = (user: string) => accounts.accounts.find((a) => a.user === user)!.password;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'pv-demo-'));
  });
  afterAll(async () => {
    await demo?.kill();
    rmSync(dir, { recursive: true, force: true });
  });

  it('prints one JSON line saying where the directory, the peers and the accounts are', async () => {
    const first = await startDemo(dir);
    demo = first.demo;
    console.log(`demo first start: ${first.ms} ms to the JSON line`);
    const state = demo.ready;
    expect(state.directory).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(state.fingerprint).toMatch(/^[0-9A-Z]{4}(-[0-9A-Z]{4}){7}$/);
    expect(state.peers).toHaveLength(3);
    for (const [i, peer] of state.peers.entries()) {
      expect(peer.api).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect(peer.listen).toMatch(/^127\.0\.0\.1:\d+$/);
      expect(peer.data).toBe(join(dir, `peer-${i + 1}`));
    }
    expect(state.accounts).toBe(join(dir, 'accounts.json'));
    // The shell and one-shot commands find the network through demo.json.
    expect(readDemoState(dir)).toEqual(state);
  }, 60_000);

  it('keeps three strong passwords in accounts.json (0600) and shows them once', () => {
    const path = demo!.ready.accounts;
    expect(statSync(path).mode & 0o777).toBe(0o600);
    accounts = JSON.parse(readFileSync(path, 'utf8')) as Accounts;
    expect(accounts.accounts.map((a) => a.user)).toEqual(['alice', 'bob', 'carol']);
    for (const { user, password: pw } of accounts.accounts) {
      expect(() => checkPasswordStrength(pw, user)).not.toThrow();
      expect(demo!.stderr()).toContain(pw);
    }
    expect(new Set(accounts.accounts.map((a) => a.password)).size).toBe(3);
  });

  it('serves every peer API; a file written through one peer reads back through another', async () => {
    const state = demo!.ready;
    for (let i = 0; i < state.peers.length; i++) {
      const status = await apiOf(state, i).status();
      expect(status.directory).toBe(state.fingerprint);
    }
    const writer = apiOf(state, 0);
    await writer.login('alice', password('alice'));
    await writer.mkdir('/alice/notes');
    await writer.writeFile('/alice/notes/hello.txt', Buffer.from('hello from the demo'));
    const reader = apiOf(state, 1);
    await reader.login('alice', password('alice'));
    expect(await reader.readText('/alice/notes/hello.txt')).toBe('hello from the demo');
    const bob = apiOf(state, 2);
    await bob.login('bob', password('bob'));
    expect((await bob.whoami()).user).toBe('bob');
  });

  it('refuses a second demo on the same directory while the first runs', () => {
    const run = spawnSync(process.execPath, [bin, 'demo', '--no-shell', '--data', dir], {
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(run.status).toBe(4);
    expect(run.stderr).toContain('another demo');
    expect(run.stdout).toBe('');
  });

  it('stops cleanly on SIGTERM', async () => {
    const started = performance.now();
    const code = await demo!.stop();
    expect(code).toBe(0);
    expect(performance.now() - started).toBeLessThan(5_000);
    expect(existsSync(join(dir, 'demo.pid'))).toBe(false);
    demo = undefined;
  });

  it('comes back on the same directory with the same identity, accounts and files', async () => {
    const before = readDemoState(dir)!;
    const again = await startDemo(dir);
    demo = again.demo;
    console.log(`demo restart: ${again.ms} ms to the JSON line`);
    const state = demo.ready;
    expect(state.fingerprint).toBe(before.fingerprint);
    expect(JSON.parse(readFileSync(state.accounts, 'utf8'))).toEqual(accounts);
    // No new passwords, and none printed again.
    for (const { password: pw } of accounts.accounts) expect(demo.stderr()).not.toContain(pw);
    expect(demo.stderr()).toContain(state.accounts);
    const api = apiOf(state, 2);
    await api.login('alice', password('alice'));
    expect(await api.readText('/alice/notes/hello.txt')).toBe('hello from the demo');
    expect(await demo.stop()).toBe(0);
    demo = undefined;
  }, 60_000);

  it('without --no-shell, opens the shell as alice and stops the network when it ends', async () => {
    await demo?.stop(); // left running only if an earlier test failed
    demo = undefined;
    const run = spawnSync(process.execPath, [bin, 'demo', '--data', dir], {
      input: 'ls\nread /alice/notes/hello.txt\nquit\n',
      encoding: 'utf8',
      timeout: startTimeoutMs,
    });
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    expect(run.stdout).toContain('PeerVault demo network is running');
    expect(run.stdout).toContain('notes/');
    expect(run.stdout).toContain('hello from the demo');
    expect(existsSync(join(dir, 'demo.pid'))).toBe(false);
  }, 60_000);

  it('refuses --peers 0 and --peers x with a clear message and exit code 2', () => {
    for (const bad of ['0', 'x', '10']) {
      const run = spawnSync(process.execPath, [bin, 'demo', '--no-shell', '--peers', bad], {
        encoding: 'utf8',
        timeout: 20_000,
      });
      expect(run.status).toBe(2);
      expect(run.stderr).toContain(`--peers is a whole number from 1 to 9, not "${bad}"`);
      expect(run.stderr).not.toMatch(/\n\s+at /);
      expect(run.stdout).toBe('');
    }
  });
});

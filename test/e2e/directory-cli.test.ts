/**
 * `peervault directory` as a user runs it: init prints a fingerprint and makes 0600 key files;
 * serving prints the address and the same fingerprint; invite codes work once; bad flags get a
 * clear message and no stack trace.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { DirectoryClient } from '../../src/client/directory-client.js';
import { routes } from '../../src/wire/directory-api.js';
import { goodPassword } from '../helpers/directory.js';
import { expectKindAsync } from '../helpers/expect-error.js';
import { startPeervault } from '../helpers/processes.js';

const bin = fileURLToPath(new URL('../../bin/peervault.js', import.meta.url));
const run = (...args: string[]) =>
  spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', timeout: 30_000 });

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  // Every cleanup runs even when one fails (a directory's stop fails on an undeclared alert).
  const failures: unknown[] = [];
  for (const cleanup of cleanups.splice(0).reverse()) {
    try {
      await cleanup();
    } catch (err) {
      failures.push(err);
    }
  }
  if (failures.length > 0) throw failures[0];
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'pv-cli-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

describe('peervault directory', () => {
  it('init makes private key files and prints a stable fingerprint that serving repeats', async () => {
    const data = join(tempDir(), 'dir');
    const first = run('directory', 'init', '--data', data, '--json');
    expect(first.status).toBe(0);
    const { fingerprint, created } = JSON.parse(first.stdout) as {
      fingerprint: string;
      created: boolean;
    };
    expect(created).toBe(true);
    expect(fingerprint).toMatch(/^([0-9A-Z]{4}-){7}[0-9A-Z]{4}$/);
    for (const file of ['identity.key', 'opaque-setup.key'])
      expect(statSync(join(data, file)).mode & 0o777).toBe(0o600);
    expect(statSync(data).mode & 0o777).toBe(0o700);
    const again = JSON.parse(run('directory', 'init', '--data', data, '--json').stdout) as {
      fingerprint: string;
      created: boolean;
    };
    expect(again).toMatchObject({ fingerprint, created: false });

    const served = await startPeervault<{ url: string; fingerprint: string }>([
      'directory',
      '--data',
      data,
      '--listen',
      '127.0.0.1:0',
      '--json',
    ]);
    cleanups.push(() => served.stop());
    expect(served.ready.fingerprint).toBe(fingerprint);
    expect(served.ready.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
  });

  it('invite-only registration: a code from `directory invite` works once', async () => {
    const data = join(tempDir(), 'dir');
    const served = await startPeervault<{ url: string; fingerprint: string }>([
      'directory',
      '--data',
      data,
      '--listen',
      '127.0.0.1:0',
      '--registration',
      'invite',
      '--json',
    ]);
    cleanups.push(() => served.stop());
    const invite = run('directory', 'invite', '--data', data);
    expect(invite.status).toBe(0);
    const code = invite.stdout.trim();
    const client = await DirectoryClient.connect(served.ready);
    cleanups.push(() => client.close());
    await client.register('alice', goodPassword('alice'), { invite: code });
    await expectKindAsync('invalid', client.register('bob', goodPassword('bob'), { invite: code }));
  });

  it('refuses bad flags and a busy port with a clear message, an exit code and no stack trace', async () => {
    const data = join(tempDir(), 'dir');
    const badFlag = run('directory', '--data', data, '--frobnicate');
    expect(badFlag.status).toBe(2);
    expect(badFlag.stderr).toContain('frobnicate');
    const badMode = run('directory', '--data', data, '--registration', 'sometimes');
    expect(badMode.status).toBe(2);
    expect(badMode.stderr).toContain('--registration');
    const served = await startPeervault<{ url: string }>([
      'directory',
      '--data',
      data,
      '--listen',
      '127.0.0.1:0',
      '--json',
    ]);
    cleanups.push(() => served.stop());
    const port = new URL(served.ready.url).port;
    const busy = run(
      'directory',
      '--data',
      join(tempDir(), 'other'),
      '--listen',
      `127.0.0.1:${port}`,
    );
    expect(busy.status).toBe(13);
    expect(busy.stderr).toContain('already in use');
    for (const r of [badFlag, badMode, busy]) expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it('takes the rate limit, the monitor thresholds and the quarantine rule from flags', async () => {
    const data = join(tempDir(), 'dir');
    const typo = run('directory', '--data', data, '--monitor', 'guesFailures=50');
    expect(typo.status).toBe(2);
    expect(typo.stderr).toContain('unknown name "guesFailures"');
    expect(typo.stderr).toContain('guessFailures');
    const badWindow = run('directory', '--data', data, '--monitor', 'burstWindow=5');
    expect(badWindow.status).toBe(2);
    expect(badWindow.stderr).toContain('burstWindow');
    const badQuarantine = run('directory', '--data', data, '--quarantine', '3');
    expect(badQuarantine.status).toBe(2);
    const badCheckpoints = [
      run('directory', '--data', data, '--checkpoint', '100'),
      run('directory', '--data', data, '--checkpoint', '0,60s'),
      run('directory', '--data', data, '--checkpoint', '100,10ms'),
    ];
    for (const r of badCheckpoints) {
      expect(r.status).toBe(2);
      expect(r.stderr).toContain('--checkpoint');
    }
    const badSelfCheck = run('directory', '--data', data, '--self-check', '10ms');
    expect(badSelfCheck.status).toBe(2);
    expect(badSelfCheck.stderr).toContain('--self-check');
    badCheckpoints.push(badSelfCheck);
    for (const r of [typo, badWindow, badQuarantine, ...badCheckpoints])
      expect(r.stderr).not.toMatch(/\n\s+at /);

    const served = await startPeervault<{ url: string; fingerprint: string }>([
      'directory',
      '--data',
      data,
      '--listen',
      '127.0.0.1:0',
      '--rate-limit',
      '5',
      '--monitor',
      'guessFailures=50,burstWindow=10m',
      '--quarantine',
      '4,1',
      '--json',
    ]);
    cleanups.push(() => served.stop());
    // A client that never waits sees the limit (5 a second, a burst of 10)...
    const impatient = await DirectoryClient.connect(served.ready, { rateLimitRetryMs: 0 });
    cleanups.push(() => impatient.close());
    const answers = await Promise.allSettled(
      Array.from({ length: 30 }, () => impatient.call('GET', routes.info)),
    );
    const refused = answers.filter((a) => a.status === 'rejected');
    expect(refused.length).toBeGreaterThan(0);
    expect(answers.length - refused.length).toBeLessThanOrEqual(10);
    expect(refused[0]).toMatchObject({ reason: { kind: 'throttled', op: 'request' } });
    // ...and one that does (the default) gets every answer, paced by the limit.
    await new Promise((resolve) => setTimeout(resolve, 2_000)); // the bucket refills
    const patient = await DirectoryClient.connect(served.ready);
    cleanups.push(() => patient.close());
    const started = Date.now();
    const paced = await Promise.allSettled(
      Array.from({ length: 30 }, () => patient.call('GET', routes.info)),
    );
    expect(paced.filter((a) => a.status === 'rejected')).toEqual([]);
    expect(Date.now() - started).toBeGreaterThan(2_000); // 20 beyond the burst, at 5 a second
  });
});

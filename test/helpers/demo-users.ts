/**
 * The demo network as the e2e tests of the front ends use it: `peervault demo --no-shell` in a
 * fresh directory with alice, bob and carol (their passwords from accounts.json), more users
 * registered with `peervault register`, and every step run as a real `peervault` process found
 * through ./.peervault/demo like a new user would.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';
import type { AlertOptions, AllowedAlerts } from './alerts.js';
import { goodPassword } from './directory.js';
import { startPeervault } from './processes.js';

const bin = fileURLToPath(new URL('../../bin/peervault.js', import.meta.url));

/** How a `peervault` process ended. */
export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `peervault ...args` in `cwd` with `input` on standard input. */
export function runPeervault(cwd: string, args: readonly string[], input = ''): Promise<Run> {
  const child = spawn(process.execPath, [bin, ...args], {
    cwd,
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, PEERVAULT_DEBUG: '' },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  child.stdin.end(input);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`peervault ${args.join(' ')} did not finish: ${stdout}\n${stderr}`));
    }, 60_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Asserts that `text` holds no stack trace. */
export const noStack = (text: string) => expect(text).not.toMatch(/\n\s+at /);

/** A running demo network and its users. */
export interface DemoUsers {
  /** Where the demo runs (its data in ./.peervault/demo). */
  cwd: string;
  passwords: Record<string, string>;
  /** The shell as `user` over a pipe: the password, then `lines`. */
  shell(user: string, lines: readonly string[]): Promise<Run>;
  /** A one-shot command as `user`, logged in for that command only. */
  as(user: string, args: readonly string[]): Promise<Run>;
  /** Allows these alerts too, from the test that triggers them (test/helpers/alerts.ts). */
  allowAlerts(allowed: AllowedAlerts): void;
  /**
   * Stops the demo and removes its directory; then fails if its directory raised an alert the
   * test did not allow (test/helpers/alerts.ts).
   */
  stop(): Promise<void>;
}

/**
 * Starts a demo in a new directory named from `prefix`, registering `extra` users too. Its
 * directory may raise no alert unless `options.allowAlerts` names the rule.
 */
export async function startDemoUsers(
  prefix: string,
  extra: readonly string[] = ['dave'],
  options: AlertOptions = {},
): Promise<DemoUsers> {
  const cwd = mkdtempSync(join(tmpdir(), prefix));
  const demo = await startPeervault<{ accounts: string }>(
    ['demo', '--no-shell'],
    30_000,
    {},
    cwd,
    options,
  );
  const accounts = JSON.parse(readFileSync(demo.ready.accounts, 'utf8')) as {
    accounts: { user: string; password: string }[];
  };
  const passwords: Record<string, string> = {};
  for (const { user, password } of accounts.accounts) passwords[user] = password;
  for (const user of extra) {
    passwords[user] = goodPassword(user);
    const registered = await runPeervault(
      cwd,
      ['register', '--user', user, '--password-stdin'],
      `${passwords[user]}\n`,
    );
    expect(registered.code, registered.stderr).toBe(0);
  }
  return {
    cwd,
    passwords,
    shell: (user, lines) =>
      runPeervault(
        cwd,
        ['shell', '--user', user, '--password-stdin'],
        [passwords[user]!, ...lines].map((line) => `${line}\n`).join(''),
      ),
    as: (user, args) =>
      runPeervault(cwd, [...args, '--user', user, '--password-stdin'], `${passwords[user]!}\n`),
    allowAlerts: (allowed) => demo.allowAlerts(allowed),
    async stop() {
      try {
        await demo.stop(); // checks its directory's alerts
      } finally {
        rmSync(cwd, { recursive: true, force: true });
      }
    },
  };
}

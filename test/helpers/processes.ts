/**
 * Real `peervault` processes for end-to-end tests: spawn, wait for the JSON line that says
 * they are ready, kill (politely or with SIGKILL), and fresh PostgreSQL databases for them.
 *
 * A directory process (`peervault directory`, or the one inside `peervault demo`) is checked
 * each time it has stopped: its database may hold no alert the test did not allow
 * (test/helpers/alerts.ts).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import {
  AlertAllowance,
  type AlertOptions,
  type AllowedAlerts,
  checkStoppedDirectory,
  type DirectoryStoreLocation,
} from './alerts.js';
import { postgresUrl } from './directory.js';

const bin = fileURLToPath(new URL('../../bin/peervault.js', import.meta.url));

/** A running `peervault` process and the JSON line it printed when ready. */
export interface RunningProcess<T> {
  child: ChildProcess;
  ready: T;
  stderr: () => string;
  /**
   * Waits until stderr holds `text`. A process logs an event as it answers, but the log line
   * travels through a pipe and may arrive after the answer did over the socket, so a test
   * checking the log right after the answer must wait for it. @throws after `timeoutMs`
   */
  logged(text: string, timeoutMs?: number): Promise<void>;
  /**
   * For a directory (or demo) process, allows these alerts too, from the test that triggers
   * them; nothing for other processes.
   */
  allowAlerts(allowed: AllowedAlerts): void;
  /**
   * SIGTERM and wait for exit. A directory's database is then checked: fails on an alert the
   * test did not allow.
   */
  stop(): Promise<number | null>;
  /** SIGKILL: no chance to flush or clean up. Checked like {@link stop}. */
  kill(): Promise<void>;
}

/** The value of `--name VALUE` or `--name=VALUE` in `args`. */
function flag(args: readonly string[], name: string): string | undefined {
  for (let i = 0; i < args.length; i++) {
    if (args[i] === `--${name}`) return args[i + 1];
    if (args[i]!.startsWith(`--${name}=`)) return args[i]!.slice(name.length + 3);
  }
  return undefined;
}

/**
 * Where the directory that `peervault ...args` runs keeps its store (as src/cli/commands/
 * directory.ts and demo.ts choose it), or undefined when the command runs no directory.
 */
function directoryStoreOf(
  args: readonly string[],
  ready: unknown,
  env: NodeJS.ProcessEnv,
  cwd: string,
): DirectoryStoreLocation | undefined {
  const [command, sub] = args;
  if (command === 'directory' && (sub === undefined || sub.startsWith('-'))) {
    return {
      dataDir: resolve(cwd, flag(args, 'data') ?? './.peervault/directory'),
      database: flag(args, 'database') ?? env['DATABASE_URL'] ?? '',
    };
  }
  const accounts = (ready as { accounts?: unknown } | null)?.accounts;
  if (command === 'demo' && typeof accounts === 'string') {
    // The demo's state names DIR/accounts.json; its directory is DIR/directory, on SQLite.
    return { dataDir: join(dirname(resolve(cwd, accounts)), 'directory'), database: '' };
  }
  return undefined;
}

/**
 * Spawns `peervault ...args` and resolves with the first stdout line parsed as JSON. A
 * directory it runs may raise no alert unless `options.allowAlerts` names the rule.
 */
export function startPeervault<T>(
  args: string[],
  timeoutMs = 20_000,
  env: NodeJS.ProcessEnv = {},
  cwd?: string,
  options: AlertOptions = {},
): Promise<RunningProcess<T>> {
  const allowance = new AlertAllowance(options.allowAlerts);
  const child = spawn(process.execPath, [bin, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
    ...(cwd === undefined ? {} : { cwd }),
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => resolve(code)),
  );
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`peervault ${args.join(' ')} did not start in time: ${stderr}`));
    }, timeoutMs);
    const lines = createInterface({ input: child.stdout });
    lines.once('line', (line) => {
      clearTimeout(timer);
      try {
        const ready = JSON.parse(line) as T;
        const store = directoryStoreOf(args, ready, { ...process.env, ...env }, cwd ?? '.');
        const check = async () => {
          if (store === undefined) return;
          const where = `the database of \`peervault ${args.join(' ')}\``;
          const undeclared = await checkStoppedDirectory(store, allowance, where);
          if (undeclared) throw undeclared;
        };
        resolve({
          child,
          ready,
          stderr: () => stderr,
          async logged(text, timeoutMs = 5_000) {
            const deadline = Date.now() + timeoutMs;
            while (!stderr.includes(text)) {
              if (Date.now() > deadline)
                throw new Error(`not logged within ${timeoutMs} ms: ${text}\n${stderr}`);
              await new Promise((resolve) => setTimeout(resolve, 50));
            }
          },
          allowAlerts: (allowed) => allowance.allow(allowed),
          async stop() {
            child.kill('SIGTERM');
            const code = await exited;
            await check();
            return code;
          },
          async kill() {
            child.kill('SIGKILL');
            await exited;
            await check();
          },
        });
      } catch {
        reject(new Error(`unexpected first line from peervault: ${line}\n${stderr}`));
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`peervault ${args.join(' ')} exited with ${code}: ${stderr}`));
    });
  });
}

/** Creates a fresh PostgreSQL database; returns its URL and a function that drops it. */
export async function freshPostgresDatabase(): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `pv_e2e_${Math.random().toString(36).slice(2, 10)}`;
  const admin = new pg.Client({ connectionString: postgresUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = postgresUrl.replace(/\/[^/]*$/, `/${name}`);
  return {
    url,
    async drop() {
      const a = new pg.Client({ connectionString: postgresUrl });
      await a.connect();
      await a.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await a.end();
    },
  };
}

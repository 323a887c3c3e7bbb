/**
 * Real `peervault` processes for end-to-end tests: spawn, wait for the JSON line that says
 * they are ready, kill (politely or with SIGKILL), and fresh PostgreSQL databases for them.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { postgresUrl } from './directory.js';

const bin = fileURLToPath(new URL('../../bin/peervault.js', import.meta.url));

/** A running `peervault` process and the JSON line it printed when ready. */
export interface RunningProcess<T> {
  child: ChildProcess;
  ready: T;
  stderr: () => string;
  /** SIGTERM and wait for exit. */
  stop(): Promise<number | null>;
  /** SIGKILL: no chance to flush or clean up. */
  kill(): Promise<void>;
}

/** Spawns `peervault ...args` and resolves with the first stdout line parsed as JSON. */
export function startPeervault<T>(
  args: string[],
  timeoutMs = 20_000,
  env: NodeJS.ProcessEnv = {},
  cwd?: string,
): Promise<RunningProcess<T>> {
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
        resolve({
          child,
          ready: JSON.parse(line) as T,
          stderr: () => stderr,
          async stop() {
            child.kill('SIGTERM');
            return exited;
          },
          async kill() {
            child.kill('SIGKILL');
            await exited;
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

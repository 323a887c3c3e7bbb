/**
 * Builds a real directory for tests: HTTPS over TLS 1.3 on 127.0.0.1, a fresh data directory,
 * and a fresh database on either engine (SQLite file, or a throwaway PostgreSQL schema).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import type { DirectoryConfig } from '../../src/directory/config.js';
import { type RunningDirectory, startDirectory } from '../../src/directory/service.js';
import { openPostgresStore, openSqliteStore } from '../../src/directory/store/open-store.js';
import { DirectoryClient } from '../../src/client/directory-client.js';
import { AlertAllowance, type AlertOptions, type AllowedAlerts } from './alerts.js';

export type Engine = 'sqlite' | 'postgres';
export const engines: Engine[] = ['sqlite', 'postgres'];
export const postgresUrl =
  process.env['PEERVAULT_TEST_POSTGRES'] ?? 'postgres://postgres@127.0.0.1:5432/test';

/** A directory for one test file, and how to reach it. */
export interface TestDirectory {
  engine: Engine;
  running: RunningDirectory;
  dataDir: string;
  schema?: string;
  endpoint: { url: string; fingerprint: string };
  /** A new client, optionally connecting from another loopback address (another "source"). */
  client(localAddress?: string): Promise<DirectoryClient>;
  /** Allows these alerts too, from the test that triggers them (test/helpers/alerts.ts). */
  allowAlerts(allowed: AllowedAlerts): void;
  /**
   * Stops the directory and removes its data; then fails if it raised an alert the test did
   * not allow (quiet by default, test/helpers/alerts.ts).
   */
  stop(): Promise<void>;
}

/**
 * Starts a directory over `engine` with optional config overrides. It may raise no alert
 * unless `options.allowAlerts` (or {@link TestDirectory.allowAlerts}) names the rule.
 */
export async function startTestDirectory(
  engine: Engine,
  config: Partial<DirectoryConfig> = {},
  options: AlertOptions = {},
): Promise<TestDirectory> {
  const allowance = new AlertAllowance(options.allowAlerts);
  const dataDir = mkdtempSync(join(tmpdir(), 'pv-dir-'));
  const schema = `pv_test_${Math.random().toString(36).slice(2, 10)}`;
  const store =
    engine === 'sqlite'
      ? await openSqliteStore(join(dataDir, 'directory.db'))
      : await openPostgresStore(postgresUrl, { schema });
  const running = await startDirectory({ dataDir, listen: '127.0.0.1:0', store, config });
  const clients: DirectoryClient[] = [];
  return {
    engine,
    running,
    dataDir,
    ...(engine === 'postgres' ? { schema } : {}),
    endpoint: { url: running.url, fingerprint: running.fingerprint },
    async client(localAddress) {
      const client = await DirectoryClient.connect({
        url: running.url,
        fingerprint: running.fingerprint,
        ...(localAddress === undefined ? {} : { localAddress }),
      });
      clients.push(client);
      return client;
    },
    allowAlerts: (allowed) => allowance.allow(allowed),
    async stop() {
      let undeclared: Error | undefined;
      try {
        undeclared = await allowance.check(running.store, `the test directory (${engine})`);
      } finally {
        await Promise.all(clients.map((c) => c.close()));
        await running.close();
        if (engine === 'postgres') {
          const admin = new pg.Client({ connectionString: postgresUrl });
          await admin.connect();
          await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
          await admin.end();
        }
        rmSync(dataDir, { recursive: true, force: true });
      }
      if (undeclared) throw undeclared;
    },
  };
}

/** A password that passes the strength policy. */
export const goodPassword = (user: string) => `${user} rides a purple tandem to Reykjavik`;

/**
 * Runs `statement` on a test directory's database behind its back, as an intruder with access
 * to the database would (SQLite file or PostgreSQL schema; plain SQL both engines take).
 */
export async function editDatabase(dir: TestDirectory, statement: string): Promise<void> {
  if (dir.engine === 'sqlite') {
    const db = new Database(join(dir.dataDir, 'directory.db'));
    try {
      db.prepare(statement).run();
    } finally {
      db.close();
    }
    return;
  }
  const db = new pg.Client({ connectionString: postgresUrl });
  await db.connect();
  try {
    await db.query(`SET search_path TO ${dir.schema!}`);
    await db.query(statement);
  } finally {
    await db.end();
  }
}

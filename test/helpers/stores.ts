/**
 * Databases for store tests, on either engine: SQLite files in a temporary directory, or
 * throwaway PostgreSQL schemas (`pv_test_<random>`) in the test database. Everything made is
 * removed by `cleanup()`, so a run leaves nothing behind and the next run starts clean.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import { Kysely, PostgresDialect, SqliteDialect } from 'kysely';
import pg from 'pg';
import type { StoreEngine } from '../../src/directory/store/migrations.js';
import { openPostgresStore, openSqliteStore } from '../../src/directory/store/open-store.js';
import type { Database } from '../../src/directory/store/schema.js';
import type { DirectoryStore } from '../../src/interface/directory-store.js';

/** The PostgreSQL the tests use (trust auth); CI runs one here. */
export const testPostgresUrl =
  process.env['PEERVAULT_TEST_POSTGRES'] ?? 'postgres://postgres@127.0.0.1:5432/test';

/** Both engines, for `describe.each`. */
export const storeEngines: readonly StoreEngine[] = ['sqlite', 'postgres'];

/** Where a test database is, for a child process to open it too. */
export type TestDatabaseTarget =
  { engine: 'sqlite'; file: string } | { engine: 'postgres'; url: string; schema: string };

/** One database: every `open()` gives a separate store instance with its own connections. */
export interface TestDatabase {
  readonly target: TestDatabaseTarget;
  open(): Promise<DirectoryStore>;
  /** A bare Kysely over this database (not migrated by this call), closed by `cleanup()`. */
  kysely(): Kysely<Database>;
}

/** Databases for one test file on one engine. */
export interface StoreHarness {
  readonly engine: StoreEngine;
  /** The database shared by the file's tests (they keep apart by using fresh names). */
  readonly shared: TestDatabase;
  /** A new, empty database (not yet migrated). */
  fresh(): TestDatabase;
  /** Closes every store and Kysely opened, and removes every database made. */
  cleanup(): Promise<void>;
}

/** A harness for `engine`; call `cleanup()` in `afterAll`. */
export function storeHarness(engine: StoreEngine): StoreHarness {
  const closers: (() => Promise<void>)[] = [];
  const schemas: string[] = [];
  let dir: string | undefined;

  function sqliteDatabase(): TestDatabase {
    const name = `${randomBytes(4).toString('hex')}.db`;
    // The temporary directory is made on first use, not when the suite is collected: a run
    // that filters every test out then leaves nothing behind.
    const file = (): string => {
      dir ??= mkdtempSync(join(tmpdir(), 'pv-store-'));
      return join(dir, name);
    };
    return {
      get target() {
        return { engine: 'sqlite', file: file() } as const;
      },
      async open() {
        const store = await openSqliteStore(file());
        closers.push(() => store.close());
        return store;
      },
      kysely() {
        const db = new Kysely<Database>({
          dialect: new SqliteDialect({ database: new SqliteDatabase(file(), { timeout: 5000 }) }),
        });
        closers.push(() => db.destroy());
        return db;
      },
    };
  }

  function postgresDatabase(): TestDatabase {
    const schema = `pv_test_${randomBytes(5).toString('hex')}`;
    schemas.push(schema);
    return {
      target: { engine: 'postgres', url: testPostgresUrl, schema },
      async open() {
        const store = await openPostgresStore(testPostgresUrl, { schema, max: 3 });
        closers.push(() => store.close());
        return store;
      },
      kysely() {
        const pool = new pg.Pool({
          connectionString: testPostgresUrl,
          max: 2,
          options: `-c search_path=${schema}`,
        });
        const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
        closers.push(() => db.destroy());
        return db;
      },
    };
  }

  const fresh = engine === 'sqlite' ? sqliteDatabase : postgresDatabase;
  return {
    engine,
    shared: fresh(),
    fresh,
    async cleanup() {
      await Promise.all(closers.splice(0).map((close) => close()));
      if (schemas.length > 0) {
        const admin = new pg.Client({ connectionString: testPostgresUrl });
        await admin.connect();
        try {
          for (const schema of schemas.splice(0)) {
            await admin.query(`drop schema if exists ${schema} cascade`);
          }
        } finally {
          await admin.end();
        }
      }
      if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
    },
  };
}

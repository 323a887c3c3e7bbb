/**
 * Opening the directory's store on either engine: SQLite in a file (the default, one directory
 * process) or PostgreSQL (several directory processes over one database). Both return a store
 * that is migrated to the latest schema.
 */
import { closeSync, openSync, realpathSync } from 'node:fs';
import SqliteDatabase from 'better-sqlite3';
import {
  type DatabaseConnection,
  type Dialect,
  type Driver,
  Kysely,
  PostgresDialect,
  sql,
  SqliteDialect,
  type TransactionSettings,
} from 'kysely';
import pg from 'pg';
import type { DirectoryStore } from '../../interface/directory-store.js';
import { FsError } from '../../interface/errors.js';
import { createKyselyStore, toStoreError } from './kysely-store.js';
import type { Database } from './schema.js';

/** How long a statement waits for another connection's write lock before `unavailable`. */
const busyTimeoutMs = 5000;

/** A first-come, first-served async lock. */
class Mutex {
  #locked = false;
  readonly #waiters: (() => void)[] = [];

  async lock(): Promise<void> {
    if (!this.#locked) {
      this.#locked = true;
      return;
    }
    await new Promise<void>((resolve) => this.#waiters.push(resolve));
  }

  unlock(): void {
    const next = this.#waiters.shift();
    if (next === undefined) this.#locked = false;
    else next();
  }
}

/**
 * One lock per database file in this process, shared by every store opened on that file.
 *
 * better-sqlite3 is synchronous: a statement that finds the file locked by another connection
 * waits for it (busy_timeout) while blocking the event loop, so if that other connection
 * belongs to this process, the transaction holding the lock can never finish, and the wait
 * ends after busy_timeout in `unavailable`. Within one process, connections to one file
 * therefore take turns through this lock; between processes SQLite's own locks (BEGIN
 * IMMEDIATE, busy_timeout) do the work. Compare-and-swap and unique keys stay the database's.
 */
const fileLocks = new Map<string, Mutex>();

function fileLock(file: string): Mutex {
  const key = realpathSync(file);
  let lock = fileLocks.get(key);
  if (lock === undefined) {
    lock = new Mutex();
    fileLocks.set(key, lock);
  }
  return lock;
}

/** Kysely's SQLite driver with every connection use held under the file's lock. */
class FileLockedDriver implements Driver {
  readonly #inner: Driver;
  readonly #lock: Mutex;

  constructor(inner: Driver, lock: Mutex) {
    this.#inner = inner;
    this.#lock = lock;
  }

  init(): Promise<void> {
    return this.#inner.init();
  }

  async acquireConnection(): Promise<DatabaseConnection> {
    await this.#lock.lock();
    try {
      return await this.#inner.acquireConnection();
    } catch (err) {
      this.#lock.unlock();
      throw err;
    }
  }

  async releaseConnection(connection: DatabaseConnection): Promise<void> {
    try {
      await this.#inner.releaseConnection(connection);
    } finally {
      this.#lock.unlock();
    }
  }

  beginTransaction(connection: DatabaseConnection, settings: TransactionSettings): Promise<void> {
    return this.#inner.beginTransaction(connection, settings);
  }

  commitTransaction(connection: DatabaseConnection): Promise<void> {
    return this.#inner.commitTransaction(connection);
  }

  rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    return this.#inner.rollbackTransaction(connection);
  }

  destroy(): Promise<void> {
    return this.#inner.destroy();
  }
}

function fileLockedSqliteDialect(database: SqliteDatabase.Database, lock: Mutex): Dialect {
  const base = new SqliteDialect({ database });
  return {
    createAdapter: () => base.createAdapter(),
    createDriver: () => new FileLockedDriver(base.createDriver(), lock),
    createQueryCompiler: () => base.createQueryCompiler(),
    createIntrospector: (db) => base.createIntrospector(db),
  };
}

/**
 * Puts the database in WAL mode. Switching needs an exclusive lock, and SQLite reports a clash
 * on it at once (SQLITE_BUSY, or the old mode returned) rather than waiting out busy_timeout,
 * which happens when several processes open a new database together; so retry for as long
 * as busy_timeout would have waited. The mode is stored in the file: afterwards this is a read.
 */
async function enableWal(handle: SqliteDatabase.Database): Promise<void> {
  const deadline = Date.now() + busyTimeoutMs;
  for (;;) {
    try {
      if (handle.pragma('journal_mode', { simple: true }) === 'wal') return;
      if (handle.pragma('journal_mode = WAL', { simple: true }) === 'wal') return;
    } catch (err) {
      const busy = err instanceof Error && 'code' in err && err.code === 'SQLITE_BUSY';
      if (!busy) throw err;
    }
    if (Date.now() > deadline) {
      throw Object.assign(new Error('cannot switch to WAL'), { code: 'SQLITE_BUSY' });
    }
    await new Promise((resolve) => setTimeout(resolve, 5 + Math.random() * 20));
  }
}

async function migrated(store: DirectoryStore): Promise<DirectoryStore> {
  try {
    await store.migrate();
  } catch (err) {
    await store.close();
    throw err;
  }
  return store;
}

/**
 * Opens (creating it if missing, readable by its owner only) and migrates a SQLite store.
 *
 * Pragmas: WAL, so readers never wait for the writer; `synchronous=FULL`, so a write that was
 * acknowledged survives SIGKILL and power loss (WAL's default NORMAL may lose the last
 * transactions on power loss); foreign keys on (SQLite's default is off); a busy timeout, so
 * another process's write makes us wait instead of fail.
 * @throws FsError `unavailable` when the file cannot be opened.
 */
export async function openSqliteStore(file: string): Promise<DirectoryStore> {
  const op = 'store.open';
  let lock: Mutex;
  try {
    // Created 0600 before SQLite opens it: the file holds sealed keys and OPAQUE records, and
    // SQLite gives its -wal and -shm files the database file's permissions.
    closeSync(openSync(file, 'wx', 0o600));
  } catch (err) {
    if (!(err instanceof Error && 'code' in err && err.code === 'EEXIST')) {
      throw new FsError('unavailable', `${op}: the database file cannot be created`, { op });
    }
  }
  try {
    lock = fileLock(file);
  } catch {
    throw new FsError('unavailable', `${op}: the database file cannot be opened`, { op });
  }

  let handle: SqliteDatabase.Database | undefined;
  await lock.lock();
  try {
    handle = new SqliteDatabase(file, { timeout: busyTimeoutMs });
    await enableWal(handle);
    handle.pragma('synchronous = FULL');
    handle.pragma('foreign_keys = ON');
    handle.pragma(`busy_timeout = ${busyTimeoutMs}`);
  } catch (err) {
    handle?.close();
    throw toStoreError(err, op, 'unavailable');
  } finally {
    lock.unlock();
  }

  cacheStatements(handle);
  const db = new Kysely<Database>({ dialect: fileLockedSqliteDialect(handle, lock) });
  return migrated(createKyselyStore(db, 'sqlite'));
}

/** Statements kept prepared per connection (the store runs a few dozen distinct queries). */
const maxCachedStatements = 512;

/**
 * Keeps better-sqlite3 statements prepared, by SQL text: Kysely prepares every query anew, and
 * compiling the SQL cost more than running most of them (measured on small-file writes). Safe
 * because each connection is used by one query at a time (the file lock above) and the store
 * never streams, so a statement is never run while another run of it is still iterating.
 */
function cacheStatements(handle: SqliteDatabase.Database): void {
  const prepared = new Map<string, SqliteDatabase.Statement>();
  const prepare = handle.prepare.bind(handle);
  handle.prepare = ((source: string) => {
    let statement = prepared.get(source);
    if (statement === undefined) {
      statement = prepare(source);
      if (prepared.size >= maxCachedStatements) prepared.clear();
      prepared.set(source, statement);
    }
    return statement;
  }) as typeof handle.prepare;
}

/** Options of {@link openPostgresStore}. */
export interface PostgresStoreOptions {
  /**
   * The schema to keep the tables in, created if missing and put first on every connection's
   * search_path (tests isolate themselves in a throwaway schema). Lower-case letters, digits
   * and `_`. Default: the server's search_path (normally `public`).
   */
  schema?: string;
  /** Most connections in the pool (default 10). */
  max?: number;
}

const schemaNamePattern = /^[a-z_][a-z0-9_]{0,62}$/;

function parseInt8(text: string): number {
  const value = Number(text);
  // Times and byte counts fit easily; a value that does not is refused, never rounded.
  if (!Number.isSafeInteger(value)) throw new RangeError('int8 value beyond 2^53');
  return value;
}

/**
 * Opens and migrates a PostgreSQL store at `url` (a `postgres://` connection string).
 * @throws FsError `invalid` for a bad schema name; `unavailable` when the database cannot be
 *   reached.
 */
export async function openPostgresStore(
  url: string,
  options: PostgresStoreOptions = {},
): Promise<DirectoryStore> {
  const op = 'store.open';
  const { schema, max = 10 } = options;
  if (schema !== undefined && !schemaNamePattern.test(schema)) {
    throw new FsError('invalid', `${op}: a schema name is lower-case letters, digits and _`, {
      op,
    });
  }
  const pool = new pg.Pool({
    connectionString: url,
    max,
    // Without a timeout, connecting to a host that drops packets would hang forever.
    connectionTimeoutMillis: 10_000,
    // int8 (times in ms) as numbers, for this pool only: the global pg.types is shared with
    // every other user of pg in the process.
    types: {
      getTypeParser: (id, format): unknown =>
        id === pg.types.builtins.INT8 && format !== 'binary'
          ? parseInt8
          : (pg.types.getTypeParser(id, format) as unknown),
    },
    ...(schema === undefined ? {} : { options: `-c search_path=${schema}` }),
  });
  // An idle connection that dies (server restart) is reported by the pool as an event; without
  // a listener that would crash the process. The next query then fails `unavailable` instead.
  pool.on('error', () => undefined);

  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  if (schema !== undefined) {
    const create = sql`create schema if not exists ${sql.id(schema)}`;
    try {
      await create.execute(db).catch(
        // Two processes creating it at once: the loser can fail on the catalog's unique index
        // even with `if not exists`. Once the winner has committed, a second try succeeds.
        () => create.execute(db),
      );
    } catch (err) {
      await db.destroy();
      throw toStoreError(err, op);
    }
  }
  return migrated(createKyselyStore(db, 'postgres'));
}

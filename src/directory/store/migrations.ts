/**
 * The directory's schema, as migrations in code (no migration files to ship or to find at run
 * time), for both engines. Each migration is written once; the few types that differ between
 * SQLite and PostgreSQL come from {@link columnTypes}.
 *
 * Migrations are append-only: once shipped, a migration is never edited; a change is a new one.
 */
import {
  type Expression,
  type Kysely,
  type Migration,
  type MigrationProvider,
  Migrator,
  NO_MIGRATIONS,
  type RawBuilder,
  sql,
} from 'kysely';
import type { Database } from './schema.js';

/** The two database engines the directory runs on. */
export type StoreEngine = 'sqlite' | 'postgres';

interface ColumnTypes {
  /** Raw bytes. */
  bytes: 'blob' | 'bytea';
  /** Milliseconds since the epoch, and byte counts: past 2^31, so 64-bit on PostgreSQL. */
  time: 'integer' | 'bigint';
  /**
   * Text that results are ordered by (ids). PostgreSQL orders text by the database's locale,
   * which differs between machines and from SQLite; the "C" collation orders by bytes, as
   * SQLite's default BINARY collation does, so both engines give the same order.
   */
  sortedText: 'text' | RawBuilder<unknown>;
}

function columnTypes(engine: StoreEngine): ColumnTypes {
  return engine === 'postgres'
    ? { bytes: 'bytea', time: 'bigint', sortedText: sql`text collate "C"` }
    : { bytes: 'blob', time: 'integer', sortedText: 'text' };
}

function initial(engine: StoreEngine): Migration {
  const t = columnTypes(engine);
  // STRICT makes SQLite refuse a value of the wrong type instead of storing it as given.
  const strict = <B extends { modifyEnd(modifier: Expression<unknown>): B }>(table: B): B =>
    engine === 'sqlite' ? table.modifyEnd(sql`strict`) : table;
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('users')
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('created_at', t.time, (c) => c.notNull())
        .addColumn('opaque_record', 'text', (c) => c.notNull())
        .addColumn('sealed_keys', t.bytes, (c) => c.notNull())
        .addColumn('role', 'text', (c) => c.notNull().check(sql`role in ('user', 'admin')`))
        .$call(strict)
        .execute();

      await db.schema
        .createTable('invites')
        .addColumn('code_hash', t.bytes, (c) => c.primaryKey())
        .addColumn('created_at', t.time, (c) => c.notNull())
        .addColumn('expires_at', t.time, (c) => c.notNull())
        .addColumn('used_by', 'text', (c) => c.references('users.name'))
        .$call(strict)
        .execute();

      await db.schema
        .createTable('key_log')
        .addColumn('user_name', 'text', (c) => c.notNull().references('users.name'))
        .addColumn('seq', 'integer', (c) => c.notNull().check(sql`seq >= 0`))
        .addColumn('envelope', t.bytes, (c) => c.notNull())
        .addColumn('hash', t.bytes, (c) => c.notNull())
        .addPrimaryKeyConstraint('key_log_pk', ['user_name', 'seq'])
        .$call(strict)
        .execute();

      // No foreign key on user_name: logins of unknown users run to the end (OPAQUE's defence
      // against user enumeration), so their states name users that do not exist.
      await db.schema
        .createTable('login_states')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('user_name', 'text', (c) => c.notNull())
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('expires_at', t.time, (c) => c.notNull())
        .$call(strict)
        .execute();
      await db.schema
        .createIndex('login_states_expires')
        .on('login_states')
        .column('expires_at')
        .execute();

      await db.schema
        .createTable('sessions')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('user_name', 'text', (c) => c.notNull().references('users.name'))
        .addColumn('device_key', t.bytes, (c) => c.notNull())
        .addColumn('created_at', t.time, (c) => c.notNull())
        .addColumn('expires_at', t.time, (c) => c.notNull())
        .addColumn('revoked_at', t.time)
        .$call(strict)
        .execute();
      await db.schema.createIndex('sessions_user').on('sessions').column('user_name').execute();
      await db.schema.createIndex('sessions_expires').on('sessions').column('expires_at').execute();

      // The primary key is what makes a replayed nonce fail, atomically, across processes.
      await db.schema
        .createTable('nonces')
        .addColumn('session_id', 'text', (c) => c.notNull())
        .addColumn('nonce', 'text', (c) => c.notNull())
        .addColumn('expires_at', t.time, (c) => c.notNull())
        .addPrimaryKeyConstraint('nonces_pk', ['session_id', 'nonce'])
        .$call(strict)
        .execute();
      await db.schema.createIndex('nonces_expires').on('nonces').column('expires_at').execute();

      await db.schema
        .createTable('throttles')
        .addColumn('key', 'text', (c) => c.primaryKey())
        .addColumn('failures', 'integer', (c) => c.notNull())
        .addColumn('window_start', t.time, (c) => c.notNull())
        .addColumn('blocked_until', t.time, (c) => c.notNull())
        .$call(strict)
        .execute();

      await db.schema
        .createTable('entries')
        .addColumn('id', t.sortedText, (c) => c.primaryKey())
        .addColumn('owner', 'text', (c) => c.notNull().references('users.name'))
        // Not a foreign key: an entry may outlive its parent in the trash until both are purged.
        .addColumn('parent', 'text')
        .addColumn('tag', t.bytes, (c) => c.notNull())
        .addColumn('version', 'integer', (c) => c.notNull().check(sql`version >= 1`))
        .addColumn('kind', 'text', (c) => c.notNull().check(sql`kind in ('file', 'dir')`))
        .addColumn('envelope', t.bytes, (c) => c.notNull())
        .addColumn('writer', 'text', (c) => c.notNull())
        .addColumn('updated_at', t.time, (c) => c.notNull())
        .addColumn('deleted_at', t.time)
        .addColumn('deleted_by', 'text')
        .$call(strict)
        .execute();
      // One live name per directory; a tombstoned entry frees its name for reuse.
      await db.schema
        .createIndex('entries_live_name')
        .on('entries')
        .columns(['parent', 'tag'])
        .unique()
        .where(sql.ref('deleted_at'), 'is', null)
        .execute();
      // One root per owner, live or in the trash.
      await db.schema
        .createIndex('entries_one_root')
        .on('entries')
        .column('owner')
        .unique()
        .where(sql.ref('parent'), 'is', null)
        .execute();
      await db.schema
        .createIndex('entries_trash')
        .on('entries')
        .columns(['owner', 'deleted_at'])
        .where(sql.ref('deleted_at'), 'is not', null)
        .execute();
      await db.schema
        .createIndex('entries_deleted')
        .on('entries')
        .column('deleted_at')
        .where(sql.ref('deleted_at'), 'is not', null)
        .execute();

      await db.schema
        .createTable('entry_versions')
        .addColumn('id', 'text', (c) => c.notNull().references('entries.id').onDelete('cascade'))
        .addColumn('version', 'integer', (c) => c.notNull())
        .addColumn('envelope', t.bytes, (c) => c.notNull())
        .addColumn('writer', 'text', (c) => c.notNull())
        .addColumn('created_at', t.time, (c) => c.notNull())
        .addPrimaryKeyConstraint('entry_versions_pk', ['id', 'version'])
        .$call(strict)
        .execute();

      await db.schema
        .createTable('entry_grants')
        .addColumn('entry_id', 'text', (c) =>
          c.notNull().references('entries.id').onDelete('cascade'),
        )
        .addColumn('user_name', 'text', (c) => c.notNull())
        .addColumn('access_right', 'text', (c) =>
          c.notNull().check(sql`access_right in ('r', 'w')`),
        )
        .addColumn('pos', 'integer', (c) => c.notNull())
        .addPrimaryKeyConstraint('entry_grants_pk', ['entry_id', 'user_name', 'access_right'])
        .$call(strict)
        .execute();
      // Listings filter by viewer: "entries under this parent that grant this user a right".
      await db.schema
        .createIndex('entry_grants_user')
        .on('entry_grants')
        .columns(['user_name', 'entry_id'])
        .execute();

      await db.schema
        .createTable('peers')
        .addColumn('id', t.sortedText, (c) => c.primaryKey())
        .addColumn('key', t.bytes, (c) => c.notNull())
        .addColumn('address', 'text', (c) => c.notNull())
        .addColumn('capacity', t.time, (c) => c.notNull())
        .addColumn('registered_at', t.time, (c) => c.notNull())
        .addColumn('last_seen', t.time, (c) => c.notNull())
        .addColumn('record', t.bytes, (c) => c.notNull())
        .$call(strict)
        .execute();
      await db.schema.createIndex('peers_last_seen').on('peers').column('last_seen').execute();
    },

    async down(db: Kysely<unknown>): Promise<void> {
      // Children before parents, so that foreign keys never block a drop.
      for (const table of [
        'peers',
        'entry_grants',
        'entry_versions',
        'entries',
        'throttles',
        'nonces',
        'sessions',
        'login_states',
        'key_log',
        'invites',
        'users',
      ]) {
        await db.schema.dropTable(table).execute();
      }
    },
  };
}

/**
 * The block-release log (garbage collection). `seq` comes from the database and is never
 * reused: AUTOINCREMENT on SQLite (plain INTEGER PRIMARY KEY may reuse the largest rowid after a
 * delete), an identity column on PostgreSQL. That appends become visible in `seq` order is the
 * store's job (see `appendRelease`), not the schema's.
 */
function blockReleases(engine: StoreEngine): Migration {
  const t = columnTypes(engine);
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('block_releases')
        .$call((table) =>
          engine === 'postgres'
            ? table.addColumn('seq', 'bigint', (c) => c.primaryKey().generatedAlwaysAsIdentity())
            : table.addColumn('seq', 'integer', (c) => c.primaryKey().autoIncrement()),
        )
        .addColumn('user_name', 'text', (c) => c.notNull().references('users.name'))
        .addColumn('envelope', t.bytes, (c) => c.notNull())
        .addColumn('created_at', t.time, (c) => c.notNull())
        // STRICT, as in 0001: SQLite refuses a value of the wrong type instead of storing it.
        .$call((table) => (engine === 'sqlite' ? table.modifyEnd(sql`strict`) : table))
        .execute();
    },

    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.dropTable('block_releases').execute();
    },
  };
}

/**
 * Each user's own trash retention (`peervault retention`): null follows the directory's
 * default. A column of `users`, so that the directory's own late purge can join it; the bounds
 * are the directory's settings, checked when a value is set and applied again when it is used.
 */
function userRetention(engine: StoreEngine): Migration {
  const t = columnTypes(engine);
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      // SQLite adds a column to a STRICT table when its type is one STRICT allows (integer).
      await db.schema
        .alterTable('users')
        .addColumn('retention_ms', t.time, (c) => c.check(sql`retention_ms >= 0`))
        .execute();
    },

    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.alterTable('users').dropColumn('retention_ms').execute();
    },
  };
}

/**
 * The audit log (DESIGN.md section 7): records, who each concerns, and signed checkpoints; and
 * the client address of a login state (a login never finished is recorded when it expires).
 * `seq` is a plain integer key that the store assigns under a lock (head + 1), not an identity
 * or AUTOINCREMENT: the chain needs the previous record's hash at insert time anyway, and a
 * removed record must show as a gap. No foreign keys: the log outlives the users and entries
 * it names, and a check of the log must see rows exactly as they are.
 */
function auditLog(engine: StoreEngine): Migration {
  const t = columnTypes(engine);
  const strict = <B extends { modifyEnd(modifier: Expression<unknown>): B }>(table: B): B =>
    engine === 'sqlite' ? table.modifyEnd(sql`strict`) : table;
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('audit_log')
        .addColumn('seq', t.time, (c) => c.primaryKey().check(sql`seq >= 1`))
        .addColumn('created_at', t.time, (c) => c.notNull())
        .addColumn('event', 'text', (c) => c.notNull())
        .addColumn('actor', 'text')
        .addColumn('entry_id', 'text')
        .addColumn('source', 'text', (c) => c.notNull())
        .addColumn('details', 'text', (c) => c.notNull())
        .addColumn('prev', t.bytes, (c) => c.notNull())
        .addColumn('hash', t.bytes, (c) => c.notNull())
        .$call(strict)
        .execute();
      // Owners read "records about me, after seq n": this key answers it in order.
      await db.schema
        .createTable('audit_subjects')
        .addColumn('user_name', 'text', (c) => c.notNull())
        .addColumn('seq', t.time, (c) => c.notNull())
        .addPrimaryKeyConstraint('audit_subjects_pk', ['user_name', 'seq'])
        .$call(strict)
        .execute();
      await db.schema
        .createTable('audit_checkpoints')
        .addColumn('seq', t.time, (c) => c.primaryKey())
        .addColumn('hash', t.bytes, (c) => c.notNull())
        .addColumn('created_at', t.time, (c) => c.notNull())
        .addColumn('envelope', t.bytes, (c) => c.notNull())
        .$call(strict)
        .execute();
      // A login never finished is recorded when its state expires, with where it came from.
      await db.schema.alterTable('login_states').addColumn('source', 'text').execute();
    },

    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.alterTable('login_states').dropColumn('source').execute();
      for (const table of ['audit_checkpoints', 'audit_subjects', 'audit_log']) {
        await db.schema.dropTable(table).execute();
      }
    },
  };
}

/**
 * Users' groups (sharing: `@team` in a grant): the latest signed `group` record of each. The
 * owner references `users`; an owner's groups are listed by name, ordered bytewise on both
 * engines.
 */
function groups(engine: StoreEngine): Migration {
  const t = columnTypes(engine);
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('groups')
        .addColumn('owner', 'text', (c) => c.notNull().references('users.name'))
        .addColumn('name', t.sortedText, (c) => c.notNull())
        .addColumn('version', 'integer', (c) => c.notNull().check(sql`version >= 1`))
        .addColumn('envelope', t.bytes, (c) => c.notNull())
        .addColumn('updated_at', t.time, (c) => c.notNull())
        .addPrimaryKeyConstraint('groups_pk', ['owner', 'name'])
        // STRICT, as in 0001: SQLite refuses a value of the wrong type instead of storing it.
        .$call((table) => (engine === 'sqlite' ? table.modifyEnd(sql`strict`) : table))
        .execute();
    },

    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.dropTable('groups').execute();
    },
  };
}

/**
 * Security alerts (0006, src/directory/monitor.ts): the alerts raised, and the entries a burst
 * of deletions protects from purge until its alert is acknowledged.
 */
function alerts(engine: StoreEngine): Migration {
  const t = columnTypes(engine);
  const strict = <B extends { modifyEnd(modifier: Expression<unknown>): B }>(table: B): B =>
    engine === 'sqlite' ? table.modifyEnd(sql`strict`) : table;
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('alerts')
        .$call((table) =>
          engine === 'postgres'
            ? table.addColumn('id', 'bigint', (c) => c.primaryKey().generatedAlwaysAsIdentity())
            : table.addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement()),
        )
        .addColumn('audience', 'text')
        .addColumn('admin', 'integer', (c) => c.notNull())
        .addColumn('rule', 'text', (c) => c.notNull())
        .addColumn('severity', 'text', (c) => c.notNull())
        .addColumn('summary', 'text', (c) => c.notNull())
        .addColumn('action', 'text', (c) => c.notNull())
        .addColumn('dedupe_key', 'text', (c) => c.notNull())
        .addColumn('first_at', t.time, (c) => c.notNull())
        .addColumn('last_at', t.time, (c) => c.notNull())
        .addColumn('count', t.time, (c) => c.notNull())
        .addColumn('acked_at', t.time)
        .$call(strict)
        .execute();
      await db.schema
        .createIndex('alerts_dedupe')
        .on('alerts')
        .columns(['dedupe_key', 'last_at'])
        .execute();
      await db.schema
        .createTable('protected_entries')
        .addColumn('entry_id', 'text', (c) => c.notNull())
        .addColumn('alert_id', t.time, (c) => c.notNull())
        .addPrimaryKeyConstraint('protected_entries_pk', ['entry_id', 'alert_id'])
        .$call(strict)
        .execute();
    },

    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.dropTable('protected_entries').execute();
      await db.schema.dropTable('alerts').execute();
    },
  };
}

/**
 * Peer health (0007): strikes that agents report against peers (a block that failed verification,
 * a failed storage audit), one per (peer, reporter, block), and the quarantined peers.
 */
function peerHealth(engine: StoreEngine): Migration {
  const t = columnTypes(engine);
  const strict = <B extends { modifyEnd(modifier: Expression<unknown>): B }>(table: B): B =>
    engine === 'sqlite' ? table.modifyEnd(sql`strict`) : table;
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('peer_strikes')
        .addColumn('peer_id', 'text', (c) => c.notNull())
        .addColumn('reporter', 'text', (c) => c.notNull())
        .addColumn('block_id', 'text', (c) => c.notNull())
        .addColumn('file_id', 'text', (c) => c.notNull())
        .addColumn('reason', 'text', (c) => c.notNull())
        .addColumn('created_at', t.time, (c) => c.notNull())
        .addPrimaryKeyConstraint('peer_strikes_pk', ['peer_id', 'reporter', 'block_id'])
        .$call(strict)
        .execute();
      await db.schema
        .createTable('peer_quarantine')
        .addColumn('peer_id', 'text', (c) => c.primaryKey())
        .addColumn('created_at', t.time, (c) => c.notNull())
        .$call(strict)
        .execute();
    },

    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.dropTable('peer_quarantine').execute();
      await db.schema.dropTable('peer_strikes').execute();
    },
  };
}

/**
 * Audit subjects by record (0008): reading the log gathers each record's subjects by `seq`, which
 * the (user_name, seq) key cannot answer, so every record read scanned the whole table: reading
 * 20,000 records took 11 s and grew with the square of the log (the monitor, `audit verify` and
 * the self-check all read it).
 */
function auditSubjectsBySeq(): Migration {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createIndex('audit_subjects_seq')
        .on('audit_subjects')
        .columns(['seq', 'user_name'])
        .execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.dropIndex('audit_subjects_seq').execute();
    },
  };
}

/** Every migration, by name, for one engine. Names sort in the order they apply. */
export function migrationsFor(engine: StoreEngine): Record<string, Migration> {
  return {
    '0001-initial': initial(engine),
    '0002-block-releases': blockReleases(engine),
    '0003-user-retention': userRetention(engine),
    '0004-groups': groups(engine),
    '0005-audit': auditLog(engine),
    '0006-alerts': alerts(engine),
    '0007-peer-health': peerHealth(engine),
    '0008-audit-subjects-by-seq': auditSubjectsBySeq(),
  };
}

function provider(engine: StoreEngine): MigrationProvider {
  return { getMigrations: () => Promise.resolve(migrationsFor(engine)) };
}

/**
 * Migrates the database up to the latest schema (or, with `'none'`, all the way down: for tests
 * of the down migrations). Safe to run from several processes at once:
 *
 * - PostgreSQL: Kysely's Migrator takes a session-level advisory lock and runs the migrations
 *   in one transaction. Its bookkeeping tables are pinned to the connection's current schema,
 *   because Kysely otherwise looks for them in every schema of the database and would find
 *   another schema's.
 * - SQLite: Kysely's lock is a no-op there (it assumes one process), so the whole run happens
 *   inside `BEGIN IMMEDIATE`, which takes SQLite's write lock up front: a second process waits
 *   (busy_timeout) and then finds the work done. SQLite's DDL is transactional, so a failed
 *   migration leaves nothing behind.
 *
 * @throws whatever the driver threw (the store maps it to an FsError).
 */
export async function migrate(
  db: Kysely<Database>,
  engine: StoreEngine,
  target: 'latest' | 'none' = 'latest',
): Promise<void> {
  const run = async (conn: Kysely<Database>, migrationTableSchema?: string): Promise<void> => {
    const migrator = new Migrator({
      db: conn,
      provider: provider(engine),
      ...(migrationTableSchema === undefined ? {} : { migrationTableSchema }),
    });
    const { error } =
      target === 'latest'
        ? await migrator.migrateToLatest()
        : await migrator.migrateTo(NO_MIGRATIONS);
    if (error !== undefined) {
      throw error instanceof Error ? error : new Error('migration failed', { cause: error });
    }
  };

  if (engine === 'postgres') {
    const { rows } = await sql<{
      schema: string | null;
    }>`select current_schema() as schema`.execute(db);
    const schema = rows[0]?.schema;
    if (schema === null || schema === undefined) {
      throw new Error('no schema is selected: search_path names no existing schema');
    }
    await run(db, schema);
    return;
  }

  await db.connection().execute(async (conn) => {
    await sql`begin immediate`.execute(conn);
    try {
      await run(conn);
    } catch (err) {
      // A failed rollback (the connection broke) must not hide why the migration failed.
      await sql`rollback`.execute(conn).catch(() => undefined);
      throw err;
    }
    await sql`commit`.execute(conn);
  });
}

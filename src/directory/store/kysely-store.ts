/**
 * The directory's store over Kysely: one query layer for SQLite and PostgreSQL.
 *
 * Atomicity (the directory may run as several processes over one database, so nothing here
 * may check in one statement and act in another without a transaction or a unique key):
 * - single-row state changes are single statements whose outcome the database decides:
 *   `useNonce` is an insert against a primary key, `takeLoginState` a `DELETE … RETURNING`,
 *   `addFailure` one `INSERT … ON CONFLICT DO UPDATE … RETURNING`, `claimAttempt` the same
 *   with a `WHERE` on the update;
 * - the release log's seq must become visible in order: see `appendRelease`;
 * - the audit log is a hash chain whose every append reads the head it extends: appends are
 *   serialised, and ride in the transaction of the change they record (see `#chainAudit`);
 * - multi-statement changes (`createUser`, `createEntry`, `updateEntry`, purges) run in one
 *   transaction. On PostgreSQL that is a READ COMMITTED transaction whose first write takes the
 *   row lock and re-checks its `WHERE` after waiting (so `UPDATE … WHERE version = ?` is a
 *   compare-and-swap). On SQLite it is `BEGIN IMMEDIATE`, which takes the database's single
 *   write lock up front, so the transaction cannot fail half-way on a lock upgrade;
 * - reads of an entry with its grants are one statement (the grants are aggregated in a
 *   subquery), so a reader never sees one version's entry with another version's grants.
 *
 * Security: rows hold sealed keys, OPAQUE records and login states. Errors never carry driver
 * messages or causes, which can quote row values (PostgreSQL's `detail` does); they name the
 * operation and the engine's error code only.
 */
import { type Kysely, type Selectable, sql } from 'kysely';
import type { AuditCheckpointRecord, AuditEvent, AuditRecord } from '../../interface/audit.js';
import type {
  AlertRecord,
  DirectoryStore,
  EntryRecord,
  ExpiredLogin,
  EntryVersionRecord,
  Grant,
  GroupRecord,
  InviteRecord,
  KeyLogRecord,
  LoginStateRecord,
  NewAlert,
  PeerRecord,
  PeerStrike,
  ReleaseRecord,
  SessionRecord,
  SharedEntryRecord,
  ThrottleRecord,
  TrashPolicy,
  UserRecord,
} from '../../interface/directory-store.js';
import { type ErrorKind, FsError, isFsError } from '../../interface/errors.js';
import { type GroupName, parseGroupName } from '../../interface/groups.js';
import { type FileId, parseFileId } from '../../interface/ids.js';
import { parseUserName, type UserName } from '../../interface/names.js';
import {
  auditDetailsText,
  auditRecordHash,
  normaliseSubjects,
  zeroAuditHash,
} from '../../wire/audit-log.js';
import { migrate, type StoreEngine } from './migrations.js';
import type {
  AlertsTable,
  AuditCheckpointsTable,
  AuditLogTable,
  BlockReleasesTable,
  Database,
  EntriesTable,
  EntryVersionsTable,
  GroupsTable,
  KeyLogTable,
  PeersTable,
  SessionsTable,
  ThrottlesTable,
  UsersTable,
} from './schema.js';

/** Most rows or keys put in one statement: well under both engines' bound-parameter limits. */
const batch = 500;

// ---------------------------------------------------------------------------------------------
// Errors

/** What went wrong in the database, engine-neutral. */
type Failure = 'unique' | 'foreign-key' | 'refused' | 'serialization' | 'unavailable' | 'other';

const sqliteFailures: ReadonlyArray<[RegExp, Failure]> = [
  [/^SQLITE_CONSTRAINT_(UNIQUE|PRIMARYKEY)$/, 'unique'],
  [/^SQLITE_CONSTRAINT_FOREIGNKEY$/, 'foreign-key'],
  [/^SQLITE_CONSTRAINT/, 'refused'],
  [/^SQLITE_MISMATCH$/, 'refused'],
  [/^SQLITE_(BUSY|LOCKED|CANTOPEN|FULL|IOERR|NOTADB)/, 'unavailable'],
];

const postgresFailures: ReadonlyArray<[RegExp, Failure]> = [
  [/^23505$/, 'unique'],
  [/^23503$/, 'foreign-key'],
  [/^(23|22)/, 'refused'], // other integrity constraints; data exceptions (bad values)
  [/^(40001|40P01)$/, 'serialization'],
  // connection exceptions, insufficient resources, shutdown, no such database, login refused
  [/^(08|53|57P0|3D000|28)/, 'unavailable'],
];

/** Node's socket errors, and what pg throws when a connection ends under it. */
const networkCodes = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
]);
const pgConnectionMessages = [
  'Connection terminated',
  'timeout exceeded when trying to connect',
  'Client has encountered a connection error',
  'Cannot use a pool after calling end',
];

function errorCode(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null || !('code' in err)) return undefined;
  return typeof err.code === 'string' ? err.code : undefined;
}

function classify(err: unknown): { failure: Failure; code: string } {
  const code = errorCode(err);
  if (code !== undefined) {
    if (networkCodes.has(code)) return { failure: 'unavailable', code };
    const table = code.startsWith('SQLITE_') ? sqliteFailures : postgresFailures;
    for (const [pattern, failure] of table) {
      if (pattern.test(code)) return { failure, code };
    }
    return { failure: 'other', code };
  }
  if (err instanceof AggregateError && err.errors.length > 0) return classify(err.errors[0]);
  const message = err instanceof Error ? err.message : '';
  if (pgConnectionMessages.some((m) => message.startsWith(m))) {
    return { failure: 'unavailable', code: 'connection' };
  }
  return { failure: 'other', code: 'none' };
}

const defaultKinds: Readonly<Record<Failure, ErrorKind>> = {
  unique: 'exist',
  'foreign-key': 'not-exist',
  refused: 'invalid',
  serialization: 'conflict',
  unavailable: 'unavailable',
  other: 'internal',
};

const messages: Readonly<Record<Failure, string>> = {
  unique: 'already exists',
  'foreign-key': 'refers to something that does not exist',
  refused: 'a value was refused by the schema',
  serialization: 'a concurrent change won',
  unavailable: 'the database cannot be reached',
  other: 'database error',
};

/**
 * Turns anything a query threw into an FsError. FsErrors we threw ourselves pass through.
 * Only the code of a driver error is kept (see the module comment for why).
 */
function toFsError(
  err: unknown,
  op: string,
  overrides: Partial<Record<Failure, ErrorKind>>,
): FsError {
  if (isFsError(err)) return err;
  const { failure, code } = classify(err);
  const kind = overrides[failure] ?? defaultKinds[failure];
  return new FsError(kind, `${op}: ${messages[failure]} (${code})`, { op });
}

/**
 * Turns an error thrown by a driver into an FsError the way the store does (for opening a
 * store, before there is one). `otherwise` is the kind of an error no rule recognises.
 */
export function toStoreError(err: unknown, op: string, otherwise: ErrorKind = 'internal'): FsError {
  return toFsError(err, op, { other: otherwise });
}

// ---------------------------------------------------------------------------------------------
// Values in and out

/** Binds bytes as a Buffer view (both drivers take Buffers; no copy). */
function toDb(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * Copies bytes read from the database into a plain Uint8Array. A copy, not a view: a Buffer
 * may be a slice of a larger shared allocation, and a view would keep it (and whatever else it
 * holds) reachable through `.buffer`.
 */
function fromDb(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(bytes);
}

function stored<T>(parse: (text: string) => T, text: string): T {
  try {
    return parse(text);
  } catch {
    // Only this process writes these columns, after validating them: a bad one is corruption.
    throw new FsError('internal', 'a stored name or id is malformed', { op: 'store.read' });
  }
}

const userOf = (text: string): UserName => stored(parseUserName, text);
const fileIdOf = (text: string): FileId => stored(parseFileId, text);

function userFromRow(row: Selectable<UsersTable>): UserRecord {
  return {
    name: userOf(row.name),
    createdAt: row.created_at,
    opaqueRecord: row.opaque_record,
    sealedKeys: fromDb(row.sealed_keys),
    role: row.role,
  };
}

function keyLogFromRow(row: Selectable<KeyLogTable>): KeyLogRecord {
  return {
    user: userOf(row.user_name),
    seq: row.seq,
    envelope: fromDb(row.envelope),
    hash: fromDb(row.hash),
  };
}

function sessionFromRow(row: Selectable<SessionsTable>): SessionRecord {
  return {
    id: row.id,
    user: userOf(row.user_name),
    deviceKey: fromDb(row.device_key),
    createdAt: row.created_at,
    expiresAt: row.expires_at,
    revokedAt: row.revoked_at,
  };
}

function throttleFromRow(row: Selectable<ThrottlesTable>): ThrottleRecord {
  return {
    key: row.key,
    failures: row.failures,
    windowStart: row.window_start,
    blockedUntil: row.blocked_until,
  };
}

/** Grants travel out of the database as `user:right,user:right` in their given order. */
function grantsFromColumn(column: string | null): Grant[] {
  if (column === null || column === '') return [];
  return column.split(',').map((item) => {
    const [user = '', right] = item.split(':');
    if (right !== 'r' && right !== 'w') {
      throw new FsError('internal', 'a stored grant is malformed', { op: 'store.read' });
    }
    return { user: userOf(user), right };
  });
}

function entryFromRow(row: Selectable<EntriesTable> & { grants: string | null }): EntryRecord {
  return {
    id: fileIdOf(row.id),
    owner: userOf(row.owner),
    parent: row.parent === null ? null : fileIdOf(row.parent),
    tag: fromDb(row.tag),
    version: row.version,
    kind: row.kind,
    envelope: fromDb(row.envelope),
    writer: userOf(row.writer),
    updatedAt: row.updated_at,
    deletedAt: row.deleted_at,
    deletedBy: row.deleted_by === null ? null : userOf(row.deleted_by),
    grants: grantsFromColumn(row.grants),
  };
}

function versionFromRow(row: Selectable<EntryVersionsTable>): EntryVersionRecord {
  return {
    id: fileIdOf(row.id),
    version: row.version,
    envelope: fromDb(row.envelope),
    writer: userOf(row.writer),
    createdAt: row.created_at,
  };
}

function peerFromRow(row: Selectable<PeersTable>): PeerRecord {
  return {
    id: row.id,
    key: fromDb(row.key),
    address: row.address,
    capacity: row.capacity,
    registeredAt: row.registered_at,
    lastSeen: row.last_seen,
    record: fromDb(row.record),
  };
}

function groupFromRow(row: Selectable<GroupsTable>): GroupRecord {
  return {
    owner: userOf(row.owner),
    name: stored(parseGroupName, row.name),
    version: row.version,
    envelope: fromDb(row.envelope),
    updatedAt: row.updated_at,
  };
}

function releaseFromRow(row: Selectable<BlockReleasesTable>): ReleaseRecord {
  return {
    seq: row.seq,
    user: userOf(row.user_name),
    envelope: fromDb(row.envelope),
    createdAt: row.created_at,
  };
}

/**
 * An audit row as it is: names and ids unchecked, because a record is evidence to verify and
 * show (a tampered name must reach the check, not stop the read).
 */
function auditFromRow(row: Selectable<AuditLogTable> & { subjects: string | null }): AuditRecord {
  return {
    seq: row.seq,
    time: row.created_at,
    event: row.event,
    actor: row.actor,
    subjects: row.subjects === null || row.subjects === '' ? [] : row.subjects.split(','),
    entry: row.entry_id,
    source: row.source,
    details: row.details,
    prev: fromDb(row.prev),
    hash: fromDb(row.hash),
  };
}

function checkpointFromRow(row: Selectable<AuditCheckpointsTable>): AuditCheckpointRecord {
  return {
    seq: row.seq,
    hash: fromDb(row.hash),
    time: row.created_at,
    envelope: fromDb(row.envelope),
  };
}

function alertFromRow(row: Selectable<AlertsTable>): AlertRecord {
  return {
    id: Number(row.id),
    audience: row.audience === null ? null : parseUserName(row.audience),
    admin: row.admin === 1,
    rule: row.rule,
    severity: row.severity === 'critical' ? 'critical' : 'warning',
    summary: row.summary,
    action: row.action,
    dedupeKey: row.dedupe_key,
    firstAt: row.first_at,
    lastAt: row.last_at,
    count: row.count,
    ackedAt: row.acked_at,
  };
}

/** An audit event checked and put in the form that is stored, before any lock is taken. */
type PreparedAudit = Omit<AuditRecord, 'seq' | 'prev' | 'hash'>;

function prepareAudit(events: readonly AuditEvent[] | undefined): PreparedAudit[] {
  return (events ?? []).map((event) => ({
    time: event.time,
    event: event.event,
    actor: event.actor,
    subjects: normaliseSubjects(event.subjects),
    entry: event.entry,
    source: event.source,
    details: auditDetailsText(event.details),
  }));
}

function entryRow(entry: EntryRecord): Selectable<EntriesTable> {
  return {
    id: entry.id,
    owner: entry.owner,
    parent: entry.parent,
    tag: toDb(entry.tag),
    version: entry.version,
    kind: entry.kind,
    envelope: toDb(entry.envelope),
    writer: entry.writer,
    updated_at: entry.updatedAt,
    deleted_at: entry.deletedAt,
    deleted_by: entry.deletedBy,
  };
}

/** One row per distinct (user, right), in the order first given. */
function grantRows(
  id: FileId,
  grants: readonly Grant[],
): { entry_id: string; user_name: string; access_right: 'r' | 'w'; pos: number }[] {
  const seen = new Set<string>();
  const rows: { entry_id: string; user_name: string; access_right: 'r' | 'w'; pos: number }[] = [];
  for (const grant of grants) {
    const key = `${grant.user}:${grant.right}`;
    if (seen.has(key)) continue;
    seen.add(key);
    rows.push({ entry_id: id, user_name: grant.user, access_right: grant.right, pos: rows.length });
  }
  return rows;
}

function chunks<T>(items: readonly T[], size = batch): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

// ---------------------------------------------------------------------------------------------
// The store

class KyselyDirectoryStore implements DirectoryStore {
  readonly #db: Kysely<Database>;
  readonly #engine: StoreEngine;
  #closing: Promise<void> | undefined;

  constructor(db: Kysely<Database>, engine: StoreEngine) {
    this.#db = db;
    this.#engine = engine;
  }

  /** Runs one store operation, turning whatever it throws into an FsError. */
  async #run<T>(
    op: string,
    fn: (db: Kysely<Database>) => Promise<T>,
    overrides: Partial<Record<Failure, ErrorKind>> = {},
  ): Promise<T> {
    if (this.#closing !== undefined) {
      throw new FsError('unavailable', `${op}: the store is closed`, { op });
    }
    try {
      return await fn(this.#db);
    } catch (err) {
      throw toFsError(err, op, overrides);
    }
  }

  /** Runs `fn` in one transaction (see the module comment for each engine's kind). */
  async #transaction<T>(fn: (trx: Kysely<Database>) => Promise<T>): Promise<T> {
    if (this.#engine === 'postgres') return this.#db.transaction().execute(fn);
    // Kysely begins SQLite transactions DEFERRED, which can fail with SQLITE_BUSY when a read
    // must later upgrade to a write; IMMEDIATE waits for the write lock (busy_timeout) instead.
    return this.#db.connection().execute(async (conn) => {
      await sql`begin immediate`.execute(conn);
      let result: T;
      try {
        result = await fn(conn);
        await sql`commit`.execute(conn);
      } catch (err) {
        // Never leave the connection inside a transaction; a failed rollback must not hide err.
        await sql`rollback`.execute(conn).catch(() => undefined);
        throw err;
      }
      return result;
    });
  }

  /** Entries with their grants, aggregated in one statement so both come from one snapshot. */
  #entries(db: Kysely<Database>) {
    // string_agg(… ORDER BY …) is the same in PostgreSQL and SQLite (3.44+; better-sqlite3
    // bundles its own, newer SQLite). User names cannot contain ':' or ','.
    return db
      .selectFrom('entries as e')
      .selectAll('e')
      .select(
        sql<
          string | null
        >`(select string_agg(g.user_name || ':' || g.access_right, ',' order by g.pos) from entry_grants g where g.entry_id = e.id)`.as(
          'grants',
        ),
      );
  }

  /**
   * Security-sensitive: appends prepared audit events to the chain inside `trx`, after the
   * transaction's other writes (so the lock below is always the last one a transaction takes,
   * and two transactions never wait on each other in opposite orders). Each record's seq and
   * prev come from the head read under the lock: on PostgreSQL an EXCLUSIVE table lock (which
   * blocks other writers until commit, never plain readers) serialises appends from every
   * process, and READ COMMITTED reads the head as committed after the lock was granted; on
   * SQLite the transaction holds the database's write lock from `BEGIN IMMEDIATE` on.
   */
  async #chainAudit(
    trx: Kysely<Database>,
    events: readonly PreparedAudit[],
  ): Promise<AuditRecord[]> {
    if (events.length === 0) return [];
    if (this.#engine === 'postgres') {
      await sql`lock table audit_log in exclusive mode`.execute(trx);
    }
    const head = await trx
      .selectFrom('audit_log')
      .select(['seq', 'hash'])
      .orderBy('seq', 'desc')
      .limit(1)
      .executeTakeFirst();
    let seq = head?.seq ?? 0;
    let prev = head === undefined ? zeroAuditHash : fromDb(head.hash);
    const records: AuditRecord[] = [];
    for (const event of events) {
      seq += 1;
      const contents = { ...event, seq, prev };
      const hash = auditRecordHash(contents);
      await trx
        .insertInto('audit_log')
        .values({
          seq,
          created_at: event.time,
          event: event.event,
          actor: event.actor,
          entry_id: event.entry,
          source: event.source,
          details: event.details,
          prev: toDb(prev),
          hash: toDb(hash),
        })
        .execute();
      if (event.subjects.length > 0) {
        await trx
          .insertInto('audit_subjects')
          .values(event.subjects.map((user) => ({ user_name: user, seq })))
          .execute();
      }
      records.push({ ...contents, hash });
      prev = hash;
    }
    return records;
  }

  /** Runs `write`, with the audit events after it in the same transaction when there are any. */
  async #audited(
    db: Kysely<Database>,
    audit: readonly PreparedAudit[],
    write: (db: Kysely<Database>) => Promise<unknown>,
  ): Promise<void> {
    if (audit.length === 0) {
      await write(db);
      return;
    }
    await this.#transaction(async (trx) => {
      await write(trx);
      await this.#chainAudit(trx, audit);
    });
  }

  async migrate(): Promise<void> {
    // PostgreSQL can answer a migration racing other schemas' DDL (other processes creating or
    // dropping schemas at the same moment) with "schema does not exist" (3F000) although ours
    // exists; the migration ran in one transaction and left nothing, so it is tried again.
    for (let attempt = 1; ; attempt++) {
      try {
        await this.#run('store.migrate', (db) => migrate(db, this.#engine));
        return;
      } catch (err) {
        const transient = err instanceof FsError && err.message.includes('(3F000)');
        if (!transient || attempt >= 3) throw err;
        await new Promise((resolve) => setTimeout(resolve, 100 * attempt));
      }
    }
  }

  async close(): Promise<void> {
    this.#closing ??= this.#db.destroy();
    await this.#closing;
  }

  // Accounts

  async createUser(
    user: UserRecord,
    genesis: KeyLogRecord,
    invite?: { codeHash: Uint8Array; now: number },
    audit?: readonly AuditEvent[],
  ): Promise<void> {
    const op = 'store.createUser';
    if (genesis.user !== user.name || genesis.seq !== 0) {
      throw new FsError('invalid', `${op}: the genesis event is not this user's seq 0`, { op });
    }
    const events = prepareAudit(audit);
    await this.#run(op, () =>
      this.#transaction(async (trx) => {
        await trx
          .insertInto('users')
          .values({
            name: user.name,
            created_at: user.createdAt,
            opaque_record: user.opaqueRecord,
            sealed_keys: toDb(user.sealedKeys),
            role: user.role,
          })
          .execute();
        await trx
          .insertInto('key_log')
          .values({
            user_name: genesis.user,
            seq: 0,
            envelope: toDb(genesis.envelope),
            hash: toDb(genesis.hash),
          })
          .execute();
        if (invite !== undefined) {
          // One statement decides: of two registrations racing for one invite, the second
          // waits for the first's row lock, re-reads `used_by` and updates nothing.
          const result = await trx
            .updateTable('invites')
            .set({ used_by: user.name })
            .where('code_hash', '=', toDb(invite.codeHash))
            .where('used_by', 'is', null)
            .where('expires_at', '>', invite.now)
            .executeTakeFirst();
          if (result.numUpdatedRows === 0n) {
            throw new FsError('invalid', `${op}: the invite is unknown, used or expired`, { op });
          }
        }
        await this.#chainAudit(trx, events);
      }),
    );
  }

  async getUser(name: UserName): Promise<UserRecord | undefined> {
    const row = await this.#run('store.getUser', (db) =>
      db.selectFrom('users').selectAll().where('name', '=', name).executeTakeFirst(),
    );
    return row === undefined ? undefined : userFromRow(row);
  }

  async updateCredentials(
    name: UserName,
    opaqueRecord: string,
    sealedKeys: Uint8Array,
  ): Promise<void> {
    const op = 'store.updateCredentials';
    const result = await this.#run(op, (db) =>
      db
        .updateTable('users')
        .set({ opaque_record: opaqueRecord, sealed_keys: toDb(sealedKeys) })
        .where('name', '=', name)
        .executeTakeFirst(),
    );
    if (result.numUpdatedRows === 0n) {
      throw new FsError('not-exist', `${op}: no such user`, { op });
    }
  }

  async createInvite(invite: InviteRecord): Promise<void> {
    await this.#run('store.createInvite', (db) =>
      db
        .insertInto('invites')
        .values({
          code_hash: toDb(invite.codeHash),
          created_at: invite.createdAt,
          expires_at: invite.expiresAt,
          used_by: invite.usedBy,
        })
        .execute(),
    );
  }

  // Key logs

  async appendKeyLog(record: KeyLogRecord, audit?: readonly AuditEvent[]): Promise<void> {
    // The primary key (user, seq) decides between two appends racing for the same seq.
    const events = prepareAudit(audit);
    await this.#run(
      'store.appendKeyLog',
      (db) =>
        this.#audited(db, events, (trx) =>
          trx
            .insertInto('key_log')
            .values({
              user_name: record.user,
              seq: record.seq,
              envelope: toDb(record.envelope),
              hash: toDb(record.hash),
            })
            .execute(),
        ),
      { unique: 'conflict' },
    );
  }

  async keyLog(user: UserName): Promise<KeyLogRecord[]> {
    const rows = await this.#run('store.keyLog', (db) =>
      db.selectFrom('key_log').selectAll().where('user_name', '=', user).orderBy('seq').execute(),
    );
    return rows.map(keyLogFromRow);
  }

  // Login and sessions

  async putLoginState(record: LoginStateRecord): Promise<void> {
    await this.#run('store.putLoginState', (db) =>
      db
        .insertInto('login_states')
        .values({
          id: record.id,
          user_name: record.user,
          state: record.state,
          expires_at: record.expiresAt,
          source: record.source ?? null,
        })
        .execute(),
    );
  }

  async takeLoginState(id: string, now: number): Promise<LoginStateRecord | undefined> {
    // Deleted whether live or expired: an expired state is useless, and deleting in the same
    // statement that reads is what makes it single use across processes.
    const row = await this.#run('store.takeLoginState', (db) =>
      db.deleteFrom('login_states').where('id', '=', id).returningAll().executeTakeFirst(),
    );
    if (row === undefined || row.expires_at <= now) return undefined;
    return { id: row.id, user: userOf(row.user_name), state: row.state, expiresAt: row.expires_at };
  }

  async createSession(record: SessionRecord, audit?: readonly AuditEvent[]): Promise<void> {
    const events = prepareAudit(audit);
    await this.#run('store.createSession', (db) =>
      this.#audited(db, events, (trx) =>
        trx
          .insertInto('sessions')
          .values({
            id: record.id,
            user_name: record.user,
            device_key: toDb(record.deviceKey),
            created_at: record.createdAt,
            expires_at: record.expiresAt,
            revoked_at: record.revokedAt,
          })
          .execute(),
      ),
    );
  }

  async listSessions(user: UserName, now: number): Promise<SessionRecord[]> {
    const rows = await this.#run('store.listSessions', (db) =>
      db
        .selectFrom('sessions')
        .selectAll()
        .where('user_name', '=', user)
        .where('revoked_at', 'is', null)
        .where('expires_at', '>', now)
        .orderBy('created_at')
        .orderBy('id')
        .execute(),
    );
    return rows.map(sessionFromRow);
  }

  async revokeSession(user: UserName, id: string, now: number): Promise<boolean> {
    const result = await this.#run('store.revokeSession', (db) =>
      db
        .updateTable('sessions')
        .set({ revoked_at: now })
        .where('id', '=', id)
        .where('user_name', '=', user)
        .where('revoked_at', 'is', null)
        .where('expires_at', '>', now)
        .executeTakeFirst(),
    );
    return result.numUpdatedRows > 0n;
  }

  async getSession(id: string): Promise<SessionRecord | undefined> {
    const row = await this.#run('store.getSession', (db) =>
      db.selectFrom('sessions').selectAll().where('id', '=', id).executeTakeFirst(),
    );
    return row === undefined ? undefined : sessionFromRow(row);
  }

  async revokeKeys(
    record: KeyLogRecord,
    sealedKeys: Uint8Array,
    keepSession: string,
    now: number,
    audit?: readonly AuditEvent[],
  ): Promise<void> {
    // One transaction: the key event, the keys sealed for the next login and the end of every
    // other session land together or not at all, so no login ever unseals keys that the log
    // no longer names.
    const events = prepareAudit(audit);
    await this.#run(
      'store.revokeKeys',
      () =>
        this.#transaction(async (trx) => {
          await trx
            .insertInto('key_log')
            .values({
              user_name: record.user,
              seq: record.seq,
              envelope: toDb(record.envelope),
              hash: toDb(record.hash),
            })
            .execute();
          await trx
            .updateTable('users')
            .set({ sealed_keys: toDb(sealedKeys) })
            .where('name', '=', record.user)
            .execute();
          await trx
            .updateTable('sessions')
            .set({ revoked_at: now })
            .where('user_name', '=', record.user)
            .where('id', '<>', keepSession)
            .where('revoked_at', 'is', null)
            .where('expires_at', '>', now)
            .execute();
          await this.#chainAudit(trx, events);
        }),
      { unique: 'conflict' },
    );
  }

  async revokeSessions(user: UserName, now: number): Promise<void> {
    await this.#run('store.revokeSessions', (db) =>
      db
        .updateTable('sessions')
        .set({ revoked_at: now })
        .where('user_name', '=', user)
        .where('revoked_at', 'is', null)
        .where('expires_at', '>', now)
        .execute(),
    );
  }

  async useNonce(sessionId: string, nonce: string, expiresAt: number): Promise<boolean> {
    // The primary key (session_id, nonce) decides: of two concurrent inserts one returns the
    // row and the other (which waits for the first on PostgreSQL) returns nothing.
    const row = await this.#run('store.useNonce', (db) =>
      db
        .insertInto('nonces')
        .values({ session_id: sessionId, nonce, expires_at: expiresAt })
        .onConflict((oc) => oc.columns(['session_id', 'nonce']).doNothing())
        .returning('nonce')
        .executeTakeFirst(),
    );
    return row !== undefined;
  }

  async pruneExpired(
    now: number,
    audit?: (expired: readonly ExpiredLogin[]) => AuditEvent[],
  ): Promise<void> {
    await this.#run('store.pruneExpired', () =>
      this.#transaction(async (trx) => {
        await trx.deleteFrom('nonces').where('expires_at', '<=', now).execute();
        // One statement takes the states: of two processes pruning at once, each state goes to
        // exactly one of them (and so is recorded once).
        const expired = await trx
          .deleteFrom('login_states')
          .where('expires_at', '<=', now)
          .returning(['user_name', 'source', 'expires_at'])
          .execute();
        await trx.deleteFrom('sessions').where('expires_at', '<=', now).execute();
        if (audit === undefined || expired.length === 0) return;
        const known = new Set<string>();
        for (const part of chunks([...new Set(expired.map((row) => row.user_name))])) {
          const rows = await trx
            .selectFrom('users')
            .select('name')
            .where('name', 'in', part)
            .execute();
          for (const row of rows) known.add(row.name);
        }
        const logins = expired
          .sort((a, b) => a.expires_at - b.expires_at)
          .map((row) => ({
            user: userOf(row.user_name),
            known: known.has(row.user_name),
            source: row.source,
            expiresAt: row.expires_at,
          }));
        await this.#chainAudit(trx, prepareAudit(audit(logins)));
      }),
    );
  }

  // Throttles

  async getThrottles(keys: readonly string[]): Promise<ThrottleRecord[]> {
    const wanted = [...new Set(keys)];
    if (wanted.length === 0) return [];
    const rows = await this.#run('store.getThrottles', async (db) => {
      const found: Selectable<ThrottlesTable>[] = [];
      for (const part of chunks(wanted)) {
        found.push(
          ...(await db.selectFrom('throttles').selectAll().where('key', 'in', part).execute()),
        );
      }
      return found;
    });
    const byKey = new Map(rows.map((row) => [row.key, throttleFromRow(row)]));
    return wanted.flatMap((key) => byKey.get(key) ?? []);
  }

  async addFailure(key: string, now: number, windowMs: number): Promise<ThrottleRecord> {
    // One upsert: the database serialises concurrent calls on the row, so no count is lost.
    // `excluded` is the row we tried to insert, i.e. a fresh window starting now.
    const staleBefore = now - windowMs;
    const row = await this.#run('store.addFailure', (db) =>
      db
        .insertInto('throttles')
        .values({ key, failures: 1, window_start: now, blocked_until: 0 })
        .onConflict((oc) =>
          oc.column('key').doUpdateSet({
            failures: sql<number>`case when throttles.window_start < ${staleBefore} then 1 else throttles.failures + 1 end`,
            window_start: sql<number>`case when throttles.window_start < ${staleBefore} then excluded.window_start else throttles.window_start end`,
          }),
        )
        .returningAll()
        .executeTakeFirstOrThrow(),
    );
    return throttleFromRow(row);
  }

  async setBlockedUntil(key: string, until: number): Promise<void> {
    await this.#run('store.setBlockedUntil', (db) =>
      db
        .insertInto('throttles')
        .values({ key, failures: 0, window_start: 0, blocked_until: until })
        .onConflict((oc) =>
          oc.column('key').doUpdateSet({ blocked_until: (eb) => eb.ref('excluded.blocked_until') }),
        )
        .execute(),
    );
  }

  async claimAttempt(key: string, now: number, until: number): Promise<boolean> {
    // One conditional upsert: the update happens only while the key is unblocked, and of
    // concurrent claimants the later ones wait for the row lock (PostgreSQL) or the write lock
    // (SQLite), then see the block the first one set and return no row.
    const row = await this.#run('store.claimAttempt', (db) =>
      db
        .insertInto('throttles')
        .values({ key, failures: 0, window_start: 0, blocked_until: until })
        .onConflict((oc) =>
          oc
            .column('key')
            .doUpdateSet({ blocked_until: (eb) => eb.ref('excluded.blocked_until') })
            .where('throttles.blocked_until', '<=', now),
        )
        .returning('key')
        .executeTakeFirst(),
    );
    return row !== undefined;
  }

  async clearThrottle(key: string): Promise<void> {
    await this.#run('store.clearThrottle', (db) =>
      db.deleteFrom('throttles').where('key', '=', key).execute(),
    );
  }

  // Namespace

  async createEntry(entry: EntryRecord): Promise<void> {
    // The primary key and the two partial unique indexes (live name, one root) decide.
    await this.#run('store.createEntry', () =>
      this.#transaction(async (trx) => {
        await trx.insertInto('entries').values(entryRow(entry)).execute();
        await this.#addVersion(trx, entry);
        await this.#putGrants(trx, entry);
      }),
    );
  }

  async #addVersion(trx: Kysely<Database>, entry: EntryRecord): Promise<void> {
    await trx
      .insertInto('entry_versions')
      .values({
        id: entry.id,
        version: entry.version,
        envelope: toDb(entry.envelope),
        writer: entry.writer,
        created_at: entry.updatedAt,
      })
      .execute();
  }

  async #putGrants(trx: Kysely<Database>, entry: EntryRecord): Promise<void> {
    for (const part of chunks(grantRows(entry.id, entry.grants))) {
      await trx.insertInto('entry_grants').values(part).execute();
    }
  }

  async getEntry(id: FileId): Promise<EntryRecord | undefined> {
    const row = await this.#run('store.getEntry', (db) =>
      this.#entries(db).where('e.id', '=', id).executeTakeFirst(),
    );
    return row === undefined ? undefined : entryFromRow(row);
  }

  async findEntry(parent: FileId, tag: Uint8Array): Promise<EntryRecord | undefined> {
    const row = await this.#run('store.findEntry', (db) =>
      this.#entries(db)
        .where('e.parent', '=', parent)
        .where('e.tag', '=', toDb(tag))
        .where('e.deleted_at', 'is', null)
        .executeTakeFirst(),
    );
    return row === undefined ? undefined : entryFromRow(row);
  }

  async rootOf(owner: UserName): Promise<EntryRecord | undefined> {
    const row = await this.#run('store.rootOf', (db) =>
      this.#entries(db)
        .where('e.owner', '=', owner)
        .where('e.parent', 'is', null)
        .executeTakeFirst(),
    );
    return row === undefined ? undefined : entryFromRow(row);
  }

  async listChildren(parent: FileId, viewer: UserName): Promise<EntryRecord[]> {
    const rows = await this.#run('store.listChildren', (db) =>
      this.#entries(db)
        .where('e.parent', '=', parent)
        .where('e.deleted_at', 'is', null)
        .where((eb) =>
          eb.or([
            eb('e.owner', '=', viewer),
            eb.exists(
              eb
                .selectFrom('entry_grants as v')
                .select('v.pos')
                .whereRef('v.entry_id', '=', 'e.id')
                .where('v.user_name', '=', viewer),
            ),
          ]),
        )
        .orderBy('e.id')
        .execute(),
    );
    return rows.map(entryFromRow);
  }

  async updateEntry(
    entry: EntryRecord,
    expectedVersion: number,
    audit?: readonly AuditEvent[],
  ): Promise<void> {
    const op = 'store.updateEntry';
    if (entry.version !== expectedVersion + 1) {
      throw new FsError('invalid', `${op}: the new version must follow the expected one`, { op });
    }
    const events = prepareAudit(audit);
    await this.#run(op, () =>
      this.#transaction(async (trx) => {
        // Compare-and-swap: the row changes only if it is still at the version the caller read.
        const { id, ...changes } = entryRow(entry);
        const result = await trx
          .updateTable('entries')
          .set(changes)
          .where('id', '=', id)
          .where('version', '=', expectedVersion)
          .executeTakeFirst();
        if (result.numUpdatedRows === 0n) {
          const current = await trx
            .selectFrom('entries')
            .select('version')
            .where('id', '=', entry.id)
            .executeTakeFirst();
          throw current === undefined
            ? new FsError('not-exist', `${op}: no such entry`, { op })
            : new FsError('conflict', `${op}: the entry changed since it was read`, { op });
        }
        await this.#addVersion(trx, entry);
        await trx.deleteFrom('entry_grants').where('entry_id', '=', entry.id).execute();
        await this.#putGrants(trx, entry);
        await this.#chainAudit(trx, events);
      }),
    );
  }

  async entryVersions(id: FileId): Promise<EntryVersionRecord[]> {
    const rows = await this.#run('store.entryVersions', (db) =>
      db.selectFrom('entry_versions').selectAll().where('id', '=', id).orderBy('version').execute(),
    );
    return rows.map(versionFromRow);
  }

  async entryVersion(id: FileId, version: number): Promise<EntryVersionRecord | undefined> {
    const row = await this.#run('store.entryVersion', (db) =>
      db
        .selectFrom('entry_versions')
        .selectAll()
        .where('id', '=', id)
        .where('version', '=', version)
        .executeTakeFirst(),
    );
    return row === undefined ? undefined : versionFromRow(row);
  }

  async listSharedWith(user: UserName): Promise<SharedEntryRecord[]> {
    // Both grant lookups go through entry_grants_user (user_name, entry_id). `top` is 0 when
    // the user may read a live parent (owns it or has a grant on it), else 1: an integer, so
    // both engines return the same type. Owners are text ordered bytewise on both engines (see
    // `sortedText` in migrations.ts; this column is plain text, so the collation is asked here).
    const byOwner = this.#engine === 'postgres' ? sql`e.owner collate "C"` : sql`e.owner`;
    const rows = await this.#run('store.listSharedWith', (db) =>
      this.#entries(db)
        .select((eb) =>
          eb
            .case()
            .when(
              eb.exists(
                eb
                  .selectFrom('entries as p')
                  .select('p.id')
                  .whereRef('p.id', '=', 'e.parent')
                  .where('p.deleted_at', 'is', null)
                  .where((pb) =>
                    pb.or([
                      pb('p.owner', '=', user),
                      pb.exists(
                        pb
                          .selectFrom('entry_grants as pg')
                          .select('pg.pos')
                          .whereRef('pg.entry_id', '=', 'p.id')
                          .where('pg.user_name', '=', user),
                      ),
                    ]),
                  ),
              ),
            )
            .then(sql.lit(0))
            .else(sql.lit(1))
            .end()
            .as('top'),
        )
        .where('e.deleted_at', 'is', null)
        .where('e.owner', '<>', user)
        .where((eb) =>
          eb.exists(
            eb
              .selectFrom('entry_grants as g')
              .select('g.pos')
              .whereRef('g.entry_id', '=', 'e.id')
              .where('g.user_name', '=', user),
          ),
        )
        .orderBy(byOwner)
        .orderBy('e.id')
        .execute(),
    );
    return rows.map((row) => ({ entry: entryFromRow(row), top: Number(row.top) === 1 }));
  }

  async listTrash(owner: UserName): Promise<EntryRecord[]> {
    const rows = await this.#run('store.listTrash', (db) =>
      this.#entries(db)
        .where('e.owner', '=', owner)
        .where('e.deleted_at', 'is not', null)
        .orderBy('e.deleted_at', 'desc')
        .orderBy('e.id')
        .execute(),
    );
    return rows.map(entryFromRow);
  }

  async purgeEntry(id: FileId, audit?: readonly AuditEvent[]): Promise<void> {
    const events = prepareAudit(audit);
    await this.#run('store.purgeEntry', () =>
      this.#transaction(async (trx) => {
        await trx.deleteFrom('entries').where('id', '=', id).execute();
        await this.#deleteHistory(trx, [id]);
        await this.#chainAudit(trx, events);
      }),
    );
  }

  async purgeDeletedBefore(before: number): Promise<FileId[]> {
    const ids = await this.#run('store.purgeDeletedBefore', () =>
      this.#transaction(async (trx) => {
        // Entries first, selected and deleted in one statement: an entry restored meanwhile
        // no longer matches, so it keeps its history and grants.
        const rows = await trx
          .deleteFrom('entries')
          .where('deleted_at', 'is not', null)
          .where('deleted_at', '<', before)
          .where(
            sql<boolean>`not exists (select 1 from protected_entries p where p.entry_id = entries.id)`,
          )
          .returning('id')
          .execute();
        const purged = rows.map((row) => row.id);
        await this.#deleteHistory(trx, purged);
        return purged;
      }),
    );
    return ids.map(fileIdOf);
  }

  async purgeExpiredTrash(now: number, policy: TrashPolicy): Promise<FileId[]> {
    const { defaultMs, minMs, maxMs, graceMs } = policy;
    // Each entry's cutoff comes from its owner's row, in the same statement that deletes it;
    // a CASE rather than least()/greatest() or min()/max(), which the engines spell apart.
    const retention = sql<number>`(select case
        when u.retention_ms is null then ${defaultMs}
        when u.retention_ms < ${minMs} then ${minMs}
        when u.retention_ms > ${maxMs} then ${maxMs}
        else u.retention_ms end
      from users u where u.name = entries.owner)`;
    const ids = await this.#run('store.purgeExpiredTrash', () =>
      this.#transaction(async (trx) => {
        const rows = await trx
          .deleteFrom('entries')
          .where('deleted_at', 'is not', null)
          .where(sql<boolean>`deleted_at + ${retention} + ${graceMs} < ${now}`)
          // Kept while an unacknowledged alert protects it (a burst of deletions).
          .where(
            sql<boolean>`not exists (select 1 from protected_entries p where p.entry_id = entries.id)`,
          )
          .returning('id')
          .execute();
        const purged = rows.map((row) => row.id);
        await this.#deleteHistory(trx, purged);
        return purged;
      }),
    );
    return ids.map(fileIdOf);
  }

  /**
   * Deletes versions and grants of purged entries. The foreign keys cascade already; this
   * keeps the result the same on a connection where SQLite's foreign_keys pragma is off.
   */
  async #deleteHistory(trx: Kysely<Database>, ids: readonly string[]): Promise<void> {
    for (const part of chunks(ids)) {
      await trx.deleteFrom('entry_versions').where('id', 'in', part).execute();
      await trx.deleteFrom('entry_grants').where('entry_id', 'in', part).execute();
    }
  }

  // Per-user settings

  async getRetention(user: UserName): Promise<number | null> {
    const op = 'store.getRetention';
    const row = await this.#run(op, (db) =>
      db.selectFrom('users').select('retention_ms').where('name', '=', user).executeTakeFirst(),
    );
    if (row === undefined) throw new FsError('not-exist', `${op}: no such user`, { op });
    return row.retention_ms;
  }

  async setRetention(user: UserName, retentionMs: number | null): Promise<void> {
    const op = 'store.setRetention';
    const result = await this.#run(op, (db) =>
      db
        .updateTable('users')
        .set({ retention_ms: retentionMs })
        .where('name', '=', user)
        .executeTakeFirst(),
    );
    if (result.numUpdatedRows === 0n) {
      throw new FsError('not-exist', `${op}: no such user`, { op });
    }
  }

  // Peers

  async upsertPeer(peer: PeerRecord): Promise<void> {
    await this.#run('store.upsertPeer', (db) =>
      db
        .insertInto('peers')
        .values({
          id: peer.id,
          key: toDb(peer.key),
          address: peer.address,
          capacity: peer.capacity,
          registered_at: peer.registeredAt,
          last_seen: peer.lastSeen,
          record: toDb(peer.record),
        })
        .onConflict((oc) =>
          oc.column('id').doUpdateSet((eb) => ({
            key: eb.ref('excluded.key'),
            address: eb.ref('excluded.address'),
            capacity: eb.ref('excluded.capacity'),
            registered_at: eb.ref('excluded.registered_at'),
            last_seen: eb.ref('excluded.last_seen'),
            record: eb.ref('excluded.record'),
          })),
        )
        .execute(),
    );
  }

  async getPeer(id: string): Promise<PeerRecord | undefined> {
    const row = await this.#run('store.getPeer', (db) =>
      db.selectFrom('peers').selectAll().where('id', '=', id).executeTakeFirst(),
    );
    return row === undefined ? undefined : peerFromRow(row);
  }

  async listPeers(seenSince: number): Promise<PeerRecord[]> {
    const rows = await this.#run('store.listPeers', (db) =>
      db
        .selectFrom('peers')
        .selectAll()
        .where('last_seen', '>=', seenSince)
        .orderBy('id')
        .execute(),
    );
    return rows.map(peerFromRow);
  }

  // Peer health

  async addPeerStrike(strike: PeerStrike, audit?: readonly AuditEvent[]): Promise<boolean> {
    const events = prepareAudit(audit);
    // The primary key (peer, reporter, block) de-duplicates: of two concurrent reports of one
    // block by one reporter, one inserts the row and the other inserts nothing.
    return this.#run('store.addPeerStrike', () =>
      this.#transaction(async (trx) => {
        const row = await trx
          .insertInto('peer_strikes')
          .values({
            peer_id: strike.peer,
            reporter: strike.reporter,
            block_id: strike.block,
            file_id: strike.file,
            reason: strike.reason,
            created_at: strike.time,
          })
          .onConflict((oc) => oc.columns(['peer_id', 'reporter', 'block_id']).doNothing())
          .returning('peer_id')
          .executeTakeFirst();
        if (row === undefined) return false;
        await this.#chainAudit(trx, events);
        return true;
      }),
    );
  }

  async listPeerStrikes(peer?: string): Promise<PeerStrike[]> {
    const rows = await this.#run('store.listPeerStrikes', (db) => {
      let query = db.selectFrom('peer_strikes').selectAll();
      if (peer !== undefined) query = query.where('peer_id', '=', peer);
      return query.orderBy('peer_id').orderBy('created_at').orderBy('block_id').execute();
    });
    return rows.map((row) => ({
      peer: row.peer_id,
      reporter: parseUserName(row.reporter),
      block: row.block_id,
      file: row.file_id,
      reason: row.reason === 'audit' ? 'audit' : 'integrity',
      time: Number(row.created_at),
    }));
  }

  async quarantinePeer(peer: string, now: number, audit?: readonly AuditEvent[]): Promise<boolean> {
    const events = prepareAudit(audit);
    return this.#run('store.quarantinePeer', () =>
      this.#transaction(async (trx) => {
        const row = await trx
          .insertInto('peer_quarantine')
          .values({ peer_id: peer, created_at: now })
          .onConflict((oc) => oc.column('peer_id').doNothing())
          .returning('peer_id')
          .executeTakeFirst();
        if (row === undefined) return false;
        await this.#chainAudit(trx, events);
        return true;
      }),
    );
  }

  async releasePeer(peer: string, audit?: readonly AuditEvent[]): Promise<boolean> {
    const events = prepareAudit(audit);
    return this.#run('store.releasePeer', () =>
      this.#transaction(async (trx) => {
        const row = await trx
          .deleteFrom('peer_quarantine')
          .where('peer_id', '=', peer)
          .returning('peer_id')
          .executeTakeFirst();
        await trx.deleteFrom('peer_strikes').where('peer_id', '=', peer).execute();
        await this.#chainAudit(trx, events);
        return row !== undefined;
      }),
    );
  }

  async listQuarantinedPeers(): Promise<{ peer: string; since: number }[]> {
    const rows = await this.#run('store.listQuarantinedPeers', (db) =>
      db.selectFrom('peer_quarantine').selectAll().orderBy('peer_id').execute(),
    );
    return rows.map((row) => ({ peer: row.peer_id, since: Number(row.created_at) }));
  }

  // Block releases

  async appendRelease(user: UserName, envelope: Uint8Array, now: number): Promise<number> {
    // Readers page through the log with "seq > the last one I saw", so a release must never
    // become visible after one with a larger seq: that reader would skip it for good. SQLite
    // has one writer at a time, so an insert's seq and its commit come in the same order.
    // PostgreSQL hands out identity values outside transactions, so two concurrent appends
    // could commit in the opposite order; an EXCLUSIVE table lock (which blocks other writers
    // until commit, never plain readers) serialises appends from every process.
    const insert = (db: Kysely<Database>) =>
      db
        .insertInto('block_releases')
        .values({ user_name: user, envelope: toDb(envelope), created_at: now })
        .returning('seq')
        .executeTakeFirstOrThrow();
    const row = await this.#run('store.appendRelease', (db) =>
      this.#engine === 'postgres'
        ? this.#transaction(async (trx) => {
            await sql`lock table block_releases in exclusive mode`.execute(trx);
            return insert(trx);
          })
        : insert(db),
    );
    return row.seq;
  }

  async listReleases(after: number, limit: number): Promise<ReleaseRecord[]> {
    if (limit < 1) return [];
    const rows = await this.#run('store.listReleases', (db) =>
      db
        .selectFrom('block_releases')
        .selectAll()
        .where('seq', '>', after)
        .orderBy('seq')
        .limit(limit)
        .execute(),
    );
    return rows.map(releaseFromRow);
  }

  // Groups

  async listGroups(owner: UserName): Promise<GroupRecord[]> {
    const rows = await this.#run('store.listGroups', (db) =>
      db.selectFrom('groups').selectAll().where('owner', '=', owner).orderBy('name').execute(),
    );
    return rows.map(groupFromRow);
  }

  async getGroup(owner: UserName, name: GroupName): Promise<GroupRecord | undefined> {
    const row = await this.#run('store.getGroup', (db) =>
      db
        .selectFrom('groups')
        .selectAll()
        .where('owner', '=', owner)
        .where('name', '=', name)
        .executeTakeFirst(),
    );
    return row === undefined ? undefined : groupFromRow(row);
  }

  async putGroup(record: GroupRecord, expectedVersion: number): Promise<void> {
    const op = 'store.putGroup';
    if (record.version !== expectedVersion + 1) {
      throw new FsError('invalid', `${op}: the new version must follow the expected one`, { op });
    }
    const values = {
      version: record.version,
      envelope: toDb(record.envelope),
      updated_at: record.updatedAt,
    };
    if (expectedVersion === 0) {
      // The primary key decides between two creations; the foreign key refuses an unknown owner.
      await this.#run(op, (db) =>
        db
          .insertInto('groups')
          .values({ owner: record.owner, name: record.name, ...values })
          .execute(),
      );
      return;
    }
    // Compare-and-swap in one statement: the row changes only if still at the version read.
    const result = await this.#run(op, (db) =>
      db
        .updateTable('groups')
        .set(values)
        .where('owner', '=', record.owner)
        .where('name', '=', record.name)
        .where('version', '=', expectedVersion)
        .executeTakeFirst(),
    );
    if (result.numUpdatedRows === 0n) {
      throw new FsError('conflict', `${op}: the group changed or was deleted since it was read`, {
        op,
      });
    }
  }

  async deleteGroup(owner: UserName, name: GroupName): Promise<void> {
    const op = 'store.deleteGroup';
    const result = await this.#run(op, (db) =>
      db
        .deleteFrom('groups')
        .where('owner', '=', owner)
        .where('name', '=', name)
        .executeTakeFirst(),
    );
    if (result.numDeletedRows === 0n)
      throw new FsError('not-exist', `${op}: no such group`, { op });
  }

  // Audit log

  async appendAudit(events: readonly AuditEvent[]): Promise<AuditRecord[]> {
    const prepared = prepareAudit(events);
    if (prepared.length === 0) return [];
    return this.#run('store.appendAudit', () =>
      this.#transaction((trx) => this.#chainAudit(trx, prepared)),
    );
  }

  async listAudit(after: number, limit: number, subject?: UserName): Promise<AuditRecord[]> {
    if (limit < 1) return [];
    // Subjects aggregated in the same statement, so a record never comes with another's.
    const subjects = sql<
      string | null
    >`(select string_agg(s.user_name, ',' order by s.user_name) from audit_subjects s where s.seq = a.seq)`;
    const rows = await this.#run('store.listAudit', (db) =>
      subject === undefined
        ? db
            .selectFrom('audit_log as a')
            .selectAll('a')
            .select(subjects.as('subjects'))
            .where('a.seq', '>', after)
            .orderBy('a.seq')
            .limit(limit)
            .execute()
        : // One user's records, driven by the (user_name, seq) key: a user with few records in
          // a long log costs a few index reads, not a scan.
          db
            .selectFrom('audit_subjects as m')
            .innerJoin('audit_log as a', 'a.seq', 'm.seq')
            .selectAll('a')
            .select(subjects.as('subjects'))
            .where('m.user_name', '=', subject)
            .where('m.seq', '>', after)
            .orderBy('m.seq')
            .limit(limit)
            .execute(),
    );
    return rows.map(auditFromRow);
  }

  async auditHead(): Promise<{ seq: number; hash: Uint8Array; checkpoint: number }> {
    return this.#run('store.auditHead', async (db) => {
      const head = await db
        .selectFrom('audit_log')
        .select(['seq', 'hash'])
        .orderBy('seq', 'desc')
        .limit(1)
        .executeTakeFirst();
      const checkpoint = await db
        .selectFrom('audit_checkpoints')
        .select('seq')
        .orderBy('seq', 'desc')
        .limit(1)
        .executeTakeFirst();
      return {
        seq: head?.seq ?? 0,
        hash: head === undefined ? zeroAuditHash : fromDb(head.hash),
        checkpoint: checkpoint?.seq ?? 0,
      };
    });
  }

  async auditSeqAt(time: number): Promise<number> {
    return this.#run('store.auditSeqAt', async (db) => {
      // The record at `seq` or the next one after it (a gap is a removed record).
      const at = (seq: number) =>
        db
          .selectFrom('audit_log')
          .select(['seq', 'created_at'])
          .where('seq', '>=', seq)
          .orderBy('seq')
          .limit(1)
          .executeTakeFirst();
      const last = await db
        .selectFrom('audit_log')
        .select(['seq', 'created_at'])
        .orderBy('seq', 'desc')
        .limit(1)
        .executeTakeFirst();
      if (last === undefined) return 1;
      if (last.created_at < time) return last.seq + 1;
      // Invariant: the answer is in (low, high]; the first record at or after `high` is at or
      // after `time`, and every record up to `low` is before it.
      let low = 0;
      let high = last.seq;
      while (high - low > 1) {
        const middle = Math.floor((low + high) / 2);
        const row = await at(middle);
        if (row !== undefined && row.created_at >= time) high = middle;
        else low = row?.seq ?? middle;
      }
      return high;
    });
  }

  async addAuditCheckpoint(checkpoint: AuditCheckpointRecord): Promise<void> {
    await this.#run('store.addAuditCheckpoint', (db) =>
      db
        .insertInto('audit_checkpoints')
        .values({
          seq: checkpoint.seq,
          hash: toDb(checkpoint.hash),
          created_at: checkpoint.time,
          envelope: toDb(checkpoint.envelope),
        })
        .execute(),
    );
  }

  async listAuditCheckpoints(after: number, limit: number): Promise<AuditCheckpointRecord[]> {
    if (limit < 1) return [];
    const rows = await this.#run('store.listAuditCheckpoints', (db) =>
      db
        .selectFrom('audit_checkpoints')
        .selectAll()
        .where('seq', '>', after)
        .orderBy('seq')
        .limit(limit)
        .execute(),
    );
    return rows.map(checkpointFromRow);
  }

  // Alerts

  async raiseAlert(
    alert: NewAlert,
    windowMs: number,
    protect: readonly FileId[],
    audit: (alert: AlertRecord) => AuditEvent,
  ): Promise<{ alert: AlertRecord; created: boolean }> {
    return this.#run('store.raiseAlert', () =>
      this.#transaction(async (trx) => {
        const open = await trx
          .selectFrom('alerts')
          .selectAll()
          .where('dedupe_key', '=', alert.dedupeKey)
          .where('acked_at', 'is', null)
          .where('last_at', '>=', alert.time - windowMs)
          .orderBy('id', 'desc')
          .limit(1)
          .executeTakeFirst();
        let id: number;
        let created: boolean;
        if (open !== undefined) {
          id = Number(open.id);
          created = false;
          await trx
            .updateTable('alerts')
            .set({ count: open.count + alert.count, last_at: Math.max(open.last_at, alert.time) })
            .where('id', '=', open.id)
            .execute();
        } else {
          const row = await trx
            .insertInto('alerts')
            .values({
              audience: alert.audience,
              admin: alert.admin ? 1 : 0,
              rule: alert.rule,
              severity: alert.severity,
              summary: alert.summary,
              action: alert.action,
              dedupe_key: alert.dedupeKey,
              first_at: alert.time,
              last_at: alert.time,
              count: alert.count,
              acked_at: null,
            })
            .returning('id')
            .executeTakeFirstOrThrow();
          id = Number(row.id);
          created = true;
        }
        for (const part of chunks(protect)) {
          await trx
            .insertInto('protected_entries')
            .values(part.map((entry) => ({ entry_id: entry, alert_id: id })))
            .onConflict((oc) => oc.columns(['entry_id', 'alert_id']).doNothing())
            .execute();
        }
        const stored = alertFromRow(
          await trx.selectFrom('alerts').selectAll().where('id', '=', id).executeTakeFirstOrThrow(),
        );
        if (created) await this.#chainAudit(trx, prepareAudit([audit(stored)]));
        return { alert: stored, created };
      }),
    );
  }

  async listAlerts(reader?: UserName): Promise<AlertRecord[]> {
    const rows = await this.#run('store.listAlerts', (db) => {
      let query = db.selectFrom('alerts').selectAll();
      if (reader !== undefined) query = query.where('audience', '=', reader);
      return query
        .orderBy(sql`case when acked_at is null then 0 else 1 end`)
        .orderBy('id', 'desc')
        .execute();
    });
    return rows.map(alertFromRow);
  }

  async getAlert(id: number): Promise<AlertRecord | undefined> {
    const row = await this.#run('store.getAlert', (db) =>
      db.selectFrom('alerts').selectAll().where('id', '=', id).executeTakeFirst(),
    );
    return row === undefined ? undefined : alertFromRow(row);
  }

  async ackAlert(id: number, now: number): Promise<AlertRecord> {
    const op = 'store.ackAlert';
    return this.#run(op, () =>
      this.#transaction(async (trx) => {
        await trx
          .updateTable('alerts')
          .set({ acked_at: now })
          .where('id', '=', id)
          .where('acked_at', 'is', null)
          .execute();
        const row = await trx
          .selectFrom('alerts')
          .selectAll()
          .where('id', '=', id)
          .executeTakeFirst();
        if (row === undefined) throw new FsError('not-exist', `${op}: no such alert`, { op });
        await trx.deleteFrom('protected_entries').where('alert_id', '=', id).execute();
        return alertFromRow(row);
      }),
    );
  }

  async protectingAlerts(entry: FileId): Promise<number[]> {
    const rows = await this.#run('store.protectingAlerts', (db) =>
      db
        .selectFrom('protected_entries')
        .select('alert_id')
        .where('entry_id', '=', entry)
        .orderBy('alert_id')
        .execute(),
    );
    return rows.map((row) => Number(row.alert_id));
  }

  async setRole(
    user: UserName,
    role: UserRecord['role'],
    audit?: readonly AuditEvent[],
  ): Promise<void> {
    const op = 'store.setRole';
    const events = prepareAudit(audit);
    await this.#run(op, () =>
      this.#transaction(async (trx) => {
        const result = await trx
          .updateTable('users')
          .set({ role })
          .where('name', '=', user)
          .executeTakeFirst();
        if (result.numUpdatedRows === 0n) {
          throw new FsError('not-exist', `${op}: no such user`, { op });
        }
        await this.#chainAudit(trx, events);
      }),
    );
  }
}

/**
 * A {@link DirectoryStore} over `db`, which it owns from now on (its `close()` destroys `db`).
 * `engine` says which SQL the database speaks where the two differ (migrations, transactions).
 * Does not migrate: call `migrate()` (the open functions in open-store.ts do).
 */
export function createKyselyStore(db: Kysely<Database>, engine: StoreEngine): DirectoryStore {
  return new KyselyDirectoryStore(db, engine);
}

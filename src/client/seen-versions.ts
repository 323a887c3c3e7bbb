/**
 * Seen versions: what this device remembers of the entry versions it has verified or written,
 * so that a directory that later rolls an entry back, or shows another device a different
 * history, is caught (DESIGN.md section 2: "each client remembers the highest version it has
 * seen"; section 7). It also holds the device's own alerts: what this device caught is kept
 * here, where the directory (the suspect) cannot delete it.
 *
 * A row is one version of one entry: its number, its chain hash (the hash the next version
 * names as `prev`), the signed envelope (the evidence shown to another peer when the two
 * disagree, src/peer/head-gossip.ts) and who on this device saw it. Every version is signed by
 * its writer and was verified before it is recorded, so nothing here is secret from the
 * directory: it holds the same envelopes.
 *
 * Storage: SQLite (better-sqlite3, synchronous) in the peer's data directory (`seen.sqlite`),
 * so that checking a version and recording it happen in one turn of the event loop, and a
 * crash never leaves half a record (each call is one transaction). The last
 * {@link versionsKept} versions of each entry are kept; older ones are dropped (a rollback is
 * judged against the newest, a fork against any version two devices both kept).
 */
import { chmodSync } from 'node:fs';
import SqliteDatabase from 'better-sqlite3';
import { FsError } from '../interface/errors.js';
import { constantTimeEqual } from '../crypto/bytes.js';
import { type FileId, parseFileId } from '../interface/ids.js';
import { parseUserName, type UserName } from '../interface/names.js';

/** Versions kept per entry. */
export const versionsKept = 16;

/** One version of an entry this device saw. */
export interface SeenVersion {
  entry: FileId;
  version: number;
  /** chainHash of its envelope (32 bytes). */
  hash: Uint8Array;
  /** The signed envelope, as the directory gave it. */
  envelope: Uint8Array;
  /** The user of this device who saw it. */
  user: UserName;
  /** When, in ms since the epoch. */
  at: number;
}

/** A version as peers gossip it: no envelope, no user. */
export interface VersionHead {
  entry: FileId;
  version: number;
  hash: Uint8Array;
}

/** What a device's own alert is about (docs/monitor.md, "Alerts a device raises"). */
export type DeviceAlertRule =
  'entry-rollback' | 'entry-fork' | 'entry-forged' | 'key-log-fork' | 'audit-log-rewritten';

/** An alert this device raised on its own evidence. */
export interface DeviceAlert {
  id: number;
  user: UserName;
  rule: DeviceAlertRule;
  /** What it is about: an entry id, or `key-log:USER` for a user's key log. */
  subject: string;
  severity: 'critical';
  summary: string;
  action: string;
  /** What was seen, for the record (versions, hashes, which peer); nothing secret. */
  evidence: string;
  firstAt: number;
  lastAt: number;
  count: number;
  ackedAt: number | null;
}

/** A new device alert: raised, or counted up when an unread one has the same user, rule and subject. */
export type NewDeviceAlert = Omit<
  DeviceAlert,
  'id' | 'firstAt' | 'lastAt' | 'count' | 'ackedAt'
> & {
  at: number;
};

/** A signed checkpoint of the directory's audit log, kept as a witness (head-gossip.ts). */
export interface WitnessedCheckpoint {
  seq: number;
  hash: Uint8Array;
  /** The `audit-checkpoint/v1` envelope, signed by the directory. */
  envelope: Uint8Array;
  /** When this device first held it. */
  at: number;
}

/** The device's store (module comment). */
export interface SeenVersions {
  /** The newest version seen of `entry`. */
  latest(entry: FileId): SeenVersion | undefined;
  /** Version `version` of `entry`, when still kept. */
  at(entry: FileId, version: number): SeenVersion | undefined;
  /**
   * Records versions (verified by the caller); a version already recorded is left as it is.
   * @throws FsError `unavailable` when the store cannot be written.
   */
  record(versions: readonly SeenVersion[]): void;
  /** Versions recorded after `cursor` (oldest first, at most `limit`), for gossip. */
  since(cursor: number, limit: number): { heads: VersionHead[]; cursor: number };
  /** Every user of this device who saw any kept version of `entry`. */
  usersOf(entry: FileId): UserName[];
  /** Every user of this device who saw any kept version of any entry. */
  users(): UserName[];
  /**
   * Keeps a checkpoint (verified by the caller). Returns the one already kept under its `seq`
   * when that one differs (the directory signed two heads for one record: a rewritten log), else
   * undefined.
   */
  witness(checkpoint: WitnessedCheckpoint): WitnessedCheckpoint | undefined;
  /** The checkpoints kept, oldest first (at most `limit`, after `seq` `after`). */
  witnessed(after: number, limit: number): WitnessedCheckpoint[];
  /** The newest checkpoint kept. */
  latestWitnessed(): WitnessedCheckpoint | undefined;
  /** Raises (or counts up) a device alert; returns it. */
  raise(alert: NewDeviceAlert): DeviceAlert;
  /** `user`'s device alerts, unread first, then newest first. */
  alerts(user: UserName): DeviceAlert[];
  /** Marks `user`'s alert `id` read. @throws FsError `not-exist` */
  ack(user: UserName, id: number, now: number): DeviceAlert;
  close(): void;
}

interface VersionRow {
  seq: number;
  entry: string;
  version: number;
  hash: Buffer;
  envelope: Buffer;
  user: string;
  at: number;
}

interface CheckpointRow {
  seq: number;
  hash: Buffer;
  envelope: Buffer;
  at: number;
}

const checkpointOf = (row: CheckpointRow): WitnessedCheckpoint => ({
  seq: row.seq,
  hash: new Uint8Array(row.hash),
  envelope: new Uint8Array(row.envelope),
  at: row.at,
});

interface AlertRow {
  id: number;
  user: string;
  rule: string;
  subject: string;
  severity: string;
  summary: string;
  action: string;
  evidence: string;
  first_at: number;
  last_at: number;
  count: number;
  acked_at: number | null;
}

const schema = `
CREATE TABLE IF NOT EXISTS seen_version (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  entry TEXT NOT NULL,
  version INTEGER NOT NULL,
  hash BLOB NOT NULL,
  envelope BLOB NOT NULL,
  user TEXT NOT NULL,
  at INTEGER NOT NULL,
  UNIQUE (entry, version)
);
CREATE TABLE IF NOT EXISTS device_alert (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  user TEXT NOT NULL,
  rule TEXT NOT NULL,
  subject TEXT NOT NULL,
  severity TEXT NOT NULL,
  summary TEXT NOT NULL,
  action TEXT NOT NULL,
  evidence TEXT NOT NULL,
  first_at INTEGER NOT NULL,
  last_at INTEGER NOT NULL,
  count INTEGER NOT NULL,
  acked_at INTEGER
);
CREATE INDEX IF NOT EXISTS device_alert_user ON device_alert (user, acked_at);
CREATE TABLE IF NOT EXISTS audit_checkpoint (
  seq INTEGER PRIMARY KEY,
  hash BLOB NOT NULL,
  envelope BLOB NOT NULL,
  at INTEGER NOT NULL
);
`;

/** Format of the file, in SQLite's user_version: a newer file is refused, not misread. */
const fileFormat = 1;

function versionOf(row: VersionRow): SeenVersion {
  return {
    entry: parseFileId(row.entry),
    version: row.version,
    hash: new Uint8Array(row.hash),
    envelope: new Uint8Array(row.envelope),
    user: parseUserName(row.user),
    at: row.at,
  };
}

function alertOf(row: AlertRow): DeviceAlert {
  return {
    id: row.id,
    user: parseUserName(row.user),
    rule: row.rule as DeviceAlertRule,
    subject: row.subject,
    severity: 'critical',
    summary: row.summary,
    action: row.action,
    evidence: row.evidence,
    firstAt: row.first_at,
    lastAt: row.last_at,
    count: row.count,
    ackedAt: row.acked_at,
  };
}

/**
 * Opens the store in the SQLite file at `path` (created when missing), or in memory for
 * `':memory:'` (tests and one-off clients).
 * @throws FsError `integrity` for a file of a newer format or not a database; `unavailable`
 *   when it cannot be opened.
 */
export function openSeenVersions(path: string): SeenVersions {
  const op = 'seen-versions.open';
  let db: SqliteDatabase.Database;
  try {
    db = new SqliteDatabase(path);
    // Like every file of a peer's data directory (and before SQLite makes its -wal and -shm
    // files, which take this file's mode).
    if (path !== ':memory:') chmodSync(path, 0o600);
    db.pragma('journal_mode = WAL');
    // Each record is a commit; a crash may lose the last few (the device then trusts those
    // versions on first sight again), never corrupt the file.
    db.pragma('synchronous = NORMAL');
    const format = db.pragma('user_version', { simple: true }) as number;
    if (format > fileFormat) {
      db.close();
      throw new FsError(
        'integrity',
        `${path} was written by a newer PeerVault (format ${format}); upgrade this peer`,
        { op },
      );
    }
    db.exec(schema);
    db.pragma(`user_version = ${fileFormat}`);
  } catch (err) {
    if (err instanceof FsError) throw err;
    const code = (err as { code?: unknown }).code;
    throw new FsError(
      code === 'SQLITE_NOTADB' || code === 'SQLITE_CORRUPT' ? 'integrity' : 'unavailable',
      `cannot open ${path}, where this device remembers the entry versions it saw: ` +
        `${(err as Error).message}. Move it aside to start over (the device then trusts the ` +
        'next version it sees of each entry, as on first use)',
      { op },
    );
  }

  const latest = db.prepare<[string], VersionRow>(
    'SELECT * FROM seen_version WHERE entry = ? ORDER BY version DESC LIMIT 1',
  );
  const atVersion = db.prepare<[string, number], VersionRow>(
    'SELECT * FROM seen_version WHERE entry = ? AND version = ?',
  );
  const insert = db.prepare(
    'INSERT OR IGNORE INTO seen_version (entry, version, hash, envelope, user, at) VALUES (?, ?, ?, ?, ?, ?)',
  );
  const trim = db.prepare(
    `DELETE FROM seen_version WHERE entry = ? AND version <= (
       SELECT version FROM seen_version WHERE entry = ? ORDER BY version DESC LIMIT 1 OFFSET ${versionsKept}
     )`,
  );
  const since = db.prepare<
    [number, number],
    Pick<VersionRow, 'seq' | 'entry' | 'version' | 'hash'>
  >('SELECT seq, entry, version, hash FROM seen_version WHERE seq > ? ORDER BY seq LIMIT ?');
  const allUsers = db.prepare<[], { user: string }>(
    'SELECT DISTINCT user FROM seen_version ORDER BY user',
  );
  const users = db.prepare<[string], { user: string }>(
    'SELECT DISTINCT user FROM seen_version WHERE entry = ? ORDER BY user',
  );
  const unreadAlike = db.prepare<[string, string, string], AlertRow>(
    'SELECT * FROM device_alert WHERE user = ? AND rule = ? AND subject = ? AND acked_at IS NULL',
  );
  const readAlike = db.prepare<[string, string, string, string], AlertRow>(
    'SELECT * FROM device_alert WHERE user = ? AND rule = ? AND subject = ? AND evidence = ? AND acked_at IS NOT NULL LIMIT 1',
  );
  const countUp = db.prepare(
    'UPDATE device_alert SET count = count + 1, last_at = MAX(last_at, ?), evidence = ? WHERE id = ?',
  );
  const insertAlert = db.prepare(
    `INSERT INTO device_alert (user, rule, subject, severity, summary, action, evidence, first_at, last_at, count)
     VALUES (?, ?, ?, 'critical', ?, ?, ?, ?, ?, 1)`,
  );
  const alertById = db.prepare<[number], AlertRow>('SELECT * FROM device_alert WHERE id = ?');
  const checkpointAt = db.prepare<[number], CheckpointRow>(
    'SELECT * FROM audit_checkpoint WHERE seq = ?',
  );
  const insertCheckpoint = db.prepare(
    'INSERT OR IGNORE INTO audit_checkpoint (seq, hash, envelope, at) VALUES (?, ?, ?, ?)',
  );
  const checkpointsAfter = db.prepare<[number, number], CheckpointRow>(
    'SELECT * FROM audit_checkpoint WHERE seq > ? ORDER BY seq LIMIT ?',
  );
  const newestCheckpoint = db.prepare<[], CheckpointRow>(
    'SELECT * FROM audit_checkpoint ORDER BY seq DESC LIMIT 1',
  );
  const alertsOf = db.prepare<[string], AlertRow>(
    'SELECT * FROM device_alert WHERE user = ? ORDER BY acked_at IS NOT NULL, last_at DESC, id DESC LIMIT 500',
  );
  const markRead = db.prepare(
    'UPDATE device_alert SET acked_at = COALESCE(acked_at, ?) WHERE id = ? AND user = ?',
  );

  const write = <T>(what: string, run: () => T): T => {
    try {
      return run();
    } catch (err) {
      throw new FsError('unavailable', `cannot save ${what} to ${path}`, {
        op: 'seen-versions.save',
        cause: err,
      });
    }
  };
  const recordAll = db.transaction((versions: readonly SeenVersion[]) => {
    const touched = new Set<string>();
    for (const v of versions) {
      insert.run(v.entry, v.version, v.hash, v.envelope, v.user, v.at);
      touched.add(v.entry);
    }
    for (const entry of touched) trim.run(entry, entry);
  });
  const raise = db.transaction((alert: NewDeviceAlert): DeviceAlert => {
    const known = unreadAlike.get(alert.user, alert.rule, alert.subject);
    if (known !== undefined) {
      countUp.run(alert.at, alert.evidence, known.id);
      return alertOf(alertById.get(known.id)!);
    }
    // The same evidence, already acknowledged (seen again after a restart, say): not news.
    const read = readAlike.get(alert.user, alert.rule, alert.subject, alert.evidence);
    if (read !== undefined) return alertOf(read);
    const id = Number(
      insertAlert.run(
        alert.user,
        alert.rule,
        alert.subject,
        alert.summary,
        alert.action,
        alert.evidence,
        alert.at,
        alert.at,
      ).lastInsertRowid,
    );
    return alertOf(alertById.get(id)!);
  });

  return {
    latest: (entry) => {
      const row = latest.get(entry);
      return row === undefined ? undefined : versionOf(row);
    },
    at: (entry, version) => {
      const row = atVersion.get(entry, version);
      return row === undefined ? undefined : versionOf(row);
    },
    record: (versions) => {
      if (versions.length > 0) write('the versions seen', () => recordAll(versions));
    },
    since: (cursor, limit) => {
      const rows = since.all(cursor, limit);
      return {
        heads: rows.map((row) => ({
          entry: parseFileId(row.entry),
          version: row.version,
          hash: new Uint8Array(row.hash),
        })),
        cursor: rows.at(-1)?.seq ?? cursor,
      };
    },
    usersOf: (entry) => users.all(entry).map((row) => parseUserName(row.user)),
    users: () => allUsers.all().map((row) => parseUserName(row.user)),
    witness: (checkpoint) => {
      const known = checkpointAt.get(checkpoint.seq);
      if (known !== undefined) {
        return constantTimeEqual(checkpoint.hash, known.hash) ? undefined : checkpointOf(known);
      }
      write('a checkpoint', () =>
        insertCheckpoint.run(checkpoint.seq, checkpoint.hash, checkpoint.envelope, checkpoint.at),
      );
      return undefined;
    },
    witnessed: (after, limit) => checkpointsAfter.all(after, limit).map(checkpointOf),
    latestWitnessed: () => {
      const row = newestCheckpoint.get();
      return row === undefined ? undefined : checkpointOf(row);
    },
    raise: (alert) => write('an alert', () => raise(alert)),
    alerts: (user) => alertsOf.all(user).map(alertOf),
    ack: (user, id, now) => {
      const changed = write('an alert', () => markRead.run(now, id, user).changes);
      const row = alertById.get(id);
      if (changed === 0 || row === undefined || row.user !== user) {
        throw new FsError('not-exist', `this device has no alert D${id} of yours`, {
          op: 'alerts.ack',
        });
      }
      return alertOf(row);
    },
    close: () => {
      if (db.open) db.close();
    },
  };
}

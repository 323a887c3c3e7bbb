/**
 * The directory's storage port: everything the directory keeps, behind one interface with one
 * implementation per engine (SQLite, PostgreSQL) in src/directory/store/.
 *
 * The directory is stateless over its store: several directory processes over one PostgreSQL
 * database behave as one directory, so every piece of state that matters (login states, nonces,
 * throttles) lives here, and every check-then-act is one atomic statement or one transaction.
 *
 * What is stored is what the directory may know: user names, OPAQUE records, sealed (never
 * plain) private keys, public key logs, opaque entry ids and lookup tags, signed entry
 * envelopes whose names, manifests and keys are encrypted, grants by user name, peer records.
 * All times are milliseconds since the Unix epoch.
 */
import type { AuditCheckpointRecord, AuditEvent, AuditRecord } from './audit.js';
import type { GroupName } from './groups.js';
import type { FileId } from './ids.js';
import type { UserName } from './names.js';

export type { UserName };

/** An account. */
export interface UserRecord {
  name: UserName;
  createdAt: number;
  /** The OPAQUE registration record (opaque to the directory; base64url from the library). */
  opaqueRecord: string;
  /** The user's private identity, sealed under their OPAQUE export key (see docs/formats.md). */
  sealedKeys: Uint8Array;
  /** `admin` may read the whole audit log (`peervault directory admin`). */
  role: 'user' | 'admin';
}

/** One signed, hash-chained event of a user's key log. */
export interface KeyLogRecord {
  user: UserName;
  /** 0 for the genesis event, then +1 each. */
  seq: number;
  /** The signed `key-log-entry` envelope. */
  envelope: Uint8Array;
  /** SHA-256 of the envelope, which the next event names as `prev`. */
  hash: Uint8Array;
}

/** An invitation to register (when registration is `invite`). Only a hash of the code is kept. */
export interface InviteRecord {
  codeHash: Uint8Array;
  createdAt: number;
  expiresAt: number;
  usedBy: UserName | null;
}

/** The server half of an OPAQUE login between its two round trips. Single use. */
export interface LoginStateRecord {
  id: string;
  user: UserName;
  /** OPAQUE server login state (secret until the login finishes or expires). */
  state: string;
  expiresAt: number;
  /** The client's address, for the audit record of a login never finished (not read back). */
  source?: string;
}

/**
 * A login that was started and never finished, found when its state expired. With OPAQUE a
 * wrong password ends at the client, so to the directory a failed login is one never finished.
 */
export interface ExpiredLogin {
  user: UserName;
  /** Whether the account exists. */
  known: boolean;
  /** The client's address; null for a state stored before addresses were. */
  source: string | null;
  expiresAt: number;
}

/** A logged-in session: requests are signed by its device key. */
export interface SessionRecord {
  id: string;
  user: UserName;
  /** Raw Ed25519 public key that signs this session's requests. */
  deviceKey: Uint8Array;
  createdAt: number;
  expiresAt: number;
  revokedAt: number | null;
}

/** A throttle counter (per account, per source, per account and source). */
export interface ThrottleRecord {
  key: string;
  /** Failures counted in the current window. */
  failures: number;
  windowStart: number;
  /** No attempt is accepted before this time. */
  blockedUntil: number;
}

/** A right granted on an entry. */
export type Right = 'r' | 'w';

/** A grant: a user's right on an entry (indexed so that listings can filter by viewer). */
export interface Grant {
  user: UserName;
  right: Right;
}

/** The current version of a file or directory entry. */
export interface EntryRecord {
  id: FileId;
  owner: UserName;
  /** The parent directory; null for a user's root directory. */
  parent: FileId | null;
  /** Lookup tag of the name under the parent's name key (32 bytes; zeros for a root). */
  tag: Uint8Array;
  version: number;
  kind: 'file' | 'dir';
  /** The signed `dir-entry` envelope of this version. */
  envelope: Uint8Array;
  /** Who signed this version (owner or a writer). */
  writer: UserName;
  updatedAt: number;
  /** Set when the entry is in the trash (tombstoned), with who deleted it. */
  deletedAt: number | null;
  deletedBy: UserName | null;
  /** The grants of this version's ACL. */
  grants: readonly Grant[];
}

/** One stored version of an entry (every version is kept until the entry is purged). */
export interface EntryVersionRecord {
  id: FileId;
  version: number;
  envelope: Uint8Array;
  writer: UserName;
  createdAt: number;
}

/** An entry shared with a user by its owner (see {@link DirectoryStore.listSharedWith}). */
export interface SharedEntryRecord {
  entry: EntryRecord;
  /**
   * True when the user may not read the entry's parent (or it has none, or the parent is in
   * the trash or purged): the entry is where a shared tree starts for them, and they cannot
   * reach it by walking down from anything else they can read.
   */
  top: boolean;
}

/** A strike against a peer: `reporter` caught it serving `block` of `file` badly. */
export interface PeerStrike {
  /** base64url of the peer's key. */
  peer: string;
  reporter: UserName;
  block: string;
  file: string;
  reason: 'integrity' | 'audit';
  time: number;
}

/** A registered storage peer. */
export interface PeerRecord {
  /** base64url of the peer's Ed25519 public key. */
  id: string;
  /** Raw Ed25519 public key (the key in its TLS certificate). */
  key: Uint8Array;
  /** `host:port` of its block protocol. */
  address: string;
  /** Bytes it offers. */
  capacity: number;
  registeredAt: number;
  lastSeen: number;
  /** The latest signed `peer-record` envelope. */
  record: Uint8Array;
}

/**
 * One block release in the directory's release log (garbage collection): a user's signed
 * `block-release` envelope, which the directory verified against the user's key log before
 * appending. Peers read the log in `seq` order and verify each release themselves.
 */
export interface ReleaseRecord {
  /** Position in the log: strictly increasing, never reused; there may be gaps. */
  seq: number;
  /** The user who posted it (and whose current key signed it). */
  user: UserName;
  /** The signed `block-release` envelope, as posted. */
  envelope: Uint8Array;
  createdAt: number;
}

/**
 * One of a user's groups: the latest signed `group` record (wire/group.ts), which the directory
 * verified against the owner's key log before storing. Only its owner reads it.
 */
export interface GroupRecord {
  owner: UserName;
  /** Without the `@`. */
  name: GroupName;
  version: number;
  /** The signed `group` envelope of this version. */
  envelope: Uint8Array;
  updatedAt: number;
}

/** An alert as the monitor raises it (src/directory/monitor.ts). */
export interface NewAlert {
  /** The user who must act, or null when only admins are told. */
  audience: UserName | null;
  /** Whether admins are told too. */
  admin: boolean;
  rule: string;
  severity: 'warning' | 'critical';
  summary: string;
  /** What the reader should do. */
  action: string;
  /** What the alert is about (rule and account): the same key within `windowMs` counts up. */
  dedupeKey: string;
  time: number;
  /** Occurrences this raise stands for (the events that triggered it). */
  count: number;
}

/** A stored alert. */
export interface AlertRecord extends Omit<NewAlert, 'time'> {
  id: number;
  firstAt: number;
  lastAt: number;
  ackedAt: number | null;
}

/** How long the trash is kept, for {@link DirectoryStore.purgeExpiredTrash}; milliseconds. */
export interface TrashPolicy {
  /** For owners who set no retention of their own. */
  defaultMs: number;
  /** The bounds an owner's own retention is brought within. */
  minMs: number;
  maxMs: number;
  /** Added to every owner's retention (the window owners' agents have to release blocks). */
  graceMs: number;
}

/**
 * The store. Every method is atomic. Errors are FsErrors: `exist` for a unique-key clash,
 * `conflict` for a failed compare-and-swap, `not-exist` where a named row must exist,
 * `unavailable` when the database cannot be reached.
 *
 * Methods that take `audit` events append them to the audit log in the same transaction as
 * their change (see {@link DirectoryStore.appendAudit}): both happen, or neither.
 */
export interface DirectoryStore {
  /** Creates or upgrades the schema; idempotent, safe to run from several processes at once. */
  migrate(): Promise<void>;
  /** Closes connections; idempotent. */
  close(): Promise<void>;

  // Accounts
  /**
   * Creates a user with the genesis event of their key log, in one transaction. When an
   * invite hash is given it must exist, be unused and unexpired (`invalid` otherwise) and is
   * marked used by this user. @throws `exist` when the name is taken.
   */
  createUser(
    user: UserRecord,
    genesis: KeyLogRecord,
    invite?: { codeHash: Uint8Array; now: number },
    audit?: readonly AuditEvent[],
  ): Promise<void>;
  getUser(name: UserName): Promise<UserRecord | undefined>;
  /** Replaces the OPAQUE record and sealed keys (password change). @throws `not-exist` */
  updateCredentials(name: UserName, opaqueRecord: string, sealedKeys: Uint8Array): Promise<void>;
  createInvite(invite: InviteRecord): Promise<void>;

  // Key logs
  /** Appends an event. @throws `conflict` when `seq` is taken (someone appended first). */
  appendKeyLog(record: KeyLogRecord, audit?: readonly AuditEvent[]): Promise<void>;
  /** The whole log of a user, by `seq`. */
  keyLog(user: UserName): Promise<KeyLogRecord[]>;

  // Login and sessions
  putLoginState(record: LoginStateRecord): Promise<void>;
  /** Returns and deletes a login state in one step (so it can be used once); undefined if absent or expired. */
  takeLoginState(id: string, now: number): Promise<LoginStateRecord | undefined>;
  createSession(record: SessionRecord, audit?: readonly AuditEvent[]): Promise<void>;
  getSession(id: string): Promise<SessionRecord | undefined>;
  /**
   * A key revocation, atomically: appends the key event, replaces the sealed keys and revokes
   * every live session of the user except `keepSession` (the one revoking).
   * @throws `conflict` when the event's `seq` is taken
   */
  revokeKeys(
    record: KeyLogRecord,
    sealedKeys: Uint8Array,
    keepSession: string,
    now: number,
    audit?: readonly AuditEvent[],
  ): Promise<void>;
  /** The user's live sessions (not revoked, not expired), oldest first. */
  listSessions(user: UserName, now: number): Promise<SessionRecord[]>;
  /** Revokes one live session of `user`; false when there is no such live session of theirs. */
  revokeSession(user: UserName, id: string, now: number): Promise<boolean>;
  /** Revokes every live session of a user. */
  revokeSessions(user: UserName, now: number): Promise<void>;
  /**
   * Records that `nonce` was used in `sessionId`. Returns false, changing nothing, when it was
   * already used: that request is a replay. Atomic across processes (a unique key).
   */
  useNonce(sessionId: string, nonce: string, expiresAt: number): Promise<boolean>;
  /**
   * Deletes expired nonces, login states and sessions. With `audit`, the expired login states
   * are handed to it and the events it returns are appended in the same transaction, so each
   * unfinished login is recorded once however many directory processes prune.
   */
  pruneExpired(
    now: number,
    audit?: (expired: readonly ExpiredLogin[]) => AuditEvent[],
  ): Promise<void>;

  // Throttles
  getThrottles(keys: readonly string[]): Promise<ThrottleRecord[]>;
  /**
   * Atomically counts one failure for `key`: starts a new window when the current one began
   * more than `windowMs` ago. Returns the updated record.
   */
  addFailure(key: string, now: number, windowMs: number): Promise<ThrottleRecord>;
  setBlockedUntil(key: string, until: number): Promise<void>;
  /**
   * Claims the next attempt for `key`: if the key is not blocked at `now` (no row, or
   * blockedUntil <= now), sets blockedUntil to `until` and returns true; otherwise changes
   * nothing and returns false. One atomic conditional update, so of several concurrent
   * claimants exactly one wins.
   */
  claimAttempt(key: string, now: number, until: number): Promise<boolean>;
  clearThrottle(key: string): Promise<void>;

  // Namespace
  /** @throws `exist` when the id is taken, or a live entry has the same (parent, tag), or the owner already has a root. */
  createEntry(entry: EntryRecord): Promise<void>;
  getEntry(id: FileId): Promise<EntryRecord | undefined>;
  /** The live entry with this tag under `parent`. */
  findEntry(parent: FileId, tag: Uint8Array): Promise<EntryRecord | undefined>;
  /** The owner's root directory (live or not). */
  rootOf(owner: UserName): Promise<EntryRecord | undefined>;
  /** Live children of `parent` that `viewer` may see: all when viewer owns them, else those granting viewer a right. Ordered by id. */
  listChildren(parent: FileId, viewer: UserName): Promise<EntryRecord[]>;
  /**
   * Replaces an entry with its next version, keeping the old one in the history, if and only if
   * its current version is `expectedVersion` (compare-and-swap). The new record's deletion
   * fields are stored as given (a tombstone sets them; a restore clears them).
   * @throws `conflict` when the version moved on; `not-exist` when there is no such entry;
   *   `exist` when the new tag clashes with a live sibling.
   */
  updateEntry(
    entry: EntryRecord,
    expectedVersion: number,
    audit?: readonly AuditEvent[],
  ): Promise<void>;
  /** Every stored version of an entry, oldest first. */
  entryVersions(id: FileId): Promise<EntryVersionRecord[]>;
  /** One stored version of an entry; undefined when there is no such entry or version. */
  entryVersion(id: FileId, version: number): Promise<EntryVersionRecord | undefined>;
  /**
   * Live entries whose current version grants `user` a right and that `user` does not own,
   * ordered by owner then id (bytewise, the same on every engine).
   */
  listSharedWith(user: UserName): Promise<SharedEntryRecord[]>;
  /** The owner's entries in the trash, most recently deleted first. */
  listTrash(owner: UserName): Promise<EntryRecord[]>;
  /** Deletes an entry and its history for good. */
  purgeEntry(id: FileId, audit?: readonly AuditEvent[]): Promise<void>;
  /** Purges entries deleted before `before`; returns their ids. */
  purgeDeletedBefore(before: number): Promise<FileId[]>;
  /**
   * Purges entries whose owner's retention, and `graceMs` after it, have passed since their
   * deletion (the directory's late purge); returns their ids. An owner's retention is their own
   * setting brought within [`minMs`, `maxMs`], or `defaultMs` when they set none.
   */
  purgeExpiredTrash(now: number, policy: TrashPolicy): Promise<FileId[]>;

  // Per-user settings
  /**
   * A user's own trash retention, or null when they follow the directory's default.
   * @throws `not-exist` for an unknown user
   */
  getRetention(user: UserName): Promise<number | null>;
  /** Sets a user's own trash retention; null follows the default again. @throws `not-exist` */
  setRetention(user: UserName, retentionMs: number | null): Promise<void>;

  // Peers
  /** Inserts or replaces a peer by id. */
  upsertPeer(peer: PeerRecord): Promise<void>;
  getPeer(id: string): Promise<PeerRecord | undefined>;
  /** Peers seen at or after `seenSince`, ordered by id. */
  listPeers(seenSince: number): Promise<PeerRecord[]>;

  // Peer health (strikes and quarantine)
  /**
   * Records a strike against a peer, once per (peer, reporter, block): a second report of the
   * same block by the same reporter adds nothing. With `audit`, the events are appended in the
   * same transaction, only when the strike is new.
   * @returns whether the strike is new
   */
  addPeerStrike(strike: PeerStrike, audit?: readonly AuditEvent[]): Promise<boolean>;
  /** Every strike, by peer then time; with `peer`, only that peer's. */
  listPeerStrikes(peer?: string): Promise<PeerStrike[]>;
  /**
   * Quarantines a peer (idempotent). With `audit`, the events are appended in the same
   * transaction, only when the peer was not already quarantined.
   * @returns whether it was newly quarantined
   */
  quarantinePeer(peer: string, now: number, audit?: readonly AuditEvent[]): Promise<boolean>;
  /** The quarantined peers, by id. */
  listQuarantinedPeers(): Promise<{ peer: string; since: number }[]>;
  /**
   * Lifts a peer's quarantine and forgets its strikes (so old strikes do not quarantine it again
   * at the next report), with `audit` in the same transaction.
   * @returns whether it was quarantined
   */
  releasePeer(peer: string, audit?: readonly AuditEvent[]): Promise<boolean>;

  // Block releases (garbage collection)
  /**
   * Appends a release to the log and returns its `seq`, greater than every `seq` before it.
   * Appends become visible in `seq` order: once a reader has seen `seq` n, no release with a
   * smaller `seq` appears later (so a reader that resumes after n misses nothing).
   * @throws `not-exist` for an unknown user.
   */
  appendRelease(user: UserName, envelope: Uint8Array, now: number): Promise<number>;
  /** At most `limit` releases with `seq` > `after`, by `seq` ascending. */
  listReleases(after: number, limit: number): Promise<ReleaseRecord[]>;

  // Groups (sharing: `@team` stands where a user stands in a grant)
  /** The owner's groups, by name (bytewise). */
  listGroups(owner: UserName): Promise<GroupRecord[]>;
  getGroup(owner: UserName, name: GroupName): Promise<GroupRecord | undefined>;
  /**
   * Creates a group (`expectedVersion` 0) or replaces it with its next version, if and only if
   * it is still at `expectedVersion` (compare-and-swap). `record.version` must be
   * `expectedVersion + 1` (`invalid` otherwise).
   * @throws `exist` when creating a group that exists; `conflict` when the group moved on or
   *   was deleted; `not-exist` for an unknown owner
   */
  putGroup(record: GroupRecord, expectedVersion: number): Promise<void>;
  /** Deletes a group. @throws `not-exist` when there is none of that name */
  deleteGroup(owner: UserName, name: GroupName): Promise<void>;

  // Audit log (src/interface/audit.ts)
  /**
   * Appends events to the audit log in order, each chained to the one before: the next `seq`,
   * the previous record's hash as `prev`, and its own hash. Appends are serialised across every
   * process on the database (SQLite's write lock; a table lock on PostgreSQL), so the chain
   * never forks and records become visible in `seq` order. Nothing is appended for no events.
   * @returns the records as stored
   * @throws `invalid` for details out of bounds (wire/audit-log.ts)
   */
  appendAudit(events: readonly AuditEvent[]): Promise<AuditRecord[]>;
  /**
   * At most `limit` records with `seq` > `after`, by `seq` ascending; with `subject`, only those
   * whose subjects include that user.
   */
  listAudit(after: number, limit: number, subject?: UserName): Promise<AuditRecord[]>;
  /**
   * The log's last record (`seq` 0 and the all-zero hash when empty) and the highest `seq` a
   * stored checkpoint signs (0 when none).
   */
  auditHead(): Promise<{ seq: number; hash: Uint8Array; checkpoint: number }>;
  /**
   * The `seq` from which on the records' times are `time` or later (the first such record's,
   * or a removed one's just before it; head + 1 when none is), found by a binary search on `seq`
   * (a few key lookups, no index on time): exact while times rise with `seq`, and off by at
   * most the records appended within the clock skew between directory processes otherwise. For
   * the monitor's warm-up after a restart.
   */
  auditSeqAt(time: number): Promise<number>;
  /** Stores a signed checkpoint. @throws `exist` when one is stored for that `seq` */
  addAuditCheckpoint(checkpoint: AuditCheckpointRecord): Promise<void>;
  /** At most `limit` checkpoints with `seq` > `after`, by `seq` ascending. */
  listAuditCheckpoints(after: number, limit: number): Promise<AuditCheckpointRecord[]>;
  // Alerts (src/directory/monitor.ts)
  /**
   * Raises an alert, or counts up the unacknowledged one with the same dedupe key whose last
   * occurrence is within `windowMs` of `alert.time`. A new alert protects `protect` (entry ids)
   * from every purge until it is acknowledged, and is appended to the audit log as `alert` (the
   * event `audit` makes of it) in the same transaction; a count-up protects `protect` too.
   * @returns the alert as stored and whether it is new
   */
  raiseAlert(
    alert: NewAlert,
    windowMs: number,
    protect: readonly FileId[],
    audit: (alert: AlertRecord) => AuditEvent,
  ): Promise<{ alert: AlertRecord; created: boolean }>;
  /**
   * Alerts unacknowledged first, then newest first; with `reader`, only those whose audience
   * is `reader` (admins pass none and read all).
   */
  listAlerts(reader?: UserName): Promise<AlertRecord[]>;
  getAlert(id: number): Promise<AlertRecord | undefined>;
  /** Acknowledges an alert and lifts its protection; idempotent. @throws `not-exist` */
  ackAlert(id: number, now: number): Promise<AlertRecord>;
  /** The unacknowledged alerts protecting `entry` from purge, by id (empty when none). */
  protectingAlerts(entry: FileId): Promise<number[]>;
  /** Sets a user's role (`admin` reads the whole audit log). @throws `not-exist` */
  setRole(user: UserName, role: UserRecord['role'], audit?: readonly AuditEvent[]): Promise<void>;
}

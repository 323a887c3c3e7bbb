/**
 * The directory database's tables, as Kysely sees them. One set of types serves both engines:
 * times and counters are JavaScript numbers on both (PostgreSQL's `bigint` is parsed as a number
 * by the pool, see open-store.ts), and binary columns are read back as Buffers, which the store
 * copies into plain Uint8Arrays before they leave it.
 *
 * Column names avoid SQL keywords (`user`, `right`) so that hand-written SQL never needs quoting.
 */
import type { Generated } from 'kysely';

/** Accounts. */
export interface UsersTable {
  name: string;
  created_at: number;
  opaque_record: string;
  /** Sealed under the user's OPAQUE export key; never a plain private key. */
  sealed_keys: Uint8Array;
  role: 'user' | 'admin';
  /** The user's own trash retention (migration 0003); null follows the directory's default. */
  retention_ms: number | null;
}

/** Invitations to register; only a hash of each code is kept. */
export interface InvitesTable {
  code_hash: Uint8Array;
  created_at: number;
  expires_at: number;
  used_by: string | null;
}

/** Every user's signed, hash-chained key log; primary key (user_name, seq). */
export interface KeyLogTable {
  user_name: string;
  seq: number;
  envelope: Uint8Array;
  hash: Uint8Array;
}

/** OPAQUE server states between the two round trips of a login. */
export interface LoginStatesTable {
  id: string;
  /** Not a foreign key: a login for an unknown user is run to the end so as not to reveal it. */
  user_name: string;
  /** Secret until the login finishes or expires. */
  state: string;
  expires_at: number;
  /** The client's address (migration 0005), for the audit record of a login never finished. */
  source: string | null;
}

/** Logged-in sessions. */
export interface SessionsTable {
  id: string;
  user_name: string;
  device_key: Uint8Array;
  created_at: number;
  expires_at: number;
  revoked_at: number | null;
}

/** Request nonces already used, per session; primary key (session_id, nonce). */
export interface NoncesTable {
  session_id: string;
  nonce: string;
  expires_at: number;
}

/** Login throttle counters. */
export interface ThrottlesTable {
  key: string;
  failures: number;
  window_start: number;
  blocked_until: number;
}

/** The current version of every entry of the namespace. */
export interface EntriesTable {
  id: string;
  owner: string;
  parent: string | null;
  tag: Uint8Array;
  version: number;
  kind: 'file' | 'dir';
  envelope: Uint8Array;
  writer: string;
  updated_at: number;
  deleted_at: number | null;
  deleted_by: string | null;
}

/** Every version of every entry, the current one included; primary key (id, version). */
export interface EntryVersionsTable {
  id: string;
  version: number;
  envelope: Uint8Array;
  writer: string;
  created_at: number;
}

/** The grants of each entry's current version; `pos` keeps the order they were given in. */
export interface EntryGrantsTable {
  entry_id: string;
  user_name: string;
  access_right: 'r' | 'w';
  pos: number;
}

/** Registered storage peers. */
export interface PeersTable {
  id: string;
  key: Uint8Array;
  address: string;
  capacity: number;
  registered_at: number;
  last_seen: number;
  record: Uint8Array;
}

/**
 * The block-release log (migration 0002): signed `block-release` envelopes in the order they
 * were appended. `seq` is assigned by the database (SQLite AUTOINCREMENT, PostgreSQL identity),
 * so it is never reused, not even after rows are deleted.
 */
export interface BlockReleasesTable {
  seq: Generated<number>;
  user_name: string;
  envelope: Uint8Array;
  created_at: number;
}

/**
 * The audit log (migration 0005): one row per record, `seq` 1, 2, 3 … given by the store under a
 * lock (see `appendAudit`), never by the database, so that a removed row leaves a gap. What the
 * hash covers is in wire/audit-log.ts; the subjects live in {@link AuditSubjectsTable}.
 */
export interface AuditLogTable {
  seq: number;
  created_at: number;
  event: string;
  actor: string | null;
  entry_id: string | null;
  source: string;
  /** JSON text of a flat map, keys sorted: hashed exactly as stored. */
  details: string;
  prev: Uint8Array;
  hash: Uint8Array;
}

/** Who each audit record concerns, indexed by user: primary key (user_name, seq). */
export interface AuditSubjectsTable {
  user_name: string;
  seq: number;
}

/** Signed checkpoints of the audit log's head, by the seq they sign. */
export interface AuditCheckpointsTable {
  seq: number;
  hash: Uint8Array;
  created_at: number;
  /** The signed `audit-checkpoint` envelope. */
  envelope: Uint8Array;
}

/**
 * Users' groups (migration 0004): the latest signed `group` record of each; primary key
 * (owner, name). `version` is what the compare-and-swap of `putGroup` compares.
 */
export interface GroupsTable {
  owner: string;
  name: string;
  version: number;
  envelope: Uint8Array;
  updated_at: number;
}

/**
 * Security alerts (migration 0006): one row per alert, `id` given by the database. `dedupe_key`
 * names what the alert is about (rule and account); an unacknowledged alert with the same key
 * within the rule's window counts up instead of a new alert being raised.
 */
export interface AlertsTable {
  id: Generated<number>;
  /** The user who must act, or null when only admins are told. */
  audience: string | null;
  /** 1 when admins are told too. */
  admin: number;
  rule: string;
  severity: string;
  summary: string;
  action: string;
  dedupe_key: string;
  first_at: number;
  last_at: number;
  count: number;
  acked_at: number | null;
}

/** Entries kept from purge until an alert is acknowledged (migration 0006). */
export interface ProtectedEntriesTable {
  entry_id: string;
  alert_id: number;
}

/** Strikes against peers (migration 0007): primary key (peer_id, reporter, block_id). */
export interface PeerStrikesTable {
  peer_id: string;
  reporter: string;
  block_id: string;
  file_id: string;
  reason: string;
  created_at: number;
}

/** Quarantined peers (migration 0007), left out of the live-peer list until released. */
export interface PeerQuarantineTable {
  peer_id: string;
  created_at: number;
}

/** The whole database, for `Kysely<Database>`. */
export interface Database {
  users: UsersTable;
  invites: InvitesTable;
  key_log: KeyLogTable;
  login_states: LoginStatesTable;
  sessions: SessionsTable;
  nonces: NoncesTable;
  throttles: ThrottlesTable;
  entries: EntriesTable;
  entry_versions: EntryVersionsTable;
  entry_grants: EntryGrantsTable;
  peers: PeersTable;
  block_releases: BlockReleasesTable;
  groups: GroupsTable;
  audit_log: AuditLogTable;
  audit_subjects: AuditSubjectsTable;
  audit_checkpoints: AuditCheckpointsTable;
  alerts: AlertsTable;
  protected_entries: ProtectedEntriesTable;
  peer_strikes: PeerStrikesTable;
  peer_quarantine: PeerQuarantineTable;
}

/**
 * The directory's audit log (DESIGN.md section 7): a hash-chained record of every
 * security-relevant event, with signed checkpoints of its head. The store keeps it
 * (src/directory/store/), wire/audit-log.ts fixes how records are hashed and checkpoints signed,
 * and src/directory/audit.ts decides what is recorded when.
 *
 * What a record may hold: user names, opaque entry ids, the client's address and a small map of
 * details. Never a secret, an envelope, a password, a token or a file name (names are encrypted,
 * but even their ciphertexts stay out).
 */
import type { FileId } from './ids.js';
import type { UserName } from './names.js';

/**
 * Every kind of event, append-only: readers and the monitor branch on these, and old records
 * keep their kind for good. `integrity.reported` and `peer.released` are written for peer reports
 * and quarantine (src/directory/routes/reports.ts), `alert` with every alert raised,
 * `entry.overwritten` for a plain new version of a live file (no grant changed, no re-signing
 * under a new key; `isOverwrite` in src/directory/audit.ts says which).
 */
export const auditKinds = [
  'login.ok',
  'login.failed',
  'register',
  'key.appended',
  'entry.shared',
  'entry.unshared',
  'entry.deleted',
  'entry.restored',
  'access.refused',
  'role.changed',
  'integrity.reported',
  'alert',
  'peer.released',
  'entry.overwritten',
  // A peer's report of a validly signed capability replayed (src/directory/routes/sessions.ts).
  'capability.misused',
  // Login attempts the throttle refused, counted per account and address (details.count;
  // src/directory/throttled-logins.ts).
  'login.throttled',
] as const;

/** One of {@link auditKinds}. */
export type AuditKind = (typeof auditKinds)[number];

/** True when `value` names an audit kind. */
export function isAuditKind(value: unknown): value is AuditKind {
  return typeof value === 'string' && (auditKinds as readonly string[]).includes(value);
}

/** A detail's value: text, a whole number, a flag, or a list of texts. */
export type AuditDetail = string | number | boolean | readonly string[];

/** The small map of details of an event (at most {@link maxAuditDetails} keys, short values). */
export type AuditDetails = Readonly<Record<string, AuditDetail>>;

/** Most keys in one event's details. */
export const maxAuditDetails = 16;

/** What is appended: an event as it happened. The store gives it its place in the chain. */
export interface AuditEvent {
  /** Milliseconds since the epoch, from the directory's clock. */
  time: number;
  event: AuditKind;
  /** The authenticated user who acted, or null (a failed login, the directory itself). */
  actor: UserName | null;
  /**
   * The users the event concerns, who may read it: the owner of the entry, the account logged
   * into. Empty when it concerns nobody in particular (then only admins read it).
   */
  subjects: readonly UserName[];
  /** The entry concerned, or null. */
  entry: FileId | null;
  /** The client's address as the directory saw it (`request.ip`). */
  source: string;
  details: AuditDetails;
}

/**
 * A record of the log, as stored. Names and ids are kept as recorded (plain strings): a record
 * is evidence to check and show, never an input to an access decision.
 */
export interface AuditRecord {
  /** 1 for the first record, then +1 each: a gap is a removed record. */
  seq: number;
  time: number;
  /** The kind of event as recorded; {@link isAuditKind} tells whether it is a known one. */
  event: string;
  actor: string | null;
  /** Sorted, without duplicates. */
  subjects: readonly string[];
  entry: string | null;
  source: string;
  /** The details as their stored JSON text (keys sorted, no spaces): what the hash covers. */
  details: string;
  /** The hash of the record before (32 zero bytes for the first). */
  prev: Uint8Array;
  /** SHA-256 over the label and the canonical encoding of everything above (wire/audit-log.ts). */
  hash: Uint8Array;
}

/** A signed checkpoint of the log's head, as stored. */
export interface AuditCheckpointRecord {
  /** The seq of the record it signs. */
  seq: number;
  /** That record's hash. */
  hash: Uint8Array;
  /** When the directory signed it. */
  time: number;
  /** The signed `audit-checkpoint` envelope, by the directory's identity key. */
  envelope: Uint8Array;
}

/**
 * The directory's HTTP API, shared by server and client: route paths, request and response
 * schemas (zod; every request body is validated before use), and the HTTP status of each error
 * kind. docs/protocol.md describes each route in prose.
 *
 * Binary fields are unpadded base64url strings. Bodies are JSON. Every error response is
 * `{kind, op, message}` with the status below, and never a stack.
 */
import { z } from 'zod';
import type { ErrorKind } from '../interface/errors.js';

/** HTTP status of each error kind (the wire's edge table). */
export const httpStatus: Readonly<Record<ErrorKind, number>> = {
  invalid: 400,
  permission: 403,
  exist: 409,
  'not-exist': 404,
  'not-dir': 400,
  'is-dir': 400,
  'not-empty': 409,
  conflict: 409,
  integrity: 422,
  revoked: 401,
  throttled: 429,
  unavailable: 503,
  internal: 500,
};

/** Largest request body the directory reads (entries carry encrypted manifests). */
export const maxRequestBytes = 4 * 1024 * 1024;

const b64 = (maxBytes: number) =>
  z
    .string()
    .max(Math.ceil((maxBytes * 4) / 3))
    .regex(/^[A-Za-z0-9_-]*$/, 'base64url');
const userName = z.string().min(1).max(32);
const opaqueMessage = b64(4096);
const fileId = z.string().length(22);

export const routes = {
  info: '/v1/info',
  registerStart: '/v1/register/start',
  registerFinish: '/v1/register/finish',
  loginStart: '/v1/login/start',
  loginFinish: '/v1/login/finish',
  logout: '/v1/session/logout',
  passwordStart: '/v1/account/password/start',
  passwordFinish: '/v1/account/password/finish',
  retention: '/v1/account/retention',
  userKeys: '/v1/users/:user/keys',
  appendKey: '/v1/keys',
  revokeKeys: '/v1/keys/revoke',
  sessions: '/v1/sessions',
  revokedKeyUse: '/v1/peers/revoked-key-use',
  capabilityMisuse: '/v1/peers/capability-misuse',
  session: '/v1/sessions/:id',
  root: '/v1/roots/:user',
  entries: '/v1/entries',
  entry: '/v1/entries/:id',
  children: '/v1/entries/:id/children',
  versions: '/v1/entries/:id/versions',
  entryVersion: '/v1/entries/:id/versions/:version',
  shared: '/v1/shared',
  lookup: '/v1/lookup',
  trash: '/v1/trash',
  trashEntry: '/v1/trash/:id',
  peers: '/v1/peers',
  heartbeat: '/v1/peers/heartbeat',
  fileAccess: '/v1/files/:id/access',
  releases: '/v1/releases',
  groups: '/v1/groups',
  group: '/v1/groups/:name',
  audit: '/v1/audit',
  auditCheckpoint: '/v1/audit/checkpoint',
  alerts: '/v1/alerts',
  alertAck: '/v1/alerts/:id/ack',
  reports: '/v1/reports',
  entryReport: '/v1/reports/entry',
  auditReport: '/v1/reports/audit-log',
  peerHealth: '/v1/peers/health',
} as const;

/**
 * Header carrying a reader's credentials on `GET /v1/releases`: the base64url of a fresh
 * `peer-record` signed by a registered peer (the same format as its heartbeat). Peers have no
 * user session; the release log names users and file ids, so only registered peers may read it.
 */
export const peerRecordHeader = 'x-peervault-peer-record';

/** Largest signed `block-release` envelope (1024 block ids fit in about 46 KiB). */
export const maxReleaseBytes = 64 * 1024;

/** Largest signed `group` envelope (256 members of 32 characters fit in about 9 KiB). */
export const maxGroupBytes = 16 * 1024;

/** Most groups one user may keep at the directory (a guard against abuse, not a policy). */
export const maxGroupsPerUser = 256;

/** Releases in one page of `GET /v1/releases`: the default, and the most a reader may ask. */
export const releasePage = { default: 256, max: 512 } as const;

/** Records in one page of `GET /v1/audit`: the default, and the most a reader may ask. */
export const auditPage = { default: 100, max: 1000 } as const;

/** Most characters of an entry report's `detail` (an audit detail's limit). */
export const maxEntryReportDetail = 256;

/** A decimal query parameter (query strings are text); bounded so it converts exactly. */
const decimal = z
  .string()
  .regex(/^(0|[1-9][0-9]{0,14})$/, 'a decimal number')
  .transform(Number);

export const schemas = {
  registerStart: z.strictObject({ user: userName, request: opaqueMessage }),
  registerFinish: z.strictObject({
    user: userName,
    record: opaqueMessage,
    sealedKeys: b64(4096),
    keyLog: b64(4096),
    invite: z.string().max(64).optional(),
  }),
  loginStart: z.strictObject({ user: userName, request: opaqueMessage }),
  loginFinish: z.strictObject({
    loginId: z.string().length(22),
    finish: opaqueMessage,
    deviceKey: b64(32),
    proof: b64(32),
  }),
  passwordStart: z.strictObject({ request: opaqueMessage }),
  passwordFinish: z.strictObject({ record: opaqueMessage, sealedKeys: b64(4096) }),
  // The bounds are the directory's settings (RetentionResponse); this only keeps the number sane.
  setRetention: z.strictObject({
    retentionMs: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).nullable(),
  }),
  appendKey: z.strictObject({ envelope: b64(4096) }),
  revokeKeys: z.strictObject({ envelope: b64(4096), sealedKeys: b64(4096) }),
  createEntry: z.strictObject({ envelope: b64(maxRequestBytes - 1024) }),
  updateEntry: z.strictObject({
    envelope: b64(maxRequestBytes - 1024),
    expectedVersion: z.number().int().min(1),
  }),
  lookup: z.strictObject({ parent: fileId, tag: b64(32) }),
  heartbeat: z.strictObject({ record: b64(1024) }),
  idParam: z.strictObject({ id: fileId }),
  sessionParam: z.strictObject({ id: z.string().min(1).max(64) }),
  revokedKeyUse: z.strictObject({ user: userName }),
  // A peer refused a validly signed capability addressed to another peer, or long expired.
  capabilityMisuse: z.strictObject({ user: userName, reason: z.enum(['foreign', 'stale']) }),
  versionParam: z.strictObject({ id: fileId, version: decimal.pipe(z.number().int().min(1)) }),
  userParam: z.strictObject({ user: userName }),
  postRelease: z.strictObject({ envelope: b64(maxReleaseBytes) }),
  // `expectedVersion` 0 creates the group; otherwise the version the caller read.
  putGroup: z.strictObject({
    envelope: b64(maxGroupBytes),
    expectedVersion: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
  }),
  groupParam: z.strictObject({ name: z.string().min(1).max(33) }),
  listReleases: z.strictObject({
    after: decimal.optional(),
    limit: decimal.pipe(z.number().int().min(1).max(releasePage.max)).optional(),
  }),
  // A peer caught serving a block that failed verification, or failing a storage audit.
  report: z.strictObject({
    peer: b64(32).length(43),
    reason: z.enum(['integrity', 'audit']),
    block: b64(32).length(43),
    file: fileId,
  }),
  // A client found a version of an entry that is forged, rolled back or forked. `detail` is
  // kept verbatim in the audit log, whose texts are at most 256 characters; printable only (no
  // control, format or line-separator characters), so it cannot disguise itself in a listing.
  entryReport: z.strictObject({
    entry: fileId,
    kind: z.enum(['forged', 'rollback', 'fork']),
    detail: z
      .string()
      .max(maxEntryReportDetail)
      .regex(/^[^\p{C}\p{Zl}\p{Zp}]*$/u, 'printable text'),
  }),
  // A peer holds checkpoints of the audit log, signed by this directory, that the log no longer
  // matches: what it kept, and another head signed for the same record (at most two).
  auditReport: z.strictObject({ checkpoints: z.array(b64(1024)).min(1).max(2) }),
  alertParam: z.strictObject({ id: decimal }),
  listAudit: z.strictObject({
    after: decimal.optional(),
    limit: decimal.pipe(z.number().int().min(1).max(auditPage.max)).optional(),
  }),
} as const;

/** Response bodies. */
export interface InfoResponse {
  fingerprint: string;
  /** The directory's Ed25519 key, base64url (must match the pinned fingerprint). */
  identityKey: string;
  /** The OPAQUE server public key, which the client checks at the end of login. */
  opaquePublicKey: string;
  registration: 'open' | 'invite';
  time: number;
  /** How long deleted entries stay in the trash before owners' agents purge them. */
  retentionMs: number;
}
/**
 * `GET` and `PUT /v1/account/retention`: how long the caller's deleted entries stay in their
 * trash. `retentionMs` is the caller's own setting (within the bounds as they are now), or null
 * when they follow `defaultMs`, the directory's default.
 */
export interface RetentionResponse {
  retentionMs: number | null;
  defaultMs: number;
  /** The bounds of an own setting (inclusive). */
  minMs: number;
  maxMs: number;
}
export interface LoginStartResponse {
  loginId: string;
  response: string;
}
export interface LoginFinishResponse {
  session: string;
  expiresAt: number;
  sealedKeys: string;
}
/** `POST /v1/releases`: where the release landed in the log. */
export interface PostReleaseResponse {
  seq: number;
}
/** `GET /v1/groups`: the caller's groups by name, each its latest signed `group` envelope. */
export interface GroupsResponse {
  groups: { name: string; version: number; envelope: string }[];
}
/** `PUT /v1/groups/:name`: the group's version now. */
export interface PutGroupResponse {
  name: string;
  version: number;
}
/** `GET /v1/releases`: a page of the log, and the `after` that reads the next page. */
export interface ReleasesResponse {
  releases: { seq: number; envelope: string }[];
  /** The last `seq` on this page, or the `after` asked for when the page is empty. */
  next: number;
}
/**
 * One record of the audit log as `GET /v1/audit` shows it (docs/formats.md). `source` is null
 * when the reader may not see it: an owner sees the address of events no other user caused.
 */
export interface AuditRecordResponse {
  seq: number;
  time: number;
  event: string;
  actor: string | null;
  subjects: string[];
  entry: string | null;
  source: string | null;
  /** The details map (parsed from the JSON text the hash covers). */
  details: Record<string, unknown>;
  /** base64url of the record before's hash, and of this record's. */
  prev: string;
  hash: string;
}
/** One alert as `GET /v1/alerts` shows it (docs/monitor.md). */
export interface AlertResponse {
  id: number;
  /** The user who must act, or null for admins only. */
  audience: string | null;
  admin: boolean;
  rule: string;
  severity: string;
  summary: string;
  /** What to do next. */
  action: string;
  firstAt: number;
  lastAt: number;
  count: number;
  ackedAt: number | null;
}
/** `GET /v1/alerts`: the caller's alerts (every alert for an admin), unread first. */
export interface AlertsResponse {
  alerts: AlertResponse[];
  scope: 'all' | 'own';
}
/**
 * `GET /v1/audit/checkpoint` (for peers): the newest signed checkpoint of the audit log
 * (`audit-checkpoint/v1`, base64url), or null before the first. Peers keep them as witnesses.
 */
export interface AuditCheckpointResponse {
  envelope: string | null;
}

/** `GET /v1/audit`: a page of the records the caller may read, and the `after` of the next. */
export interface AuditResponse {
  records: AuditRecordResponse[];
  /** The last `seq` on this page, or the `after` asked for when the page is empty. */
  next: number;
  /** Whether the caller reads every record (an admin) or those about them. */
  scope: 'all' | 'own';
}
export interface EntryResponse {
  envelope: string;
  version: number;
  deletedAt: number | null;
  deletedBy: string | null;
}
/** One stored version (`GET /v1/entries/:id/versions/:version`, and each item of the list). */
export interface EntryVersionResponse {
  version: number;
  envelope: string;
  /** Who the directory recorded as its signer (readers check the signature themselves). */
  writer: string;
  createdAt: number;
}
/**
 * `GET /v1/shared`: the live entries shared with the caller by other users, ordered by owner
 * then id. `top` is true when the caller may not read the entry's parent, or it has none, or the
 * parent is in the trash: the entry is where a shared tree starts for them.
 */
export interface SharedEntriesResponse {
  entries: (EntryResponse & { id: string; top: boolean })[];
}
/** `GET /v1/sessions`: the caller's live sessions (devices), oldest first. */
export interface SessionsResponse {
  sessions: {
    id: string;
    /** Fingerprint of the device key that signs the session's requests. */
    device: string;
    createdAt: number;
    expiresAt: number;
    /** Whether it is the session that asked. */
    current: boolean;
  }[];
}
/** `POST /v1/reports`: whether the report added a strike, and whether the peer is quarantined. */
export interface ReportResponse {
  /** False when this reporter had already reported this block of this peer. */
  counted: boolean;
  quarantined: boolean;
}
/** `POST /v1/peers/capability-misuse`: the alert the report raised or counted up. */
export interface CapabilityMisuseResponse {
  alert: number;
}
/** `POST /v1/reports/entry`: the alerts the report raised or counted up (owner's first). */
export interface EntryReportResponse {
  alerts: number[];
}
/**
 * `POST /v1/reports/audit-log`: whether the log no longer matches the checkpoints (and the
 * admins' `audit-log-rewritten` alert when it does not), with what the directory found.
 */
export interface AuditReportResponse {
  rewritten: boolean;
  alert: number | null;
  findings: string[];
}
/**
 * `GET /v1/peers/health`: every peer with a strike or a quarantine (live or not), by id. Counts
 * only: who reported what stays at the directory (admins read it in the audit log).
 */
export interface PeerHealthResponse {
  peers: {
    /** base64url of the peer's key. */
    key: string;
    /** Its last registered address, or null when it never registered. */
    address: string | null;
    /** Strikes: one per (reporter, block). */
    strikes: number;
    /** Distinct blocks and distinct reporters among them (the quarantine rule counts these). */
    blocks: number;
    reporters: number;
    /** When it was quarantined, or null. */
    quarantinedAt: number | null;
  }[];
}

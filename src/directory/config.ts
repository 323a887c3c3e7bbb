/**
 * The directory's settings, with the defaults a deployment gets.
 */

/** Login throttling policy; see docs/threat-model.md for what it promises. */
export interface ThrottlePolicy {
  /** Attempts on one account from one source before exponential backoff starts. */
  accountSourceFree: number;
  /** Longest backoff for one account from one source. */
  accountSourceMaxBlockMs: number;
  /** Window in which an account-and-source's attempts are counted. */
  accountSourceWindowMs: number;
  /** Attempts from one source (any accounts) per window before it is blocked. */
  sourceLimit: number;
  sourceWindowMs: number;
  sourceBlockMs: number;
  /** Attempts on one account (any sources) per window before each further one waits. */
  accountLimit: number;
  accountWindowMs: number;
  /** The wait imposed per attempt over the account limit: a rate cap, never a lockout. */
  accountSpacingMs: number;
}

/** The security monitor's thresholds (src/directory/monitor.ts; docs/monitor.md says why). */
export interface MonitorPolicy {
  /** Failed logins on one account within `guessWindowMs` that raise `password-guessing`. */
  guessFailures: number;
  guessWindowMs: number;
  /** Distinct accounts failing from one source within `sourceWindowMs`: `credential-stuffing`. */
  sourceAccounts: number;
  sourceWindowMs: number;
  /** Refusals of one user on another's entries within `probeWindowMs`: `permission-probing`. */
  probeRefusals: number;
  probeWindowMs: number;
  /** Deletions by one account of one owner's entries within `burstWindowMs`: `deletion-burst`. */
  burstDeletions: number;
  /**
   * Distinct files of one owner overwritten by one account within `burstWindowMs`:
   * `overwrite-burst` (many versions of one file count once).
   */
  burstOverwrites: number;
  burstWindowMs: number;
  /** Requests refused in one user's sessions (replays, revoked sessions) within `authWindowMs`. */
  authRefusals: number;
  authWindowMs: number;
  /** How often the monitor reads the log when no request made it. */
  scanMs: number;
}

/** Settings of one directory process. */
export interface DirectoryConfig {
  registration: 'open' | 'invite';
  sessionTtlMs: number;
  loginStateTtlMs: number;
  /** A peer not heard from for this long is down. */
  peerLiveMs: number;
  /**
   * Deleted entries stay in the trash this long, for users who set no retention of their own;
   * then the owner's agent releases their blocks and purges them.
   */
  retentionMs: number;
  /**
   * The shortest retention a user may choose for their own trash (`peervault retention`). The
   * directory's default is always allowed too, even when shorter.
   */
  minRetentionMs: number;
  /** The longest retention a user may choose: a sane bound, not a promise to keep anything. */
  maxRetentionMs: number;
  /**
   * After retention, how long the directory waits for the owner's agent before purging an
   * entry itself. Blocks of an entry purged here are never released: they stay on peers.
   */
  releaseWindowMs: number;
  throttle: ThrottlePolicy;
  /** Requests per second per source address before 429 (per process; a DoS guard only). */
  requestsPerSecond: number;
  /** The audit log's head is signed (a checkpoint) once this many records follow the last one. */
  auditCheckpointRecords: number;
  /**
   * …or once this long has passed, if any record followed it (and when the directory stops):
   * records after the last checkpoint can be cut off without `audit verify` noticing.
   */
  auditCheckpointMs: number;
  /**
   * How often the directory checks its whole audit log and the key logs it pins, as `audit
   * verify` does, and alerts the admins when it is broken (self-check.ts); 0 for never.
   */
  selfCheckMs: number;
  /**
   * Login attempts refused by the throttle are recorded (`login.throttled`) at most once per
   * this long for each account and address, with their number (throttled-logins.ts).
   */
  auditThrottledMs: number;
  /**
   * A peer is quarantined once strikes name at least this many distinct blocks… (see
   * src/directory/routes/reports.ts for the rule and why).
   */
  quarantineBlocks: number;
  /** …reported by at least this many distinct users, so one user alone cannot quarantine it. */
  quarantineReporters: number;
  /** The security monitor's thresholds. */
  monitor: MonitorPolicy;
}

export const defaultThrottle: ThrottlePolicy = {
  accountSourceFree: 5,
  accountSourceMaxBlockMs: 15 * 60 * 1000,
  accountSourceWindowMs: 24 * 60 * 60 * 1000,
  sourceLimit: 30,
  sourceWindowMs: 10 * 60 * 1000,
  sourceBlockMs: 10 * 60 * 1000,
  accountLimit: 100,
  accountWindowMs: 60 * 60 * 1000,
  accountSpacingMs: 1000,
};

export const defaultMonitor: MonitorPolicy = {
  guessFailures: 20,
  guessWindowMs: 60 * 60 * 1000,
  sourceAccounts: 10,
  sourceWindowMs: 60 * 60 * 1000,
  probeRefusals: 10,
  probeWindowMs: 10 * 60 * 1000,
  burstDeletions: 100,
  burstOverwrites: 100,
  burstWindowMs: 5 * 60 * 1000,
  authRefusals: 5,
  authWindowMs: 10 * 60 * 1000,
  scanMs: 10 * 1000,
};

export const defaultConfig: DirectoryConfig = {
  registration: 'open',
  sessionTtlMs: 12 * 60 * 60 * 1000,
  loginStateTtlMs: 60 * 1000,
  peerLiveMs: 60 * 1000,
  retentionMs: 30 * 24 * 60 * 60 * 1000,
  minRetentionMs: 24 * 60 * 60 * 1000,
  maxRetentionMs: 3650 * 24 * 60 * 60 * 1000,
  releaseWindowMs: 7 * 24 * 60 * 60 * 1000,
  throttle: defaultThrottle,
  requestsPerSecond: 200,
  auditCheckpointRecords: 100,
  auditCheckpointMs: 60 * 1000,
  selfCheckMs: 60 * 60 * 1000,
  auditThrottledMs: 5 * 1000,
  quarantineBlocks: 3,
  quarantineReporters: 2,
  monitor: defaultMonitor,
};

/** The bounds of a user's own retention under `config`, in milliseconds (inclusive). */
export function retentionBounds(config: DirectoryConfig): { minMs: number; maxMs: number } {
  // The default is always a valid choice, so a directory run with a short default (tests, a
  // scratch network) lets users pick it; the minimum guards against purging by mistake.
  const minMs = Math.min(config.minRetentionMs, config.retentionMs);
  return { minMs, maxMs: Math.max(config.maxRetentionMs, minMs) };
}

/**
 * How long `own` (a user's own setting, or null) keeps their trash under `config`: the default
 * when they set none, else their setting brought within the bounds (which may have changed
 * since they chose it).
 */
export function effectiveRetention(own: number | null, config: DirectoryConfig): number {
  if (own === null) return config.retentionMs;
  const { minMs, maxMs } = retentionBounds(config);
  return Math.min(Math.max(own, minMs), maxMs);
}

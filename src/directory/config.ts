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

/** Settings of one directory process. */
export interface DirectoryConfig {
  registration: 'open' | 'invite';
  sessionTtlMs: number;
  loginStateTtlMs: number;
  /** A peer not heard from for this long is down. */
  peerLiveMs: number;
  /**
   * Deleted entries stay in the trash this long; then the owner's agent releases their blocks
   * and purges them (per-owner settings arrive with the trash issue).
   */
  retentionMs: number;
  /**
   * After retention, how long the directory waits for the owner's agent before purging an
   * entry itself. Blocks of an entry purged here are never released: they stay on peers.
   */
  releaseWindowMs: number;
  throttle: ThrottlePolicy;
  /** Requests per second per source address before 429 (per process; a DoS guard only). */
  requestsPerSecond: number;
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

export const defaultConfig: DirectoryConfig = {
  registration: 'open',
  sessionTtlMs: 12 * 60 * 60 * 1000,
  loginStateTtlMs: 60 * 1000,
  peerLiveMs: 60 * 1000,
  retentionMs: 30 * 24 * 60 * 60 * 1000,
  releaseWindowMs: 7 * 24 * 60 * 60 * 1000,
  throttle: defaultThrottle,
  requestsPerSecond: 200,
};

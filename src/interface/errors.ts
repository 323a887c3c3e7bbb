/**
 * The one error type of PeerVault.
 *
 * Callers branch on {@link FsError.kind}, never on message text. The list of kinds is
 * append-only: kinds cross the wire (as `{kind, op, message}`) and are mapped to HTTP statuses
 * and exit codes at each edge, so a kind, once shipped, keeps its meaning forever.
 *
 * Security: an FsError never carries a secret. Messages are written by us, not copied from
 * lower layers; crypto failures are one opaque `integrity` error with no cause attached, so
 * that nothing about a key, a plaintext or the reason a check failed leaks through it.
 */

/** Every kind of failure, in the order they were introduced. Append only. */
export const errorKinds = [
  'invalid', // the request or input is malformed or breaks a rule
  'permission', // the caller may not do this
  'exist', // the item already exists
  'not-exist', // the item does not exist
  'not-dir', // a directory was expected
  'is-dir', // a file was expected
  'not-empty', // a directory that must be empty is not
  'conflict', // a concurrent change won; retry on the new state
  'integrity', // authentication, signature or hash check failed: the data was tampered with or corrupted
  'revoked', // a key, session or capability was revoked
  'throttled', // too many attempts; wait and retry
  'unavailable', // a service or enough replicas could not be reached, or capacity is exhausted
  'internal', // a bug: report it
] as const;

/** A kind of failure; see {@link errorKinds}. */
export type ErrorKind = (typeof errorKinds)[number];

/** What each kind means to a person, and what to do next. Shown by front ends. */
export const kindHints: Readonly<Record<ErrorKind, string>> = {
  invalid: 'The input is not valid; check the command and try again.',
  permission: 'You do not have the right to do this; ask the owner to share it with you.',
  exist: 'That name is already taken; choose another name.',
  'not-exist': 'No such file or directory; check the path with `ls`.',
  'not-dir': 'That is not a directory.',
  'is-dir': 'That is a directory; use the directory form of the command.',
  'not-empty': 'The directory is not empty; remove its contents first or use `rmdir -r`.',
  conflict: 'Someone else changed this at the same time; read it again and retry.',
  integrity:
    'Verification failed: the data was tampered with or corrupted. It was not used; see `alerts`.',
  revoked: 'This key, session or capability was revoked; log in again.',
  throttled: 'Too many attempts; wait a while and try again.',
  unavailable: 'A service or enough peers could not be reached; try again shortly.',
  internal: 'An internal error occurred; please report it with the steps that led to it.',
};

/** Options for {@link FsError}. */
export interface FsErrorOptions {
  /** The operation that failed, e.g. `chunk.open` or `read`. */
  op: string;
  /** The path the operation was about, when a user named one. Never a secret. */
  path?: string;
  /** The lower-level error, when it is safe to keep (never for crypto failures). */
  cause?: unknown;
}

/** The one error class of PeerVault; see the module comment. */
export class FsError extends Error {
  override readonly name = 'FsError';
  readonly kind: ErrorKind;
  readonly op: string;
  readonly path: string | undefined;

  constructor(kind: ErrorKind, message: string, options: FsErrorOptions) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.kind = kind;
    this.op = options.op;
    this.path = options.path;
  }
}

/** True when `err` is an {@link FsError}, optionally of one of the given kinds. */
export function isFsError(err: unknown, ...kinds: ErrorKind[]): err is FsError {
  return err instanceof FsError && (kinds.length === 0 || kinds.includes(err.kind));
}

/** True when `value` names a known error kind (used when decoding errors from the wire). */
export function isErrorKind(value: unknown): value is ErrorKind {
  return typeof value === 'string' && (errorKinds as readonly string[]).includes(value);
}

/** The form in which an error crosses the wire: never a stack, never a cause. */
export interface WireError {
  kind: ErrorKind;
  op: string;
  message: string;
}

/** Turns any thrown value into its wire form; anything but an FsError becomes `internal`. */
export function toWireError(err: unknown, op: string): WireError {
  if (err instanceof FsError) return { kind: err.kind, op: err.op, message: err.message };
  return { kind: 'internal', op, message: 'internal error' };
}

/** Shorthand for the one opaque failure of every cryptographic check. */
export function integrityError(op: string): FsError {
  return new FsError('integrity', 'integrity check failed', { op });
}

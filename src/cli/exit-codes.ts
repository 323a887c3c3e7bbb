/**
 * The CLI's edge table: error kind → process exit code. Scripts branch on these, so they are
 * as stable as the kinds themselves (append only).
 */
import type { ErrorKind } from '../interface/errors.js';

/** Exit code for a command line that could not be parsed (unknown command, bad flag). */
export const usageExitCode = 2;

/** Exit code of each error kind. 0 is success, 1 is reserved for unexpected failures. */
export const exitCodes: Readonly<Record<ErrorKind, number>> = {
  invalid: 2,
  permission: 3,
  exist: 4,
  'not-exist': 5,
  'not-dir': 6,
  'is-dir': 7,
  'not-empty': 8,
  conflict: 9,
  integrity: 10,
  revoked: 11,
  throttled: 12,
  unavailable: 13,
  internal: 1,
};

/**
 * An FsError that carries its own "what to do next", for the few failures where the kind's
 * generic hint (kindHints) would mislead: a failed login is a `permission` error, but "ask the
 * owner to share it with you" is not the advice a person who mistyped their password needs.
 * `main` prints `hint` instead of the kind's hint; an empty hint prints none.
 */
import { FsError, type ErrorKind, type FsErrorOptions } from '../interface/errors.js';

/** An FsError with the sentence the CLI shows after the message. */
export class HintedError extends FsError {
  readonly hint: string;

  constructor(kind: ErrorKind, message: string, hint: string, options: FsErrorOptions) {
    super(kind, message, options);
    this.hint = hint;
  }
}

/** The hint to show for `err`: its own when it has one, else undefined. */
export function ownHint(err: FsError): string | undefined {
  return err instanceof HintedError ? err.hint : undefined;
}

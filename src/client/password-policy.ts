/**
 * Password strength, checked on the client at signup and at every change: with OPAQUE the
 * directory never sees the password, so it cannot check it; the client must.
 *
 * Rule: at least 10 characters and a zxcvbn score of at least 3 ("safely unguessable: moderate
 * protection from offline slow-hash scenario"), with the user name and "peervault" given to
 * zxcvbn as known words, which lowers the score of passwords built on them.
 */
import { ZxcvbnFactory } from '@zxcvbn-ts/core';
import * as common from '@zxcvbn-ts/language-common';
import * as english from '@zxcvbn-ts/language-en';
import { FsError } from '../interface/errors.js';

/** Shortest password accepted. */
export const minPasswordLength = 10;
/** Lowest zxcvbn score accepted (0-4). */
export const minPasswordScore = 3;

let factory: ZxcvbnFactory | undefined;

function estimator(): ZxcvbnFactory {
  // Built lazily: the dictionaries take a moment to load and most commands never need them.
  factory ??= new ZxcvbnFactory({
    dictionary: { ...common.dictionary, ...english.dictionary },
    graphs: common.adjacencyGraphs,
    translations: english.translations,
  });
  return factory;
}

/**
 * Refuses a weak password with a message that says how to pick a better one.
 * @throws FsError `invalid`
 */
export function checkPasswordStrength(password: string, userName: string): void {
  const op = 'password.check';
  if ([...password].length < minPasswordLength) {
    throw new FsError(
      'invalid',
      `the password is too short: use at least ${minPasswordLength} characters (a few unrelated words work well)`,
      { op },
    );
  }
  const result = estimator().check(password, [userName, 'peervault']);
  if (result.score < minPasswordScore) {
    const hint =
      result.feedback.warning ??
      result.feedback.suggestions[0] ??
      'Add another word or two. Uncommon words are better.';
    throw new FsError('invalid', `the password is too easy to guess: ${hint}`, { op });
  }
}

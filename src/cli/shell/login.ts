/**
 * Logging in before the first command: with given credentials, with the session the caller
 * already holds, or by asking `Username:` and `Password:` as the seed's shell did.
 *
 * Security-sensitive: a failed login says only "Login failed", whether the name or the
 * password was wrong, and the password is read without echo and never recorded.
 */
import { isFsError, kindHints } from '../../interface/errors.js';
import { type UserName, parseUserName } from '../../interface/names.js';
import { exitCodes, usageExitCode } from '../exit-codes.js';
import type { LocalApi } from '../local-api.js';
import { Interrupted, type LineReader } from './line-reader.js';

/** Who is logged in, and whether the shell made the session (and so ends it). */
export interface LoggedIn {
  user: UserName;
  ownSession: boolean;
}

/** Options of {@link logIn}. */
export interface LoginOptions {
  api: LocalApi;
  reader: LineReader;
  errors: NodeJS.WritableStream;
  interactive: boolean;
  /** Log in with these, asking nothing. */
  login?: { user: string; password: string };
  /** The user name, when only the password is to be asked. */
  user?: string;
}

/** Tries at a terminal before giving up, as login(1) does; a script gets one. */
const terminalAttempts = 3;

/** Logs in. @returns who, or the exit code to stop with (after saying why on `errors`) */
export async function logIn(options: LoginOptions): Promise<LoggedIn | number> {
  const { api, reader, errors } = options;
  const session = api.session;
  if (options.login === undefined && session !== undefined) {
    return { user: parseUserName(session.user), ownSession: false };
  }
  const attempts = options.login === undefined && options.interactive ? terminalAttempts : 1;
  for (let attempt = 1; ; attempt++) {
    let user = options.login?.user ?? options.user;
    let password = options.login?.password;
    try {
      user ??= (await reader.read('Username: '))?.trim();
      if (user !== undefined && password === undefined)
        password = await reader.read('Password: ', { secret: true });
    } catch (err) {
      if (err instanceof Interrupted) return 130;
      throw err;
    }
    if (user === undefined || password === undefined) {
      errors.write('error: the shell needs a user name and a password to log in\n');
      return usageExitCode;
    }
    try {
      const made = await api.login(user, password);
      return { user: parseUserName(made.user), ownSession: true };
    } catch (err) {
      if (!isFsError(err)) throw err;
      if (err.kind === 'permission' || err.kind === 'invalid') {
        // One answer for a wrong name, a wrong password, a malformed name: nothing to guess from.
        errors.write('Login failed\n');
        if (attempt < attempts) continue;
        return exitCodes.permission;
      }
      errors.write(
        `error: ${err.message}${err.kind === 'throttled' ? `. ${kindHints.throttled}` : ''}\n`,
      );
      return exitCodes[err.kind];
    }
  }
}

/**
 * What every one-shot command (`peervault ls`, `put`, `login`, …) shares: the common flags,
 * finding the local peer, the saved session, the per-command login, `--json` output, and the
 * rule for errors under `--json`.
 *
 * The session: `peervault login` keeps the session token the peer hands out (never the
 * password) in `<peer data dir>/cli-session.json`, mode 0600, written atomically; later commands
 * present it. The peer holds the unlocked keys for that session in memory; the token is a bearer
 * secret, so it is never printed.
 *
 * The `--json` rule: standard output carries exactly one JSON document, whatever happens — the
 * result on success, `{"error": {"kind", "message"}}` on failure. The one-line message still goes
 * to standard error and the exit code is the same as without `--json`.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { FsError, isFsError } from '../interface/errors.js';
import { readIfExists, refuseLoosePermissions, writeFileAtomic } from '../support/key-files.js';
import { type FlagSpec, parseFlags } from './args.js';
import type { CommandIo } from './command.js';
import { HintedError } from './hinted-error.js';
import { type ApiSession, LocalApi } from './local-api.js';
import { locatePeer, type PeerLocation } from './locate-peer.js';
import { hasPasswordFlag, readPasswords, type Terminal } from './passwords.js';

/** The flags every one-shot command takes. */
export const commonFlags = {
  peer: { type: 'string' },
  api: { type: 'string' },
  demo: { type: 'string' },
  json: { type: 'boolean' },
} as const satisfies FlagSpec;

/** The flags of commands that can log in for themselves (and of `login` and `register`). */
export const loginFlags = {
  user: { type: 'string' },
  'password-stdin': { type: 'boolean' },
  'password-file': { type: 'string' },
} as const satisfies FlagSpec;

/** Help text for {@link commonFlags}, shared by every one-shot command's `--help`. */
export const commonHelp = `Finding the peer:
  --peer DIR          the peer's data directory (its api.json says where its API listens)
  --api URL           the peer's local API, http://127.0.0.1:PORT (with --peer: overrides api.json)
  --demo DIR          the demo network's directory (default ./.peervault/demo)
                      With none of these: the first peer of the running demo, else ./.peervault/peer.

Output:
  --json              print exactly one JSON document on standard output: the result, or
                      {"error": {"kind", "message"}} on failure (the one-line message still goes
                      to standard error, and the exit code is the same)`;

/** Help text for {@link loginFlags} on commands that use a session. */
export const sessionHelp = `Session: the one saved by \`peervault login\` in the peer's data directory; or log in for this
command only (the session is not saved, and ends with the command):
  --user NAME         log in as NAME (a saved session of NAME is used when no password flag is given)
  --password-file F   read the password from the first line of file F
  --password-stdin    read the password from the first line of standard input
                      Without either, the password is asked on the terminal; with no terminal,
                      the command fails rather than wait.`;

/** The parts of a one-shot command's `--help`. */
export interface HelpParts {
  /** The usage line after `peervault `, e.g. `ls [PATH]`. */
  usage: string;
  /** What it does, a short paragraph. */
  about: string;
  /** The command's own flags, already aligned; empty when none. */
  flags?: string;
  /** Whether it uses the session (adds {@link sessionHelp}). */
  session: boolean;
  /** One or more example lines. */
  examples: readonly string[];
}

/** A one-shot command's `--help`, laid out the same way for all of them. */
export function commandHelp(parts: HelpParts): string {
  return [
    `Usage: peervault ${parts.usage} [options]`,
    '',
    parts.about,
    ...(parts.flags ? ['', parts.flags] : []),
    ...(parts.session ? ['', sessionHelp] : []),
    '',
    commonHelp,
    '',
    parts.examples.length === 1 ? 'Example:' : 'Examples:',
    ...parts.examples.map((line) => `  ${line}`),
  ].join('\n');
}

/** A time as `2025-01-31 14:05:09 UTC`. */
export function formatTime(ms: number): string {
  return new Date(ms)
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d{3}Z$/, ' UTC');
}

/** The session file's name in a peer's data directory. */
export const sessionFileName = 'cli-session.json';

/** What `cli-session.json` holds: the session token and what it is for. Never a password. */
export interface SavedSession {
  v: 1;
  user: string;
  token: string;
  expiresAt: number;
  fingerprint: string;
}

/** Path of the session file of the peer whose data directory is `dataDir`. */
export function sessionPath(dataDir: string): string {
  return join(dataDir, sessionFileName);
}

/** Saves `session` (mode 0600, atomically). */
export function saveSession(dataDir: string, session: ApiSession): void {
  const saved: SavedSession = {
    v: 1,
    user: session.user,
    token: session.token,
    expiresAt: session.expiresAt,
    fingerprint: session.fingerprint,
  };
  writeFileAtomic(sessionPath(dataDir), JSON.stringify(saved) + '\n');
}

/** Deletes the saved session, if any. */
export function forgetSession(dataDir: string): void {
  rmSync(sessionPath(dataDir), { force: true });
}

const loginAgain = (user: string) => `Log in again: \`peervault login --user ${user}\`.`;

/**
 * Loads the saved session, or undefined when there is none.
 * @throws FsError `permission` when the file is readable by others, `invalid` when it is
 *   damaged, `revoked` when it has expired (a damaged or expired file is removed)
 */
export async function loadSession(dataDir: string): Promise<SavedSession | undefined> {
  const op = 'session';
  const path = sessionPath(dataDir);
  const raw = readIfExists(path);
  if (raw === undefined) return undefined;
  await refuseLoosePermissions(path);
  const saved = parseSaved(raw.toString('utf8'));
  if (saved === undefined) {
    forgetSession(dataDir);
    throw new HintedError(
      'invalid',
      `${path} was damaged and has been removed`,
      loginAgain('NAME'),
      { op },
    );
  }
  if (saved.expiresAt <= Date.now()) {
    forgetSession(dataDir);
    throw new HintedError(
      'revoked',
      `the session of ${saved.user} has ended`,
      loginAgain(saved.user),
      {
        op,
      },
    );
  }
  return saved;
}

function parseSaved(text: string): SavedSession | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const v = value as Record<string, unknown>;
  if (
    v['v'] !== 1 ||
    typeof v['user'] !== 'string' ||
    typeof v['token'] !== 'string' ||
    typeof v['expiresAt'] !== 'number' ||
    typeof v['fingerprint'] !== 'string'
  ) {
    return undefined;
  }
  return v as unknown as SavedSession;
}

/** The error of a command that needs a session and has none. */
export function notLoggedIn(op: string): HintedError {
  return new HintedError(
    'permission',
    'not logged in: run `peervault login --user NAME` first',
    'Or pass --user NAME with --password-file FILE or --password-stdin to log in for this command only.',
    { op },
  );
}

/** Turns a failed login at the directory into the one sentence users see. */
export function loginFailed(err: unknown, op: string): unknown {
  if (isFsError(err, 'permission')) {
    return new HintedError(
      'permission',
      'Login failed',
      'Check the user name and password and try again (repeated failures are throttled).',
      { op },
    );
  }
  return err;
}

/** A session in use by this command. */
export interface Session {
  api: LocalApi;
  user: string;
  location: PeerLocation;
  /** Whether it came from `cli-session.json` (rather than `--user` for this command). */
  saved: boolean;
}

/** Raw standard streams, for commands that move bytes; a CommandIo may carry its own. */
export interface ByteIo {
  stdin?: NodeJS.ReadableStream & { isTTY?: boolean; setRawMode?: (mode: boolean) => unknown };
  stdout?: NodeJS.WritableStream;
  stderr?: NodeJS.WritableStream;
}

/** The flags a one-shot command's spec always includes. */
type BaseFlags = {
  peer?: string | undefined;
  api?: string | undefined;
  demo?: string | undefined;
  json?: boolean | undefined;
  user?: string | undefined;
  'password-stdin'?: boolean | undefined;
  'password-file'?: string | undefined;
};

/** The parsed values of a flag spec, as parseFlags gives them. */
type FlagValues<S extends FlagSpec> = {
  [K in keyof S]?: S[K]['type'] extends 'string' ? string : boolean;
};

/** What a one-shot command's body gets. */
export interface OneShot<F> {
  op: string;
  flags: F;
  positionals: string[];
  io: CommandIo;
  json: boolean;
  stdin: NonNullable<ByteIo['stdin']>;
  stdout: NodeJS.WritableStream;
  terminal: Terminal;
  /** The local peer (found once). */
  locate(): Promise<PeerLocation>;
  /** A client of the local peer without a session. */
  api(): Promise<LocalApi>;
  /** The session: `--user` for this command, else the saved one. @throws FsError `permission` */
  session(): Promise<Session>;
  /** The session when there is one; undefined otherwise, or when the saved one ended (never prompts). */
  optionalSession(): Promise<Session | undefined>;
  /** Prints `value` as JSON under `--json`, else the text lines (none when empty). */
  print(value: unknown, text: string | readonly string[]): void;
}

/**
 * Checks the positional arguments against a usage such as `['PATH']` required and `['LOCAL']`
 * optional. @throws FsError `invalid` naming what is missing or extra
 */
export function positionalArgs(
  positionals: readonly string[],
  required: readonly string[],
  optional: readonly string[],
  usage: string,
  op: string,
): (string | undefined)[] {
  if (positionals.length < required.length) {
    const missing = required.slice(positionals.length).join(' ');
    throw new FsError('invalid', `missing ${missing} (usage: ${usage})`, { op });
  }
  if (positionals.length > required.length + optional.length) {
    const extra = positionals[required.length + optional.length];
    throw new FsError('invalid', `unexpected argument "${extra}" (usage: ${usage})`, { op });
  }
  return [...required, ...optional].map((_, i) => positionals[i]);
}

/**
 * Wraps a one-shot command's body: parses the flags (common, login and its own), gives it the
 * peer and the session, applies the `--json` error rule, and turns a session the peer no longer
 * knows into "log in again" (removing a dead saved session).
 */
export function oneShot<S extends FlagSpec>(
  op: string,
  spec: S,
  body: (ctx: OneShot<FlagValues<S> & BaseFlags>) => Promise<number>,
): (args: readonly string[], io: CommandIo) => Promise<number> {
  return async (args, io) => {
    // Decided before parsing, so that a bad flag also answers in JSON.
    const json = args.includes('--json');
    let current: Session | undefined;
    try {
      const { flags, positionals } = parseFlags(
        args,
        { ...commonFlags, ...loginFlags, ...spec },
        op,
      );
      // The spec always includes the common and login flags, whatever S adds.
      const all = flags as unknown as FlagValues<S> & BaseFlags;
      const base: BaseFlags = all;
      const streams = io as CommandIo & ByteIo;
      const stdin = streams.stdin ?? process.stdin;
      const terminal: Terminal = { input: stdin, output: streams.stderr ?? process.stderr };
      const source = { file: base['password-file'], stdin: base['password-stdin'] };
      if (hasPasswordFlag(source) && base.user === undefined) {
        throw new FsError(
          'invalid',
          `${source.file === undefined ? '--password-stdin' : '--password-file'} needs --user NAME`,
          { op },
        );
      }
      let location: Promise<PeerLocation> | undefined;
      const locate = (): Promise<PeerLocation> =>
        (location ??= locatePeer({ peer: base.peer, api: base.api, demo: base.demo }).catch(
          (err: unknown) => {
            // Its message says what to do; the generic "check the path with `ls`" would not fit.
            if (isFsError(err, 'not-exist'))
              throw new HintedError(err.kind, err.message, '', { op });
            throw err;
          },
        ));
      const open = async (mayPrompt: boolean): Promise<Session | undefined> => {
        if (current) return current;
        const where = await locate();
        // --user with a password flag logs in afresh; otherwise a saved session of the same
        // user (or of anyone, without --user) is used.
        let saved: SavedSession | undefined;
        if (base.user === undefined || !hasPasswordFlag(source)) {
          try {
            saved = await loadSession(where.dataDir);
          } catch (err) {
            // An ended or damaged session file (now removed) matters only to a command that
            // needs the session and has no --user to log in with instead.
            const stale = isFsError(err, 'revoked', 'invalid');
            if (!stale || (base.user === undefined && mayPrompt)) throw err;
          }
        }
        if (saved !== undefined && (base.user === undefined || base.user === saved.user)) {
          current = {
            api: new LocalApi(where.endpoint, { ...saved }),
            user: saved.user,
            location: where,
            saved: true,
          };
          return current;
        }
        if (base.user === undefined || !mayPrompt) return undefined;
        const [password] = await readPasswords(source, { labels: ['Password'] }, op, terminal);
        const api = new LocalApi(where.endpoint);
        try {
          await api.login(base.user, password!);
        } catch (err) {
          throw loginFailed(err, op);
        }
        current = { api, user: base.user, location: where, saved: false };
        return current;
      };
      const code = await body({
        op,
        flags: all,
        positionals,
        io,
        json,
        stdin,
        stdout: streams.stdout ?? process.stdout,
        terminal,
        locate,
        async api() {
          return new LocalApi((await locate()).endpoint);
        },
        async session() {
          const session = await open(true);
          if (!session) throw notLoggedIn(op);
          return session;
        },
        optionalSession() {
          return open(false);
        },
        print(value, text) {
          if (json) io.out(JSON.stringify(value));
          else {
            const lines = typeof text === 'string' ? [text] : text;
            if (lines.length > 0) io.out(lines.join('\n'));
          }
        },
      });
      await endOneCommandSession(current);
      return code;
    } catch (err) {
      const shown = current ? await sessionEnded(current, err, op) : err;
      await endOneCommandSession(current);
      if (json) {
        const error = isFsError(shown)
          ? { kind: shown.kind, message: shown.message }
          : { kind: 'internal', message: 'internal error' };
        io.out(JSON.stringify({ error }));
      }
      throw shown;
    }
  };
}

/**
 * A session opened for one command (`--user` with a password flag) ends with it, so that the
 * peer does not keep the user's unlocked keys for hours for nothing. Never throws.
 */
async function endOneCommandSession(session: Session | undefined): Promise<void> {
  if (session === undefined || session.saved || session.api.session === undefined) return;
  await session.api.logout().catch(() => undefined);
}

/**
 * When a call failed because the peer no longer knows the session (it expired, was ended by a
 * logout or a password change elsewhere, or the peer restarted), says "log in again" and removes
 * the saved copy. A `permission` error is ambiguous (the session, or the file?), so it is
 * settled by asking the peer who we are.
 */
async function sessionEnded(session: Session, err: unknown, op: string): Promise<unknown> {
  if (!isFsError(err, 'revoked', 'permission')) return err;
  if (err.kind === 'permission') {
    try {
      await session.api.whoami();
      return err;
    } catch (probe) {
      if (!isFsError(probe, 'revoked', 'permission')) return err;
    }
  }
  if (session.saved) forgetSession(session.location.dataDir);
  return new HintedError(
    'revoked',
    `the session of ${session.user} at this peer has ended`,
    loginAgain(session.user),
    { op },
  );
}

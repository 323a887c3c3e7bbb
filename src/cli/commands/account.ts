/**
 * The account commands: `register`, `login`, `logout`, `whoami`, `passwd`. They talk to the
 * local peer, which runs OPAQUE with the directory and holds the unlocked keys; the CLI sees a
 * password only long enough to hand it to the peer, and keeps only the session token.
 */
import { FsError, isFsError } from '../../interface/errors.js';
import type { Command } from '../command.js';
import { HintedError } from '../hinted-error.js';
import { LocalApi } from '../local-api.js';
import { readPasswords } from '../passwords.js';
import { deviceLines } from '../devices-output.js';
import { revocationLines, revocationProgress } from '../revocate-output.js';
import {
  commandHelp,
  forgetSession,
  formatTime,
  loadSession,
  loginFailed,
  notLoggedIn,
  oneShot,
  positionalArgs,
  saveSession,
  sessionPath,
  type SavedSession,
} from '../session-options.js';

/** `--user`, `--password-file`, `--password-stdin` as `register` and `login` describe them. */
const accountFlags = `  --user NAME         the account's name (required)
  --password-file F   read the password from the first line of file F
  --password-stdin    read the password from the first line of standard input
                      Without either, the password is asked on the terminal (no echo); with no
                      terminal, the command fails rather than wait.`;

function requireUser(user: string | undefined, op: string): string {
  if (user === undefined || user === '') {
    throw new FsError('invalid', `${op} needs --user NAME (usage: peervault ${op} --user NAME)`, {
      op,
    });
  }
  return user;
}

export const registerCommand: Command = {
  name: 'register',
  summary: 'create an account (through the local peer)',
  help: commandHelp({
    usage: 'register --user NAME [--password-file FILE | --password-stdin] [--invite CODE]',
    about: `Creates an account at the directory the local peer belongs to: your keys are made on the
peer and stored at the directory sealed under your password. On a terminal the password is
asked twice. Log in afterwards with \`peervault login\`.`,
    flags: `${accountFlags}
  --invite CODE       an invitation code, when the directory asks for one`,
    session: false,
    examples: [
      'peervault register --user alice',
      'peervault register --user bob --password-file ./pw',
    ],
  }),
  run: oneShot('register', { invite: { type: 'string' } }, async (ctx) => {
    positionalArgs(ctx.positionals, [], [], 'peervault register --user NAME', ctx.op);
    const user = requireUser(ctx.flags.user, ctx.op);
    const source = { file: ctx.flags['password-file'], stdin: ctx.flags['password-stdin'] };
    const api = await ctx.api();
    const [password] = await readPasswords(
      source,
      { labels: ['Password'], confirmLast: true },
      ctx.op,
      ctx.terminal,
    );
    const account = await api.register(user, password!, ctx.flags.invite);
    ctx.print(account, [
      `Registered ${account.user}. Fingerprint of your key: ${account.fingerprint}`,
      `Log in with \`peervault login --user ${account.user}\`.`,
    ]);
    return 0;
  }),
};

export const loginCommand: Command = {
  name: 'login',
  summary: 'log in at the local peer and save the session for later commands',
  help: commandHelp({
    usage: 'login --user NAME [--password-file FILE | --password-stdin]',
    about: `Logs in at the local peer, which unlocks your keys and keeps them in memory for the session.
The session token (never the password) is saved in <peer data dir>/cli-session.json, readable
by you only, and later commands use it until \`peervault logout\` or until it expires. A new
login replaces the saved session. A failed login prints "Login failed" and exits 3.`,
    flags: accountFlags,
    session: false,
    examples: [
      'peervault login --user alice',
      'pass show peervault | peervault login --user alice --password-stdin',
    ],
  }),
  run: oneShot('login', {}, async (ctx) => {
    positionalArgs(ctx.positionals, [], [], 'peervault login --user NAME', ctx.op);
    const user = requireUser(ctx.flags.user, ctx.op);
    const source = { file: ctx.flags['password-file'], stdin: ctx.flags['password-stdin'] };
    const location = await ctx.locate();
    const [password] = await readPasswords(source, { labels: ['Password'] }, ctx.op, ctx.terminal);
    const api = new LocalApi(location.endpoint);
    let session;
    try {
      session = await api.login(user, password!);
    } catch (err) {
      throw loginFailed(err, ctx.op);
    }
    saveSession(location.dataDir, session);
    ctx.print(
      { user: session.user, fingerprint: session.fingerprint, expiresAt: session.expiresAt },
      [
        `Logged in as ${session.user} (${session.fingerprint}).`,
        `The session lasts until ${formatTime(session.expiresAt)}; it is saved in ${sessionPath(location.dataDir)}.`,
      ],
    );
    return 0;
  }),
};

export const logoutCommand: Command = {
  name: 'logout',
  summary: 'end the saved session and delete it',
  help: commandHelp({
    usage: 'logout [--everywhere]',
    about: `Ends the saved session: the peer forgets your unlocked keys and cli-session.json is deleted.
With --everywhere the directory also ends every other session of your account, on every peer
and device (do this when a device is lost). Logging out when not logged in is not an error.`,
    session: false,
    examples: ['peervault logout', 'peervault logout --everywhere'],
  }),
  run: oneShot('logout', { everywhere: { type: 'boolean' } }, async (ctx) => {
    positionalArgs(ctx.positionals, [], [], 'peervault logout', ctx.op);
    const location = await ctx.locate();
    let saved: SavedSession | undefined;
    try {
      saved = await loadSession(location.dataDir);
    } catch (err) {
      // An expired or damaged session file has just been removed: nothing is left to end.
      if (!isFsError(err, 'revoked', 'invalid')) throw err;
    }
    if (saved === undefined) {
      ctx.print({ user: null, ended: false }, 'Not logged in at this peer; nothing to do.');
      return 0;
    }
    try {
      await new LocalApi(location.endpoint, { ...saved }).logout({
        everywhere: ctx.flags.everywhere === true,
      });
    } catch (err) {
      // The peer already forgot the session (it ended, or the peer restarted): just as good.
      // When the peer cannot be reached, keep the file so that logout can be retried.
      if (!isFsError(err, 'revoked', 'permission')) throw err;
    }
    forgetSession(location.dataDir);
    ctx.print({ user: saved.user, ended: true }, `Logged out ${saved.user}.`);
    return 0;
  }),
};

export const whoamiCommand: Command = {
  name: 'whoami',
  summary: 'show who is logged in',
  help: commandHelp({
    usage: 'whoami',
    about: `Shows the user of the session, the fingerprint of their key and when the session ends.
Exits 3 when not logged in.`,
    session: true,
    examples: ['peervault whoami', 'peervault whoami --json'],
  }),
  run: oneShot('whoami', {}, async (ctx) => {
    positionalArgs(ctx.positionals, [], [], 'peervault whoami', ctx.op);
    const { api } = await ctx.session();
    const me = await api.whoami();
    ctx.print(me, [
      me.user,
      `fingerprint   ${me.fingerprint}`,
      `session ends  ${formatTime(me.expiresAt)}`,
    ]);
    return 0;
  }),
};

export const passwdCommand: Command = {
  name: 'passwd',
  summary: 'change your password',
  help: commandHelp({
    usage: 'passwd [--password-stdin | --password-file FILE]',
    about: `Changes your password. On a terminal it asks for the current password and the new one twice;
with --password-stdin (or --password-file) it reads two lines: the current password, then the
new one. Uses the saved session, or --user NAME to log in with the current password. Every
session of the account ends (on every peer): log in again afterwards.`,
    session: true,
    examples: [
      'peervault passwd',
      'printf \'%s\\n%s\\n\' "$OLD" "$NEW" | peervault passwd --user alice --password-stdin',
    ],
  }),
  run: oneShot('passwd', {}, async (ctx) => {
    positionalArgs(ctx.positionals, [], [], 'peervault passwd', ctx.op);
    // Never prompts: with --user and a password flag the login waits for the passwords below.
    let session = await ctx.optionalSession();
    const user = ctx.flags.user;
    if (session === undefined && user === undefined) throw notLoggedIn(ctx.op);
    const source = { file: ctx.flags['password-file'], stdin: ctx.flags['password-stdin'] };
    const [current, next] = await readPasswords(
      source,
      { labels: ['Current password', 'New password'], confirmLast: true },
      ctx.op,
      ctx.terminal,
    );
    if (session === undefined) {
      const location = await ctx.locate();
      const api = new LocalApi(location.endpoint);
      try {
        await api.login(user!, current!);
      } catch (err) {
        throw loginFailed(err, ctx.op);
      }
      session = { api, user: user!, location, saved: false };
    }
    try {
      await session.api.passwd(current!, next!);
    } catch (err) {
      if (isFsError(err, 'permission') && err.op === 'login') {
        throw new HintedError('permission', 'the current password is wrong', 'Try again.', {
          op: ctx.op,
        });
      }
      throw err;
    }
    const saved = await loadSession(session.location.dataDir).catch(() => undefined);
    if (saved?.user === session.user) forgetSession(session.location.dataDir);
    ctx.print({ user: session.user, changed: true }, [
      `Password changed for ${session.user}. Every session of ${session.user} has ended;`,
      `log in again with \`peervault login --user ${session.user}\`.`,
    ]);
    return 0;
  }),
};

export const revocateCommand: Command = {
  name: 'revocate',
  summary: 'replace your keys (a suspected compromise)',
  help: commandHelp({
    usage: 'revocate [--resume] [--new-password]',
    about: `Replaces your signing and encryption keys, for when you suspect they were stolen: the key
log records the revocation (signed by the old key and the new), every other session of yours
ends, and everything you own gets a new version under the new key (files a new file key), so
nothing written from now on opens with the old keys and nothing signed with them is accepted.
Shows progress on a terminal and asks nothing. --resume finishes a revocation that was
interrupted. --new-password also changes your password (asked at a terminal); every session
then ends.`,
    session: true,
    examples: ['peervault revocate', 'peervault revocate --json', 'peervault revocate --resume'],
  }),
  run: oneShot(
    'revocate',
    { resume: { type: 'boolean' }, 'new-password': { type: 'boolean' } },
    async (ctx) => {
      positionalArgs(ctx.positionals, [], [], 'peervault revocate', ctx.op);
      let newPassword: string | undefined;
      if (ctx.flags['new-password'] === true) {
        if (ctx.terminal.input.isTTY !== true) {
          throw new FsError(
            'invalid',
            '--new-password asks for the new password at a terminal; in a script, run `peervault passwd` afterwards',
            { op: ctx.op },
          );
        }
        [newPassword] = await readPasswords(
          {},
          { labels: ['New password'], confirmLast: true },
          ctx.op,
          ctx.terminal,
        );
      }
      const session = await ctx.session();
      const progress = revocationProgress(ctx.terminal.output as NodeJS.WriteStream);
      let summary;
      try {
        summary = await session.api.revocate(
          {
            ...(ctx.flags.resume === true ? { resume: true } : {}),
            ...(newPassword === undefined ? {} : { newPassword }),
          },
          (p) => progress.update(p),
        );
      } finally {
        progress.done();
      }
      if (summary.passwordChanged) {
        const saved = await loadSession(session.location.dataDir).catch(() => undefined);
        if (saved?.user === session.user) forgetSession(session.location.dataDir);
      }
      ctx.print({ user: session.user, ...summary }, revocationLines(session.user, summary));
      return 0;
    },
  ),
};

export const devicesCommand: Command = {
  name: 'devices',
  summary: 'list your sessions; revoke one (and replace your keys)',
  help: commandHelp({
    usage: 'devices [revoke ID]',
    about: `Lists the live sessions of your account, one per login at a peer (* marks this one), with
the fingerprint of each session's device key. \`devices revoke ID\` ends that session and then
replaces your keys as \`revocate\` does, since that device held them unlocked: every other
session ends too.`,
    session: true,
    examples: ['peervault devices', 'peervault devices revoke 4kJ2…', 'peervault devices --json'],
  }),
  run: oneShot('devices', {}, async (ctx) => {
    const [verb, id] = positionalArgs(
      ctx.positionals,
      [],
      ['revoke', 'ID'],
      'peervault devices [revoke ID]',
      ctx.op,
    );
    const session = await ctx.session();
    if (verb === undefined) {
      const list = await session.api.devices();
      ctx.print({ devices: list }, deviceLines(list));
      return 0;
    }
    if (verb !== 'revoke' || id === undefined) {
      throw new FsError('invalid', 'usage: peervault devices [revoke ID]', { op: ctx.op });
    }
    await session.api.endDevice(id);
    const progress = revocationProgress(ctx.terminal.output as NodeJS.WriteStream);
    let summary;
    try {
      summary = await session.api.revocate({}, (p) => progress.update(p));
    } finally {
      progress.done();
    }
    ctx.print({ ended: id, user: session.user, ...summary }, [
      `Ended session ${id}.`,
      ...revocationLines(session.user, summary),
    ]);
    return 0;
  }),
};

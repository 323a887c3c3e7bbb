/**
 * The demo network's accounts: alice, bob and carol, with strong random passwords kept in
 * `DIR/accounts.json` (0600) and registered through a peer's local API.
 *
 * Crash safety: the passwords are written to the file BEFORE the accounts are registered, and
 * each account is marked `registered` only after the directory accepted it, so a start that
 * dies half way never loses a password; the next start registers what is left. An `exist`
 * answer then means an earlier start got that far, which a login with the password on file
 * confirms (it fails if the file was lost and made afresh while the directory kept the user).
 *
 * Security-sensitive: the file holds plaintext passwords. It is a demo convenience, written
 * 0600 in a 0700 directory; real accounts are never stored this way.
 */
import { randomBytes } from 'node:crypto';
import { FsError } from '../interface/errors.js';
import { readIfExists, refuseLoosePermissions, writeFileAtomic } from '../support/key-files.js';
import type { LocalApi } from './local-api.js';

/** The demo's users, in the order they are shown. */
export const demoUsers = ['alice', 'bob', 'carol'] as const;

/** One demo account as `accounts.json` keeps it. */
export interface DemoAccount {
  user: string;
  password: string;
  /** Whether the directory has accepted the registration. */
  registered: boolean;
}

/** The demo accounts and whether their passwords were made by this call. */
export interface DemoAccounts {
  accounts: DemoAccount[];
  /** Users whose passwords were just made (print them once); empty on a restart. */
  created: string[];
}

/** Crockford's base32 alphabet in lower case: no i, l, o or u to misread. */
const alphabet = '0123456789abcdefghjkmnpqrstvwxyz';

/**
 * A strong random password that is easy to read and type: four groups of five base32
 * characters (100 bits), such as `k3x9q-7mdfa-2hz0c-wp4ne`.
 */
export function generateDemoPassword(): string {
  const bytes = randomBytes(20);
  const chars = [...bytes].map((byte) => alphabet[byte & 31]!);
  return [0, 5, 10, 15].map((at) => chars.slice(at, at + 5).join('')).join('-');
}

function parseAccounts(raw: Buffer, path: string): DemoAccount[] {
  const damaged = () =>
    new FsError(
      'invalid',
      `${path} is damaged; restore it, or remove the demo's data directory to start afresh`,
      { op: 'demo.accounts' },
    );
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw.toString('utf8'));
  } catch {
    throw damaged();
  }
  const list = (parsed as { accounts?: unknown } | null)?.accounts;
  if (!Array.isArray(list)) throw damaged();
  return list.map((item: unknown) => {
    const { user, password, registered } = (item ?? {}) as Record<string, unknown>;
    if (typeof user !== 'string' || typeof password !== 'string') throw damaged();
    // A file without the flag (written by hand) is taken as registered: `exist` will say so.
    return { user, password, registered: registered !== false };
  });
}

function saveAccounts(path: string, accounts: readonly DemoAccount[]): void {
  writeFileAtomic(path, JSON.stringify({ accounts }, null, 2) + '\n');
}

/**
 * Reads `path`, adding any demo user it lacks with a fresh password, and saves it (0600)
 * before anything is registered. @throws FsError `invalid` (damaged file), `permission`
 */
export async function loadOrCreateDemoAccounts(path: string): Promise<DemoAccounts> {
  const raw = readIfExists(path);
  if (raw !== undefined) await refuseLoosePermissions(path);
  const accounts = raw === undefined ? [] : parseAccounts(raw, path);
  const created: string[] = [];
  for (const user of demoUsers) {
    if (accounts.some((a) => a.user === user)) continue;
    accounts.push({ user, password: generateDemoPassword(), registered: false });
    created.push(user);
  }
  if (created.length > 0) saveAccounts(path, accounts);
  return { accounts, created };
}

/**
 * Registers every account not yet marked registered, marking each in `path` as soon as the
 * directory has it. Sequential: OPAQUE's key stretching is CPU-bound and runs in this very
 * process, so registering in parallel would not finish sooner.
 * @throws FsError `exist` when a user exists at the directory with another password
 */
export async function registerDemoAccounts(
  api: LocalApi,
  path: string,
  accounts: DemoAccount[],
): Promise<void> {
  for (const account of accounts) {
    if (account.registered) continue;
    try {
      await api.register(account.user, account.password);
    } catch (err) {
      if (!(err instanceof FsError && err.kind === 'exist')) throw err;
      await confirmPassword(api, account, path);
    }
    account.registered = true;
    saveAccounts(path, accounts);
  }
}

/** Checks that an account the directory already has takes the password on file. */
async function confirmPassword(api: LocalApi, account: DemoAccount, path: string): Promise<void> {
  try {
    await api.login(account.user, account.password);
  } catch (err) {
    if (!(err instanceof FsError && err.kind === 'permission')) throw err;
    throw new FsError(
      'exist',
      `the demo directory already has "${account.user}", but not with the password in ${path}; remove the demo's data directory to start afresh`,
      { op: 'demo.accounts' },
    );
  }
  await api.logout();
}

/**
 * The demo's accounts: strong readable passwords, kept 0600 before anything is registered, and
 * a registration that survives a crash half way.
 */
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  type DemoAccount,
  generateDemoPassword,
  loadOrCreateDemoAccounts,
  registerDemoAccounts,
} from '../../src/cli/demo-accounts.js';
import type { LocalApi } from '../../src/cli/local-api.js';
import { checkPasswordStrength } from '../../src/client/password-policy.js';
import { FsError } from '../../src/interface/errors.js';
import { expectKindAsync } from '../helpers/expect-error.js';

/** A stand-in for the local API: the directory's accounts in a map. */
function fakeApi(
  directory: Map<string, string>,
  onRegister: (user: string) => void = () => undefined,
): LocalApi & { calls: string[] } {
  const calls: string[] = [];
  const api = {
    calls,
    register(user: string, password: string) {
      calls.push(`register ${user}`);
      onRegister(user);
      if (directory.has(user)) throw new FsError('exist', 'taken', { op: 'register' });
      directory.set(user, password);
      return Promise.resolve({ user, fingerprint: 'FP' });
    },
    login(user: string, password: string) {
      calls.push(`login ${user}`);
      if (directory.get(user) !== password) throw new FsError('permission', 'no', { op: 'login' });
      return Promise.resolve({ token: 't', user, expiresAt: 0, fingerprint: 'FP' });
    },
    logout() {
      calls.push('logout');
      return Promise.resolve();
    },
  };
  return api as unknown as LocalApi & { calls: string[] };
}

const onFile = (path: string) =>
  (JSON.parse(readFileSync(path, 'utf8')) as { accounts: DemoAccount[] }).accounts;

describe('demo passwords', () => {
  it('are four groups of five unambiguous characters that pass the strength policy', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 8; i++) {
      const password = generateDemoPassword();
      expect(password).toMatch(/^[0-9a-hjkmnp-tv-z]{5}(-[0-9a-hjkmnp-tv-z]{5}){3}$/);
      expect(() => checkPasswordStrength(password, 'alice')).not.toThrow();
      seen.add(password);
    }
    expect(seen.size).toBe(8);
  });
});

describe('demo accounts', () => {
  let dir: string;
  let path: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'pv-demo-accounts-'));
    path = join(dir, 'accounts.json');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('makes alice, bob and carol once, in a 0600 file, and keeps them', async () => {
    const first = await loadOrCreateDemoAccounts(path);
    expect(first.created).toEqual(['alice', 'bob', 'carol']);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(onFile(path)).toEqual(first.accounts);
    expect(first.accounts.every((a) => !a.registered)).toBe(true);
    const again = await loadOrCreateDemoAccounts(path);
    expect(again.created).toEqual([]);
    expect(again.accounts).toEqual(first.accounts);
  });

  it('refuses a file other users can read, and a damaged one', async () => {
    await loadOrCreateDemoAccounts(path);
    chmodSync(path, 0o644);
    await expectKindAsync('permission', loadOrCreateDemoAccounts(path));
    writeFileSync(path, '{"accounts": 3}', { mode: 0o600 });
    chmodSync(path, 0o600);
    await expectKindAsync('invalid', loadOrCreateDemoAccounts(path));
  });

  it('has each password on disk before registering it, and marks each as it goes', async () => {
    const { accounts } = await loadOrCreateDemoAccounts(path);
    const directory = new Map<string, string>();
    const api = fakeApi(directory, (user) => {
      const saved = onFile(path);
      const account = saved.find((a) => a.user === user)!;
      expect(account.password).toBe(accounts.find((a) => a.user === user)!.password);
      // Everyone before this user is already marked registered.
      expect(saved.filter((a) => a.registered).map((a) => a.user)).toEqual([...directory.keys()]);
    });
    await registerDemoAccounts(api, path, accounts);
    expect(onFile(path).every((a) => a.registered)).toBe(true);
    expect([...directory.keys()]).toEqual(['alice', 'bob', 'carol']);
    // A restart registers nothing again.
    api.calls.length = 0;
    await registerDemoAccounts(api, path, (await loadOrCreateDemoAccounts(path)).accounts);
    expect(api.calls).toEqual([]);
  });

  it('picks up after a crash half way: an account the directory already has is confirmed', async () => {
    const { accounts } = await loadOrCreateDemoAccounts(path);
    // The earlier start registered alice and died before marking her.
    const directory = new Map([['alice', accounts[0]!.password]]);
    const api = fakeApi(directory);
    await registerDemoAccounts(api, path, accounts);
    expect(api.calls).toEqual([
      'register alice',
      'login alice',
      'logout',
      'register bob',
      'register carol',
    ]);
    expect(onFile(path).every((a) => a.registered)).toBe(true);
  });

  it('says so when the directory has a demo user whose password was lost', async () => {
    const { accounts } = await loadOrCreateDemoAccounts(path);
    const api = fakeApi(new Map([['bob', 'some-other-password']]));
    await expectKindAsync('exist', registerDemoAccounts(api, path, accounts));
    expect(onFile(path).map((a) => a.registered)).toEqual([true, false, false]);
  });

  it('keeps what was registered when a registration fails', async () => {
    const { accounts } = await loadOrCreateDemoAccounts(path);
    const api = fakeApi(new Map(), (user) => {
      if (user === 'bob') throw new FsError('unavailable', 'down', { op: 'register' });
    });
    await expectKindAsync('unavailable', registerDemoAccounts(api, path, accounts));
    expect(onFile(path).map((a) => a.registered)).toEqual([true, false, false]);
  });
});

/**
 * The directory store's contract (src/interface/directory-store.ts), run against both engines.
 * Concurrency tests use two store instances over one database (on SQLite, two connections to
 * one file), as two directory processes would.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import SqliteDatabase from 'better-sqlite3';
import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newFileId } from '../../src/crypto/random.js';
import { migrate, migrationsFor } from '../../src/directory/store/migrations.js';
import { openPostgresStore, openSqliteStore } from '../../src/directory/store/open-store.js';
import type {
  DirectoryStore,
  EntryRecord,
  Grant,
  KeyLogRecord,
  PeerRecord,
  UserRecord,
} from '../../src/interface/directory-store.js';
import type { AuditEvent } from '../../src/interface/audit.js';
import type { FileId } from '../../src/interface/ids.js';
import { parseUserName, type UserName } from '../../src/interface/names.js';
import { expectKindAsync } from '../helpers/expect-error.js';
import {
  storeEngines,
  storeHarness,
  type TestDatabaseTarget,
  testPostgresUrl,
} from '../helpers/stores.js';

const bytes = (n: number): Uint8Array => new Uint8Array(randomBytes(n));
const zeroTag = new Uint8Array(32);
const now = 1_700_000_000_000;
const openStoreModule = fileURLToPath(
  new URL('../../src/directory/store/open-store.ts', import.meta.url),
);

let counter = 0;
/** A user name no other test uses. */
function freshName(prefix = 'u'): UserName {
  counter += 1;
  return parseUserName(`${prefix}${counter}x${randomBytes(3).toString('hex')}`);
}

function userRecord(name: UserName): UserRecord {
  return {
    name,
    createdAt: now,
    opaqueRecord: `opaque-${name}`,
    sealedKeys: bytes(80),
    role: 'user',
  };
}

function genesisOf(name: UserName): KeyLogRecord {
  return { user: name, seq: 0, envelope: bytes(120), hash: bytes(32) };
}

function entry(
  owner: UserName,
  parent: FileId | null,
  fields: Partial<EntryRecord> = {},
): EntryRecord {
  return {
    id: newFileId(),
    owner,
    parent,
    tag: parent === null ? zeroTag : bytes(32),
    version: 1,
    kind: parent === null ? 'dir' : 'file',
    envelope: bytes(200),
    writer: owner,
    updatedAt: now,
    deletedAt: null,
    deletedBy: null,
    grants: [],
    ...fields,
  };
}

/** The next version of `current`, as the directory would write it. */
function next(current: EntryRecord, fields: Partial<EntryRecord> = {}): EntryRecord {
  return {
    ...current,
    version: current.version + 1,
    envelope: bytes(200),
    updatedAt: current.updatedAt + 1,
    ...fields,
  };
}

function peer(fields: Partial<PeerRecord> = {}): PeerRecord {
  const key = bytes(32);
  return {
    id: Buffer.from(key).toString('base64url'),
    key,
    address: '127.0.0.1:7000',
    capacity: 5 * 2 ** 40, // 5 TiB: beyond 32 bits
    registeredAt: now,
    lastSeen: now,
    record: bytes(150),
    ...fields,
  };
}

/** Exactly one of the settled results was fulfilled; returns the index of the winner. */
function oneWinner(results: PromiseSettledResult<unknown>[]): number {
  const won = results.flatMap((r, i) => (r.status === 'fulfilled' ? [i] : []));
  expect(won).toHaveLength(1);
  return won[0]!;
}

function rejectionKinds(results: PromiseSettledResult<unknown>[]): unknown[] {
  return results.flatMap((r) =>
    r.status === 'rejected' ? [(r.reason as { kind?: unknown }).kind] : [],
  );
}

/**
 * Opens (and so migrates) the database from `count` child processes that start migrating at
 * the same moment: each loads the store, says `ready`, and waits for `go` on stdin. Returns
 * each child's outcome: `ok`, or the error kind it failed with.
 */
async function migrateInProcesses(target: TestDatabaseTarget, count: number): Promise<string[]> {
  const script = `
    const { openPostgresStore, openSqliteStore } = await import(${JSON.stringify(openStoreModule)});
    const target = JSON.parse(process.env.PV_TARGET);
    process.stdout.write('ready\\n');
    await new Promise((resolve) => process.stdin.once('data', resolve));
    try {
      const store = target.engine === 'sqlite'
        ? await openSqliteStore(target.file)
        : await openPostgresStore(target.url, { schema: target.schema, max: 1 });
      await store.close();
      process.stdout.write('ok\\n');
    } catch (err) {
      process.stdout.write(String(err?.kind ?? 'crash') + '\\n');
    }
    process.exit(0);
  `;
  const children = Array.from({ length: count }, () =>
    spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      env: { ...process.env, PV_TARGET: JSON.stringify(target) },
      stdio: ['pipe', 'pipe', 'inherit'],
    }),
  );
  const lines = children.map((child) => {
    const rl = createInterface({ input: child.stdout });
    return rl[Symbol.asyncIterator]();
  });
  const nextLine = async (i: number): Promise<string> => {
    const line = await lines[i]!.next();
    return line.done === true ? 'no output' : line.value;
  };
  expect(await Promise.all(children.map((_, i) => nextLine(i)))).toEqual(
    children.map(() => 'ready'),
  );
  for (const child of children) child.stdin.write('go\n');
  return Promise.all(children.map((_, i) => nextLine(i)));
}

describe.each(storeEngines)('DirectoryStore on %s', (engine) => {
  const harness = storeHarness(engine);
  let store: DirectoryStore;
  /** A second instance over the same database: another directory process. */
  let other: DirectoryStore;

  beforeAll(async () => {
    store = await harness.shared.open();
    other = await harness.shared.open();
  });
  afterAll(() => harness.cleanup());

  async function addUser(): Promise<UserName> {
    const name = freshName();
    await store.createUser(userRecord(name), genesisOf(name));
    return name;
  }

  async function addRoot(owner: UserName): Promise<EntryRecord> {
    const root = entry(owner, null);
    await store.createEntry(root);
    return root;
  }

  describe('accounts', () => {
    it('creates a user with their genesis key-log event, bytes intact', async () => {
      const name = freshName();
      const user = userRecord(name);
      const genesis = genesisOf(name);
      await store.createUser(user, genesis);

      const got = await store.getUser(name);
      expect(got).toEqual(user);
      expect(got!.sealedKeys.constructor).toBe(Uint8Array);
      expect(await store.keyLog(name)).toEqual([genesis]);
      expect(await other.getUser(name)).toEqual(user);
    });

    it('returns undefined for an unknown user', async () => {
      expect(await store.getUser(freshName())).toBeUndefined();
    });

    it('refuses a taken name with `exist`, leaving the first account as it was', async () => {
      const name = await addUser();
      const before = await store.getUser(name);
      const log = await store.keyLog(name);
      await expectKindAsync('exist', store.createUser(userRecord(name), genesisOf(name)));
      expect(await store.getUser(name)).toEqual(before);
      expect(await store.keyLog(name)).toEqual(log);
    });

    it('refuses a genesis event of another user or another seq', async () => {
      const name = freshName();
      await expectKindAsync(
        'invalid',
        store.createUser(userRecord(name), { ...genesisOf(name), seq: 1 }),
      );
      await expectKindAsync('invalid', store.createUser(userRecord(name), genesisOf(freshName())));
      expect(await store.getUser(name)).toBeUndefined();
    });

    it('registers with a valid invite once; a used invite is `invalid`', async () => {
      const codeHash = bytes(32);
      await store.createInvite({ codeHash, createdAt: now, expiresAt: now + 1000, usedBy: null });
      const first = freshName();
      await store.createUser(userRecord(first), genesisOf(first), { codeHash, now });
      expect(await store.getUser(first)).toBeDefined();

      const second = freshName();
      await expectKindAsync(
        'invalid',
        store.createUser(userRecord(second), genesisOf(second), { codeHash, now }),
      );
      expect(await store.getUser(second)).toBeUndefined();
      expect(await store.keyLog(second)).toEqual([]);
    });

    it('refuses expired and unknown invites atomically: no user, no key-log row', async () => {
      const codeHash = bytes(32);
      await store.createInvite({ codeHash, createdAt: now, expiresAt: now + 1000, usedBy: null });
      for (const invite of [
        { codeHash, now: now + 1000 }, // expires at exactly this time
        { codeHash, now: now + 5000 },
        { codeHash: bytes(32), now },
      ]) {
        const name = freshName();
        await expectKindAsync(
          'invalid',
          store.createUser(userRecord(name), genesisOf(name), invite),
        );
        expect(await store.getUser(name)).toBeUndefined();
        expect(await store.keyLog(name)).toEqual([]);
      }
      // The invite is still good before it expires.
      const name = freshName();
      await store.createUser(userRecord(name), genesisOf(name), { codeHash, now: now + 999 });
    });

    it('lets only one of two concurrent registrations use an invite', async () => {
      const codeHash = bytes(32);
      await store.createInvite({ codeHash, createdAt: now, expiresAt: now + 1000, usedBy: null });
      const [a, b] = [freshName(), freshName()];
      const results = await Promise.allSettled([
        store.createUser(userRecord(a), genesisOf(a), { codeHash, now }),
        other.createUser(userRecord(b), genesisOf(b), { codeHash, now }),
      ]);
      const winner = oneWinner(results);
      expect(rejectionKinds(results)).toEqual(['invalid']);
      const loser = winner === 0 ? b : a;
      expect(await store.getUser(loser)).toBeUndefined();
      expect(await store.keyLog(loser)).toEqual([]);
    });

    it('refuses a duplicate invite with `exist`', async () => {
      const invite = { codeHash: bytes(32), createdAt: now, expiresAt: now + 1, usedBy: null };
      await store.createInvite(invite);
      await expectKindAsync('exist', store.createInvite(invite));
    });

    it('replaces credentials; `not-exist` for an unknown user', async () => {
      const name = await addUser();
      const sealed = bytes(90);
      await store.updateCredentials(name, 'new-record', sealed);
      const got = await store.getUser(name);
      expect(got?.opaqueRecord).toBe('new-record');
      expect(got?.sealedKeys).toEqual(sealed);
      await expectKindAsync('not-exist', store.updateCredentials(freshName(), 'r', bytes(4)));
    });
  });

  describe('key logs', () => {
    it('appends by seq and lists the log in order', async () => {
      const name = await addUser();
      const events = [1, 2, 3].map((seq) => ({
        user: name,
        seq,
        envelope: bytes(100),
        hash: bytes(32),
      }));
      await store.appendKeyLog(events[1]!);
      await store.appendKeyLog(events[0]!);
      await store.appendKeyLog(events[2]!);
      const log = await store.keyLog(name);
      expect(log.map((e) => e.seq)).toEqual([0, 1, 2, 3]);
      expect(log.slice(1)).toEqual(events);
    });

    it('refuses a taken seq with `conflict`, and lets one of two racing appends win', async () => {
      const name = await addUser();
      const event = (): KeyLogRecord => ({
        user: name,
        seq: 1,
        envelope: bytes(9),
        hash: bytes(32),
      });
      const first = event();
      await store.appendKeyLog(first);
      await expectKindAsync('conflict', store.appendKeyLog(event()));
      expect((await store.keyLog(name))[1]).toEqual(first);

      const race = [event(), event()].map((e) => ({ ...e, seq: 2 }));
      const results = await Promise.allSettled([
        store.appendKeyLog(race[0]!),
        other.appendKeyLog(race[1]!),
      ]);
      const winner = oneWinner(results);
      expect(rejectionKinds(results)).toEqual(['conflict']);
      expect((await store.keyLog(name))[2]).toEqual(race[winner]);
    });

    it('refuses an event for an unknown user with `not-exist`', async () => {
      const name = freshName();
      await expectKindAsync('not-exist', store.appendKeyLog({ ...genesisOf(name), seq: 1 }));
    });
  });

  describe('login states and sessions', () => {
    it('takes a login state exactly once', async () => {
      const record = {
        id: randomBytes(16).toString('base64url'),
        user: freshName(),
        state: 's',
        expiresAt: now + 10,
      };
      // No account needed: logins of unknown users run to the end, by design.
      await store.putLoginState(record);
      expect(await store.takeLoginState(record.id, now)).toEqual(record);
      expect(await store.takeLoginState(record.id, now)).toBeUndefined();
      expect(await store.takeLoginState('never-put', now)).toBeUndefined();
    });

    it('refuses an expired login state', async () => {
      for (const takenAt of [now + 10, now + 11]) {
        const record = {
          id: randomBytes(16).toString('base64url'),
          user: freshName(),
          state: 's',
          expiresAt: now + 10,
        };
        await store.putLoginState(record);
        expect(await store.takeLoginState(record.id, takenAt)).toBeUndefined();
      }
    });

    it('gives a login state to only one of two concurrent takers', async () => {
      for (let round = 0; round < 5; round += 1) {
        const record = {
          id: randomBytes(16).toString('base64url'),
          user: freshName(),
          state: 's',
          expiresAt: now + 10,
        };
        await store.putLoginState(record);
        const got = await Promise.all([
          store.takeLoginState(record.id, now),
          other.takeLoginState(record.id, now),
        ]);
        expect(got.filter((r) => r !== undefined)).toEqual([record]);
      }
    });

    it('refuses a duplicate login state id with `exist`', async () => {
      const record = {
        id: randomBytes(16).toString('base64url'),
        user: freshName(),
        state: 's',
        expiresAt: now + 10,
      };
      await store.putLoginState(record);
      await expectKindAsync('exist', store.putLoginState(record));
    });

    it('stores sessions and revokes every live session of one user', async () => {
      const [alice, bob] = [await addUser(), await addUser()];
      const session = (
        user: UserName,
        fields: { expiresAt?: number; revokedAt?: number | null } = {},
      ) => ({
        id: randomBytes(24).toString('base64url'),
        user,
        deviceKey: bytes(32),
        createdAt: now,
        expiresAt: now + 1000,
        revokedAt: null,
        ...fields,
      });
      const live = [session(alice), session(alice)];
      const earlier = session(alice, { revokedAt: now - 5 });
      const expired = session(alice, { expiresAt: now - 1 });
      const bobs = session(bob);
      for (const s of [...live, earlier, expired, bobs]) await store.createSession(s);
      expect(await store.getSession(live[0]!.id)).toEqual(live[0]);
      expect(await store.getSession('nope')).toBeUndefined();
      await expectKindAsync('exist', store.createSession(live[0]!));
      await expectKindAsync('not-exist', store.createSession(session(freshName())));

      await store.revokeSessions(alice, now);
      for (const s of live) expect((await store.getSession(s.id))?.revokedAt).toBe(now);
      expect((await store.getSession(earlier.id))?.revokedAt).toBe(now - 5);
      expect((await store.getSession(expired.id))?.revokedAt).toBeNull();
      expect((await store.getSession(bobs.id))?.revokedAt).toBeNull();
    });

    it('accepts a nonce once per session; a replay is false', async () => {
      const [s1, s2] = [randomBytes(8).toString('hex'), randomBytes(8).toString('hex')];
      expect(await store.useNonce(s1, 'n1', now + 100)).toBe(true);
      expect(await store.useNonce(s1, 'n1', now + 100)).toBe(false);
      expect(await other.useNonce(s1, 'n1', now + 100)).toBe(false);
      expect(await store.useNonce(s2, 'n1', now + 100)).toBe(true);
      expect(await store.useNonce(s1, 'n2', now + 100)).toBe(true);
    });

    it('accepts one nonce from only one of two concurrent stores', async () => {
      const session = randomBytes(8).toString('hex');
      for (let i = 0; i < 10; i += 1) {
        const got = await Promise.all([
          store.useNonce(session, `n${i}`, now + 100),
          other.useNonce(session, `n${i}`, now + 100),
        ]);
        expect(got.filter(Boolean)).toHaveLength(1);
      }
    });

    it('prunes expired nonces, login states and sessions, and keeps live ones', async () => {
      const name = await addUser();
      const t = now + 50_000;
      const session = randomBytes(8).toString('hex');
      await store.useNonce(session, 'old', t - 1);
      await store.useNonce(session, 'edge', t);
      await store.useNonce(session, 'live', t + 1);
      const state = (expiresAt: number) => ({
        id: randomBytes(16).toString('base64url'),
        user: name,
        state: 's',
        expiresAt,
      });
      const [oldState, liveState] = [state(t - 1), state(t + 1)];
      await store.putLoginState(oldState);
      await store.putLoginState(liveState);
      const sess = (expiresAt: number) => ({
        id: randomBytes(24).toString('base64url'),
        user: name,
        deviceKey: bytes(32),
        createdAt: now,
        expiresAt,
        revokedAt: null,
      });
      const [oldSession, liveSession] = [sess(t), sess(t + 1)];
      await store.createSession(oldSession);
      await store.createSession(liveSession);

      await store.pruneExpired(t);
      expect(await store.useNonce(session, 'old', t + 100)).toBe(true);
      expect(await store.useNonce(session, 'edge', t + 100)).toBe(true);
      expect(await store.useNonce(session, 'live', t + 100)).toBe(false);
      expect(await store.getSession(oldSession.id)).toBeUndefined();
      expect(await store.getSession(liveSession.id)).toEqual(liveSession);
      expect(await store.takeLoginState(oldState.id, t - 10)).toBeUndefined();
      expect(await store.takeLoginState(liveState.id, t)).toEqual(liveState);
    });
  });

  describe('throttles', () => {
    it('counts failures within a window and restarts the window after it', async () => {
      const key = `k:${randomBytes(6).toString('hex')}`;
      const window = 1000;
      expect(await store.addFailure(key, now, window)).toEqual({
        key,
        failures: 1,
        windowStart: now,
        blockedUntil: 0,
      });
      expect((await store.addFailure(key, now + 10, window)).failures).toBe(2);
      // Exactly `window` after its start the window is still open…
      expect(await store.addFailure(key, now + window, window)).toEqual({
        key,
        failures: 3,
        windowStart: now,
        blockedUntil: 0,
      });
      // …and one millisecond later a new one begins.
      expect(await store.addFailure(key, now + window + 1, window)).toEqual({
        key,
        failures: 1,
        windowStart: now + window + 1,
        blockedUntil: 0,
      });
    });

    it('loses no count under 20 concurrent failures from two stores', async () => {
      const key = `k:${randomBytes(6).toString('hex')}`;
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          (i % 2 === 0 ? store : other).addFailure(key, now, 60_000),
        ),
      );
      expect(results.map((r) => r.failures).sort((a, b) => a - b)).toEqual(
        Array.from({ length: 20 }, (_, i) => i + 1),
      );
      expect((await store.getThrottles([key]))[0]?.failures).toBe(20);
    });

    it('claims an attempt only while the key is unblocked', async () => {
      const key = `c:${randomBytes(6).toString('hex')}`;
      expect(await store.claimAttempt(key, now, now + 100)).toBe(true); // no row yet
      expect(await store.getThrottles([key])).toEqual([
        { key, failures: 0, windowStart: 0, blockedUntil: now + 100 },
      ]);
      expect(await store.claimAttempt(key, now + 99, now + 500)).toBe(false);
      expect((await store.getThrottles([key]))[0]?.blockedUntil).toBe(now + 100);
      await store.addFailure(key, now + 100, 1000);
      expect(await store.claimAttempt(key, now + 100, now + 300)).toBe(true); // block has ended
      expect(await store.getThrottles([key])).toEqual([
        { key, failures: 1, windowStart: now + 100, blockedUntil: now + 300 },
      ]);
    });

    it('gives a slot to exactly one of 20 concurrent claimants on two stores', async () => {
      for (const existing of [false, true]) {
        const key = `c:${randomBytes(6).toString('hex')}`;
        if (existing) await store.addFailure(key, now, 1000);
        const won = await Promise.all(
          Array.from({ length: 20 }, (_, i) =>
            (i % 2 === 0 ? store : other).claimAttempt(key, now, now + 1000),
          ),
        );
        expect(won.filter(Boolean)).toHaveLength(1);
      }
    });

    it('blocks, reads in the order asked, and clears', async () => {
      const [a, b, missing] = ['a', 'b', 'm'].map(
        (p) => `${p}:${randomBytes(6).toString('hex')}`,
      ) as [string, string, string];
      await store.addFailure(a, now, 1000);
      await store.addFailure(a, now, 1000);
      await store.setBlockedUntil(a, now + 500);
      await store.setBlockedUntil(b, now + 700); // a key with no failures yet
      expect(await store.getThrottles([b, missing, a, b])).toEqual([
        { key: b, failures: 0, windowStart: 0, blockedUntil: now + 700 },
        { key: a, failures: 2, windowStart: now, blockedUntil: now + 500 },
      ]);
      // A failure keeps the block.
      expect((await store.addFailure(b, now, 1000)).blockedUntil).toBe(now + 700);
      await store.clearThrottle(a);
      await store.clearThrottle(missing);
      expect(await store.getThrottles([a])).toEqual([]);
      expect(await store.getThrottles([])).toEqual([]);
    });
  });

  describe('namespace', () => {
    it('creates and reads an entry: fields, grants in order, bytes, first version', async () => {
      const owner = await addUser();
      const root = await addRoot(owner);
      const grants: Grant[] = [
        { user: parseUserName('zed'), right: 'r' },
        { user: parseUserName('amy'), right: 'w' },
        { user: parseUserName('amy'), right: 'r' },
      ];
      const file = entry(owner, root.id, { grants });
      await store.createEntry(file);
      const got = await other.getEntry(file.id);
      expect(got).toEqual(file);
      expect(got!.tag.constructor).toBe(Uint8Array);
      expect(got!.envelope.constructor).toBe(Uint8Array);
      expect(await store.getEntry(root.id)).toEqual(root);
      expect(await store.getEntry(newFileId())).toBeUndefined();
      expect(await store.entryVersions(file.id)).toEqual([
        { id: file.id, version: 1, envelope: file.envelope, writer: owner, createdAt: now },
      ]);
    });

    it('keeps grants given twice once', async () => {
      const owner = await addUser();
      const root = await addRoot(owner);
      const amy = parseUserName('amy');
      const file = entry(owner, root.id, {
        grants: [
          { user: amy, right: 'r' },
          { user: amy, right: 'r' },
        ],
      });
      await store.createEntry(file);
      expect((await store.getEntry(file.id))?.grants).toEqual([{ user: amy, right: 'r' }]);
    });

    it('keeps hundreds of grants (written in batches)', async () => {
      const owner = await addUser();
      const root = await addRoot(owner);
      const grants: Grant[] = Array.from({ length: 600 }, (_, i) => ({
        user: parseUserName(`g${i}`),
        right: i % 3 === 0 ? 'w' : 'r',
      }));
      const file = entry(owner, root.id, { grants });
      await store.createEntry(file);
      expect((await store.getEntry(file.id))?.grants).toEqual(grants);
    });

    it('refuses a taken id, a second root, and an unknown owner', async () => {
      const owner = await addUser();
      const root = await addRoot(owner);
      await expectKindAsync('exist', store.createEntry(entry(owner, root.id, { id: root.id })));
      await expectKindAsync('exist', store.createEntry(entry(owner, null)));
      await expectKindAsync('not-exist', store.createEntry(entry(freshName(), null)));
      expect(await store.entryVersions(root.id)).toHaveLength(1);
    });

    it('keeps one root per owner even when it is in the trash', async () => {
      const owner = await addUser();
      const root = await addRoot(owner);
      const trashed = next(root, { deletedAt: now + 1, deletedBy: owner });
      await store.updateEntry(trashed, 1);
      expect(await store.rootOf(owner)).toEqual(trashed);
      await expectKindAsync('exist', store.createEntry(entry(owner, null)));
      expect(await store.rootOf(freshName())).toBeUndefined();
    });

    it('keeps live names unique per directory; a trashed name can be reused', async () => {
      const owner = await addUser();
      const root = await addRoot(owner);
      const first = entry(owner, root.id);
      await store.createEntry(first);
      const clash = entry(owner, root.id, { tag: first.tag });
      await expectKindAsync('exist', store.createEntry(clash));
      expect(await store.getEntry(clash.id)).toBeUndefined();
      expect(await store.entryVersions(clash.id)).toEqual([]);

      // Same tag under another directory is fine.
      const sub = entry(owner, root.id, { kind: 'dir' });
      await store.createEntry(sub);
      await store.createEntry(entry(owner, sub.id, { tag: first.tag }));

      expect(await store.findEntry(root.id, first.tag)).toEqual(first);
      await store.updateEntry(next(first, { deletedAt: now + 5, deletedBy: owner }), 1);
      expect(await store.findEntry(root.id, first.tag)).toBeUndefined();
      await store.createEntry(clash);
      expect(await store.findEntry(root.id, first.tag)).toEqual(clash);
      expect(await store.findEntry(root.id, bytes(32))).toBeUndefined();

      // Restoring the trashed entry now clashes with the new one, and changes nothing.
      const trashed = (await store.getEntry(first.id))!;
      await expectKindAsync(
        'exist',
        store.updateEntry(next(trashed, { deletedAt: null, deletedBy: null }), 2),
      );
      expect(await store.getEntry(first.id)).toEqual(trashed);
      expect(await store.entryVersions(first.id)).toHaveLength(2);
    });

    it('lists the live children a viewer may see, ordered by id', async () => {
      const [owner, viewer, stranger] = [await addUser(), await addUser(), await addUser()];
      const root = await addRoot(owner);
      const shared = Array.from({ length: 4 }, () =>
        entry(owner, root.id, { grants: [{ user: viewer, right: 'r' }] }),
      );
      const writable = entry(owner, root.id, { grants: [{ user: viewer, right: 'w' }] });
      const secret = entry(owner, root.id, { grants: [{ user: stranger, right: 'r' }] });
      const trashedShared = entry(owner, root.id, { grants: [{ user: viewer, right: 'r' }] });
      for (const e of [...shared, writable, secret, trashedShared]) await store.createEntry(e);
      await store.updateEntry(next(trashedShared, { deletedAt: now + 1, deletedBy: owner }), 1);
      // An entry in another directory is no child of this one.
      const sub = entry(owner, root.id, { kind: 'dir' });
      await store.createEntry(sub);
      await store.createEntry(entry(owner, sub.id, { grants: [{ user: viewer, right: 'r' }] }));

      const byId = (list: EntryRecord[]) =>
        [...list].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
      expect(await store.listChildren(root.id, owner)).toEqual(
        byId([...shared, writable, secret, sub]),
      );
      expect(await store.listChildren(root.id, viewer)).toEqual(byId([...shared, writable]));
      expect(await other.listChildren(root.id, stranger)).toEqual([secret]);
      expect(await store.listChildren(root.id, freshName())).toEqual([]);
      expect(await store.listChildren(newFileId(), owner)).toEqual([]);
    });

    it('updates by compare-and-swap: a stale version is a `conflict` and loses nothing', async () => {
      const owner = await addUser();
      const root = await addRoot(owner);
      const v1 = entry(owner, root.id, { grants: [{ user: parseUserName('amy'), right: 'r' }] });
      await store.createEntry(v1);
      const v2 = next(v1, {
        grants: [{ user: parseUserName('bob'), right: 'w' }],
        writer: parseUserName('bob'),
      });
      await store.updateEntry(v2, 1);
      // A writer who read v1 tries to write its own v2.
      await expectKindAsync('conflict', other.updateEntry(next(v1), 1));
      expect(await store.getEntry(v1.id)).toEqual(v2);
      expect((await store.entryVersions(v1.id)).map((v) => v.version)).toEqual([1, 2]);

      await expectKindAsync('not-exist', store.updateEntry(next(entry(owner, root.id)), 1));
      await expectKindAsync('invalid', store.updateEntry({ ...next(v2), version: 5 }, 2));
      expect(await store.getEntry(v1.id)).toEqual(v2);
    });

    it('lets exactly one of two concurrent updates from two stores win', async () => {
      const owner = await addUser();
      const root = await addRoot(owner);
      let current = entry(owner, root.id);
      await store.createEntry(current);
      for (let round = 0; round < 5; round += 1) {
        const candidates = [next(current), next(current)];
        const results = await Promise.allSettled([
          store.updateEntry(candidates[0]!, current.version),
          other.updateEntry(candidates[1]!, current.version),
        ]);
        const winner = oneWinner(results);
        expect(rejectionKinds(results)).toEqual(['conflict']);
        current = candidates[winner]!;
        expect(await store.getEntry(current.id)).toEqual(current);
      }
      const versions = await store.entryVersions(current.id);
      expect(versions.map((v) => v.version)).toEqual([1, 2, 3, 4, 5, 6]);
      expect(versions.at(-1)?.envelope).toEqual(current.envelope);
    });

    it('replaces grants, tombstones and restores, and keeps every version oldest first', async () => {
      const owner = await addUser();
      const amy = parseUserName('amy');
      const root = await addRoot(owner);
      const v1 = entry(owner, root.id, { grants: [{ user: amy, right: 'r' }] });
      await store.createEntry(v1);
      const v2 = next(v1, { grants: [] });
      await store.updateEntry(v2, 1);
      expect(await store.listChildren(root.id, amy)).toEqual([]);
      const v3 = next(v2, { deletedAt: now + 100, deletedBy: owner });
      await store.updateEntry(v3, 2);
      expect(await store.getEntry(v1.id)).toEqual(v3);
      const v4 = next(v3, {
        deletedAt: null,
        deletedBy: null,
        tag: bytes(32),
        grants: [{ user: amy, right: 'w' }],
      });
      await store.updateEntry(v4, 3);
      expect(await store.getEntry(v1.id)).toEqual(v4);
      expect(await store.listChildren(root.id, amy)).toEqual([v4]);
      expect(await store.entryVersions(v1.id)).toEqual(
        [v1, v2, v3, v4].map((v) => ({
          id: v.id,
          version: v.version,
          envelope: v.envelope,
          writer: v.writer,
          createdAt: v.updatedAt,
        })),
      );
      expect(await store.entryVersions(newFileId())).toEqual([]);
    });

    it('reads one stored version', async () => {
      const owner = await addUser();
      const root = await addRoot(owner);
      const v1 = entry(owner, root.id);
      await store.createEntry(v1);
      const v2 = next(v1, { writer: parseUserName('bob') });
      await store.updateEntry(v2, 1);
      const stored = (v: EntryRecord) => ({
        id: v.id,
        version: v.version,
        envelope: v.envelope,
        writer: v.writer,
        createdAt: v.updatedAt,
      });
      expect(await other.entryVersion(v1.id, 1)).toEqual(stored(v1));
      expect(await store.entryVersion(v1.id, 2)).toEqual(stored(v2));
      expect(await store.entryVersion(v1.id, 3)).toBeUndefined();
      expect(await store.entryVersion(newFileId(), 1)).toBeUndefined();
    });

    it('lists the live entries shared with a user by others, by owner then id, marking where each tree starts', async () => {
      const viewer = await addUser();
      const stranger = await addUser();
      // Bytewise, "s_z…" sorts before "sa…"; a locale collation, which skips "_", would not.
      const suffix = randomBytes(3).toString('hex');
      const [first, second] = [parseUserName(`s_z${suffix}`), parseUserName(`sa${suffix}`)];
      for (const owner of [second, first]) {
        await store.createUser(userRecord(owner), genesisOf(owner));
      }
      const reads: Grant[] = [{ user: viewer, right: 'r' }];
      const create = async (e: EntryRecord) => {
        await store.createEntry(e);
        return e;
      };
      const trash = (e: EntryRecord) =>
        store.updateEntry(next(e, { deletedAt: now + 5, deletedBy: e.owner }), e.version);

      const root1 = await addRoot(first);
      const folder = await create(entry(first, root1.id, { kind: 'dir', grants: reads }));
      const inFolder = await create(
        entry(first, folder.id, {
          grants: [
            { user: viewer, right: 'w' },
            { user: viewer, right: 'r' },
          ],
        }),
      );
      const hidden = await create(
        entry(first, root1.id, { kind: 'dir', grants: [{ user: stranger, right: 'r' }] }),
      );
      const deep = await create(entry(first, hidden.id, { grants: reads }));
      const gone = await create(entry(first, root1.id, { grants: reads }));
      await trash(gone);
      const trashedFolder = await create(entry(first, root1.id, { kind: 'dir', grants: reads }));
      const orphan = await create(entry(first, trashedFolder.id, { grants: reads }));
      await trash(trashedFolder);
      await create(entry(first, root1.id));
      const root2 = await addRoot(second);
      const theirs = [
        await create(entry(second, root2.id, { grants: reads })),
        await create(entry(second, root2.id, { grants: [{ user: viewer, right: 'w' }] })),
      ];
      const ownRoot = await addRoot(viewer);
      const own = await create(
        entry(viewer, ownRoot.id, { grants: [{ user: first, right: 'r' }] }),
      );

      const byId = (a: { entry: EntryRecord }, b: { entry: EntryRecord }) =>
        a.entry.id < b.entry.id ? -1 : a.entry.id > b.entry.id ? 1 : 0;
      const expected = [
        ...[
          { entry: folder, top: true },
          { entry: inFolder, top: false },
          { entry: deep, top: true },
          { entry: orphan, top: true },
        ].sort(byId),
        ...theirs.map((e) => ({ entry: e, top: true })).sort(byId),
      ];
      expect(await store.listSharedWith(viewer)).toEqual(expected);
      expect(await other.listSharedWith(first)).toEqual([{ entry: own, top: true }]);
      expect(await store.listSharedWith(stranger)).toEqual([{ entry: hidden, top: true }]);
      expect(await store.listSharedWith(freshName())).toEqual([]);
    });

    it("lists an owner's trash, most recently deleted first", async () => {
      const [owner, someone] = [await addUser(), await addUser()];
      const root = await addRoot(owner);
      const theirRoot = await addRoot(someone);
      const files = Array.from({ length: 3 }, () => entry(owner, root.id));
      const theirs = entry(someone, theirRoot.id);
      for (const f of [...files, theirs]) await store.createEntry(f);
      const deleted = [
        next(files[0]!, { deletedAt: now + 10, deletedBy: owner }),
        next(files[1]!, { deletedAt: now + 30, deletedBy: someone }),
      ];
      for (const d of deleted) await store.updateEntry(d, 1);
      await store.updateEntry(next(theirs, { deletedAt: now + 20, deletedBy: someone }), 1);
      expect(await store.listTrash(owner)).toEqual([deleted[1], deleted[0]]);
      expect(await store.listTrash(freshName())).toEqual([]);
    });

    it('purges an entry with its history and grants', async () => {
      const owner = await addUser();
      const amy = parseUserName('amy');
      const root = await addRoot(owner);
      const v1 = entry(owner, root.id, { grants: [{ user: amy, right: 'r' }] });
      await store.createEntry(v1);
      await store.updateEntry(next(v1, { deletedAt: now + 1, deletedBy: owner }), 1);
      await store.purgeEntry(v1.id);
      await store.purgeEntry(v1.id); // already gone: nothing to do
      expect(await store.getEntry(v1.id)).toBeUndefined();
      expect(await store.entryVersions(v1.id)).toEqual([]);
      expect(await store.listTrash(owner)).toEqual([]);
      // Reusing the id shows that no grant or version was left behind.
      const again = entry(owner, root.id, { id: v1.id });
      await store.createEntry(again);
      expect((await store.getEntry(v1.id))?.grants).toEqual([]);
      expect(await store.entryVersions(v1.id)).toHaveLength(1);
    });

    it('purges entries deleted before a time, returning their ids', async () => {
      const owner = await addUser();
      const root = await addRoot(owner);
      const [old, edge, recent, live] = Array.from({ length: 4 }, () =>
        entry(owner, root.id, { grants: [{ user: parseUserName('amy'), right: 'r' }] }),
      ) as [EntryRecord, EntryRecord, EntryRecord, EntryRecord];
      for (const e of [old, edge, recent, live]) await store.createEntry(e);
      const cutoff = now + 1_000_000;
      await store.updateEntry(next(old, { deletedAt: cutoff - 1, deletedBy: owner }), 1);
      await store.updateEntry(next(edge, { deletedAt: cutoff, deletedBy: owner }), 1);
      await store.updateEntry(next(recent, { deletedAt: cutoff + 1, deletedBy: owner }), 1);

      // Other tests' trash may go too: assert on this test's entries only.
      const purged = await store.purgeDeletedBefore(cutoff);
      expect(purged).toContain(old.id);
      for (const kept of [edge, recent, live]) expect(purged).not.toContain(kept.id);
      expect(await store.getEntry(old.id)).toBeUndefined();
      expect(await store.entryVersions(old.id)).toEqual([]);
      for (const kept of [edge, recent, live]) {
        expect(await store.entryVersions(kept.id)).toHaveLength(kept === live ? 1 : 2);
      }
      expect(await store.purgeDeletedBefore(cutoff)).not.toContain(old.id);
      await store.createEntry(entry(owner, root.id, { id: old.id }));
      expect((await store.getEntry(old.id))?.grants).toEqual([]);
    });
  });

  describe('peers', () => {
    it('inserts, replaces, and lists peers seen since a time by id', async () => {
      const seen = now + 9_000_000;
      const peers = Array.from({ length: 4 }, (_, i) => peer({ lastSeen: seen + i }));
      for (const p of peers) await store.upsertPeer(p);
      expect(await other.getPeer(peers[0]!.id)).toEqual(peers[0]);
      expect(await store.getPeer('nope')).toBeUndefined();

      const moved = {
        ...peers[1]!,
        address: '10.0.0.9:7001',
        capacity: 2 ** 50,
        lastSeen: seen - 1,
        record: bytes(151),
      };
      await store.upsertPeer(moved);
      expect(await store.getPeer(moved.id)).toEqual(moved);

      const expected = [peers[0]!, peers[2]!, peers[3]!].sort((a, b) => (a.id < b.id ? -1 : 1));
      expect(await store.listPeers(seen)).toEqual(expected);
      expect(await store.listPeers(seen + 3)).toEqual([peers[3]]);
      expect(await store.listPeers(seen + 4)).toEqual([]);
    });
  });

  describe('block releases', () => {
    it('appends with growing seqs and pages through the log in order, bytes intact', async () => {
      // A database of its own: the assertions are about the whole log.
      const db = harness.fresh();
      const log = await db.open();
      const [alice, bob] = [freshName(), freshName()];
      for (const name of [alice, bob]) await log.createUser(userRecord(name), genesisOf(name));
      expect(await log.listReleases(0, 10)).toEqual([]);

      const appended = [];
      for (let i = 0; i < 5; i += 1) {
        const user = i % 2 === 0 ? alice : bob;
        const envelope = bytes(100 + i);
        const seq = await log.appendRelease(user, envelope, now + 5 * 2 ** 32 + i);
        appended.push({ seq, user, envelope, createdAt: now + 5 * 2 ** 32 + i });
      }
      const seqs = appended.map((r) => r.seq);
      expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
      expect(new Set(seqs).size).toBe(5);
      expect(seqs[0]).toBeGreaterThan(0);

      expect(await log.listReleases(0, 100)).toEqual(appended);
      expect(await log.listReleases(0, 2)).toEqual(appended.slice(0, 2));
      expect(await log.listReleases(seqs[1]!, 2)).toEqual(appended.slice(2, 4));
      expect(await log.listReleases(seqs[3]!, 2)).toEqual(appended.slice(4));
      expect(await log.listReleases(seqs[4]!, 2)).toEqual([]);
      expect(await log.listReleases(0, 0)).toEqual([]);
      const [first] = await log.listReleases(0, 1);
      expect(first?.envelope.constructor).toBe(Uint8Array);
    });

    it('never reuses a seq, even after the newest rows are deleted', async () => {
      const db = harness.fresh();
      const log = await db.open();
      const name = freshName();
      await log.createUser(userRecord(name), genesisOf(name));
      const first = await log.appendRelease(name, bytes(10), now);
      const second = await log.appendRelease(name, bytes(10), now);
      await db.kysely().deleteFrom('block_releases').where('seq', '>=', first).execute();
      const third = await log.appendRelease(name, bytes(10), now);
      expect(third).toBeGreaterThan(second);
    });

    it('refuses a release of an unknown user with `not-exist`, storing nothing', async () => {
      const db = harness.fresh();
      const log = await db.open();
      await expectKindAsync('not-exist', log.appendRelease(freshName(), bytes(10), now));
      expect(await log.listReleases(0, 10)).toEqual([]);
    });

    it('lets a reader that resumes after the last seq it saw miss nothing under concurrent appends', async () => {
      const db = harness.fresh();
      const [a, b] = [await db.open(), await db.open()];
      const name = freshName();
      await a.createUser(userRecord(name), genesisOf(name));
      const appends = Promise.all(
        Array.from({ length: 60 }, (_, i) =>
          (i % 2 === 0 ? a : b).appendRelease(name, bytes(20), now),
        ),
      );
      let done = false;
      void appends.finally(() => {
        done = true;
      });
      const seen: number[] = [];
      let after = 0;
      // Reads while the appends run, as a peer polling the log would, then once more after.
      for (let finalRead = false; ; finalRead = done) {
        const page = await a.listReleases(after, 7);
        seen.push(...page.map((r) => r.seq));
        after = page.at(-1)?.seq ?? after;
        if (finalRead && page.length === 0) break;
        if (page.length === 0) await new Promise((resolve) => setTimeout(resolve, 1));
      }
      const seqs = await appends;
      expect(new Set(seqs).size).toBe(60);
      expect(seen).toEqual([...seqs].sort((x, y) => x - y));
    });

    // SQLite has one writer at a time, so there an append's seq and its commit cannot come in
    // different orders; PostgreSQL hands out identity values outside transactions.
    it.runIf(engine === 'postgres')(
      'makes an append wait for one in progress, so no seq shows before a smaller one',
      async () => {
        const db = harness.fresh();
        const log = await db.open();
        const name = freshName();
        await log.createUser(userRecord(name), genesisOf(name));
        let commit!: () => void;
        const held = new Promise<void>((resolve) => (commit = resolve));
        let started!: (seq: number) => void;
        const slowSeq = new Promise<number>((resolve) => (started = resolve));
        // Another process's append, caught between its insert and its commit.
        const slow = db
          .kysely()
          .transaction()
          .execute(async (trx) => {
            const row = await trx
              .insertInto('block_releases')
              .values({ user_name: name, envelope: Buffer.from(bytes(10)), created_at: now })
              .returning('seq')
              .executeTakeFirstOrThrow();
            // This bare pool reads int8 as text (the store's own pool parses numbers).
            started(Number(row.seq));
            await held;
          });
        const first = await slowSeq;
        let appended: number | undefined;
        const fast = log.appendRelease(name, bytes(10), now).then((seq) => (appended = seq));
        await new Promise((resolve) => setTimeout(resolve, 300));
        expect(appended).toBeUndefined();
        expect(await log.listReleases(0, 10)).toEqual([]);
        commit();
        await slow;
        await fast;
        expect(appended).toBeGreaterThan(first);
        expect((await log.listReleases(0, 10)).map((r) => r.seq)).toEqual([first, appended]);
      },
    );
  });

  describe('audit log', () => {
    it('finds where the records of a time on begin, for the monitor warm-up', async () => {
      // A database of its own: the seqs are asserted.
      const log = await harness.fresh().open();
      expect(await log.auditSeqAt(now)).toBe(1);
      const at = (offset: number): AuditEvent => ({
        time: now + offset,
        event: 'login.failed',
        actor: null,
        subjects: [],
        entry: null,
        source: '192.0.2.1',
        details: { reason: 'unfinished' },
      });
      // Seqs 1 … 7, equal times side by side.
      await log.appendAudit([100, 100, 200, 300, 300, 300, 500].map(at));
      const seqAt = (offset: number) => log.auditSeqAt(now + offset);
      expect(await seqAt(0)).toBe(1);
      expect(await seqAt(100)).toBe(1);
      expect(await seqAt(101)).toBe(3);
      expect(await seqAt(300)).toBe(4);
      expect(await seqAt(301)).toBe(7);
      expect(await seqAt(500)).toBe(7);
      expect(await seqAt(501)).toBe(8);
      // A long log takes a handful of steps, and lands exactly.
      await log.appendAudit(Array.from({ length: 2000 }, (_, i) => at(1000 + i * 10)));
      expect(await seqAt(1000 + 5555)).toBe(7 + 557);
      expect(await seqAt(1000 + 19_990)).toBe(7 + 2000);
      expect(await seqAt(1000 + 19_991)).toBe(7 + 2001);
    });
  });

  describe('bytes', () => {
    it('round-trips every byte value, views into larger buffers, and empty arrays', async () => {
      const all = Uint8Array.from({ length: 256 }, (_, i) => i);
      const backing = bytes(100);
      const view = backing.subarray(10, 42);
      const p = peer({ key: view, record: all });
      await store.upsertPeer(p);
      const got = (await store.getPeer(p.id))!;
      expect(got.key).toEqual(backing.slice(10, 42));
      expect(got.record).toEqual(all);
      expect(got.record.constructor).toBe(Uint8Array);

      const name = freshName();
      await store.createUser(
        { ...userRecord(name), sealedKeys: new Uint8Array(0) },
        genesisOf(name),
      );
      const user = (await store.getUser(name))!;
      expect(user.sealedKeys).toEqual(new Uint8Array(0));
      expect(user.sealedKeys.constructor).toBe(Uint8Array);
    });
  });

  describe('errors', () => {
    it('never quotes row contents', async () => {
      const codeHash = bytes(32);
      await store.createInvite({ codeHash, createdAt: now, expiresAt: now + 1, usedBy: null });
      const err = await expectKindAsync(
        'exist',
        store.createInvite({ codeHash, createdAt: now, expiresAt: now + 1, usedBy: null }),
      );
      const shown = `${err.message} ${String(err.stack)} ${JSON.stringify(err)}`;
      for (const form of [
        Buffer.from(codeHash).toString('hex'),
        Buffer.from(codeHash).toString('base64'),
      ]) {
        expect(shown).not.toContain(form);
      }
      expect(err.cause).toBeUndefined();
    });
  });

  describe('lifecycle', () => {
    it('migrates again as a no-op', async () => {
      await store.migrate();
      await other.migrate();
      expect(await store.getUser(await addUser())).toBeDefined();
    });

    it('migrates one fresh database from two stores at once', async () => {
      const db = harness.fresh();
      const [a, b] = await Promise.all([db.open(), db.open()]);
      await Promise.all([a.migrate(), b.migrate()]);
      const name = freshName();
      await a.createUser(userRecord(name), genesisOf(name));
      expect(await b.getUser(name)).toBeDefined();
    });

    it('migrates one fresh database from several processes at once', async () => {
      const db = harness.fresh();
      const results = await migrateInProcesses(db.target, 3);
      expect(results).toEqual(['ok', 'ok', 'ok']);
      const kysely = db.kysely();
      const applied = await sql<{
        name: string;
      }>`select name from kysely_migration`.execute(kysely);
      expect(applied.rows.map((r) => r.name).sort()).toEqual(
        Object.keys(migrationsFor(engine)).sort(),
      );
      const store = await db.open();
      const name = freshName();
      await store.createUser(userRecord(name), genesisOf(name));
    });

    it('migrates down and up again', async () => {
      const db = harness.fresh();
      const first = await db.open();
      await first.close();
      const kysely = db.kysely();
      await migrate(kysely, engine, 'none');
      await expect(sql`select 1 from users`.execute(kysely)).rejects.toThrow();
      await migrate(kysely, engine);
      const reopened = await db.open();
      const name = freshName();
      await reopened.createUser(userRecord(name), genesisOf(name));
      expect(await reopened.getUser(name)).toBeDefined();
    });

    it('closes idempotently, and refuses work once closed', async () => {
      const closing = await harness.shared.open();
      await closing.close();
      await closing.close();
      await expectKindAsync('unavailable', closing.getUser(freshName()));
    });
  });
});

describe('SQLite store specifics', () => {
  const harness = storeHarness('sqlite');
  afterAll(() => harness.cleanup());

  it('creates the file readable by its owner only, in WAL mode', async () => {
    const dir = join(tmpdir(), `pv-store-mode-${randomBytes(4).toString('hex')}`);
    mkdirSync(dir);
    try {
      const file = join(dir, 'directory.db');
      const store = await openSqliteStore(file);
      await store.close();
      expect(statSync(file).mode & 0o777).toBe(0o600);
      const raw = new SqliteDatabase(file, { readonly: true });
      expect(raw.pragma('journal_mode', { simple: true })).toBe('wal');
      raw.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('is `unavailable` where the file cannot be created', async () => {
    const file = join(
      tmpdir(),
      `pv-missing-${randomBytes(4).toString('hex')}`,
      'x',
      'directory.db',
    );
    await expectKindAsync('unavailable', openSqliteStore(file));
  });
});

describe('PostgreSQL store specifics', () => {
  const harness = storeHarness('postgres');
  afterAll(() => harness.cleanup());

  it('is `unavailable` when the server cannot be reached', async () => {
    await expectKindAsync('unavailable', openPostgresStore('postgres://postgres@127.0.0.1:1/test'));
  });

  it('refuses a schema name that is not a plain identifier', async () => {
    await expectKindAsync(
      'invalid',
      openPostgresStore(testPostgresUrl, { schema: 'x; drop table users' }),
    );
  });

  it('keeps each schema to itself', async () => {
    const [a, b] = [await harness.fresh().open(), await harness.fresh().open()];
    const name = freshName();
    await a.createUser(userRecord(name), genesisOf(name));
    expect(await b.getUser(name)).toBeUndefined();
    await b.createUser(userRecord(name), genesisOf(name));
  });

  it('reads times as numbers without touching the global pg type parsers', async () => {
    const store = await harness.fresh().open();
    const name = freshName();
    await store.createUser({ ...userRecord(name), createdAt: 2 ** 45 }, genesisOf(name));
    expect((await store.getUser(name))?.createdAt).toBe(2 ** 45);
    const globalInt8 = pg.types.getTypeParser(pg.types.builtins.INT8) as (text: string) => unknown;
    expect(globalInt8('12')).toBe('12');
  });
});

/**
 * Per-owner retention of the trash, on both engines: the store keeps each user's own setting
 * (migration 0003) and purges each owner's trash by it (the directory's late purge); the route
 * reads and sets the caller's own setting within the directory's bounds; the owner's garbage
 * collection follows it.
 */
import { randomBytes } from 'node:crypto';
import { Migrator, sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DirectoryClient, DirectorySession } from '../../src/client/directory-client.js';
import { collectGarbage } from '../../src/client/garbage.js';
import { type AgentContext, mkdir, rmdir } from '../../src/client/namespace.js';
import { newFileId } from '../../src/crypto/random.js';
import { effectiveRetention, defaultConfig } from '../../src/directory/config.js';
import { migrationsFor } from '../../src/directory/store/migrations.js';
import type {
  DirectoryStore,
  EntryRecord,
  TrashPolicy,
} from '../../src/interface/directory-store.js';
import type { FileId } from '../../src/interface/ids.js';
import { parseUserName, type UserName } from '../../src/interface/names.js';
import { parsePath } from '../../src/interface/paths.js';
import { type RetentionResponse, routes } from '../../src/wire/directory-api.js';
import {
  engines,
  goodPassword,
  startTestDirectory,
  type TestDirectory,
} from '../helpers/directory.js';
import { expectKindAsync } from '../helpers/expect-error.js';
import { storeEngines, storeHarness } from '../helpers/stores.js';

const day = 24 * 60 * 60 * 1000;
const now = 1_800_000_000_000;
const bytes = (n: number): Uint8Array => new Uint8Array(randomBytes(n));

let counter = 0;
function freshName(): UserName {
  counter += 1;
  return parseUserName(`r${counter}x${randomBytes(3).toString('hex')}`);
}

describe.each(storeEngines)('per-owner retention in the store on %s', (engine) => {
  const harness = storeHarness(engine);
  let store: DirectoryStore;
  let other: DirectoryStore;

  beforeAll(async () => {
    store = await harness.shared.open();
    other = await harness.shared.open();
  });
  afterAll(() => harness.cleanup());

  async function addUser(retentionMs: number | null = null): Promise<UserName> {
    const name = freshName();
    await store.createUser(
      { name, createdAt: now, opaqueRecord: 'opaque', sealedKeys: bytes(80), role: 'user' },
      { user: name, seq: 0, envelope: bytes(120), hash: bytes(32) },
    );
    if (retentionMs !== null) await store.setRetention(name, retentionMs);
    return name;
  }

  function entry(owner: UserName, parent: FileId | null): EntryRecord {
    return {
      id: newFileId(),
      owner,
      parent,
      tag: parent === null ? new Uint8Array(32) : bytes(32),
      version: 1,
      kind: parent === null ? 'dir' : 'file',
      envelope: bytes(100),
      writer: owner,
      updatedAt: now - 1000 * day,
      deletedAt: null,
      deletedBy: null,
      grants: [],
    };
  }

  /** A file of `owner`'s, moved to the trash at `deletedAt`. */
  async function trashed(owner: UserName, root: FileId, deletedAt: number): Promise<FileId> {
    const file = entry(owner, root);
    await store.createEntry(file);
    await store.updateEntry(
      { ...file, version: 2, envelope: bytes(100), deletedAt, deletedBy: owner },
      1,
    );
    return file.id;
  }

  it('keeps a user’s own retention: none at first, set, read by another instance, cleared', async () => {
    const user = await addUser();
    expect(await store.getRetention(user)).toBeNull();
    await store.setRetention(user, 90 * day);
    expect(await other.getRetention(user)).toBe(90 * day);
    // Ten years is past 2^31 milliseconds: a 64-bit column on PostgreSQL.
    await other.setRetention(user, 3650 * day);
    expect(await store.getRetention(user)).toBe(3650 * day);
    await store.setRetention(user, null);
    expect(await other.getRetention(user)).toBeNull();
    // Other users are untouched.
    expect(await store.getRetention(await addUser())).toBeNull();
  });

  it('upgrades a database from before migration 0003: its users follow the default', async () => {
    const db = harness.fresh();
    const kysely = db.kysely();
    const before = Object.fromEntries(
      Object.entries(migrationsFor(engine)).filter(([name]) => name < '0003'),
    );
    const target = db.target;
    const migrator = new Migrator({
      db: kysely,
      provider: { getMigrations: () => Promise.resolve(before) },
      ...(target.engine === 'postgres' ? { migrationTableSchema: target.schema } : {}),
    });
    expect((await migrator.migrateToLatest()).error).toBeUndefined();
    const name = freshName();
    await sql`insert into users (name, created_at, opaque_record, sealed_keys, role)
      values (${name}, ${now}, ${'opaque'}, ${Buffer.from(bytes(80))}, ${'user'})`.execute(kysely);
    const upgraded = await db.open();
    expect(await upgraded.getRetention(name)).toBeNull();
    await upgraded.setRetention(name, 90 * day);
    expect(await upgraded.getRetention(name)).toBe(90 * day);
  });

  it('is `not-exist` for an unknown user', async () => {
    await expectKindAsync('not-exist', store.getRetention(freshName()));
    await expectKindAsync('not-exist', store.setRetention(freshName(), day));
  });

  it('purges each owner’s trash by their own retention, within the bounds, plus the grace', async () => {
    const policy: TrashPolicy = {
      defaultMs: 30 * day,
      minMs: day,
      maxMs: 100 * day,
      graceMs: 7 * day,
    };
    const plain = await addUser(); // the default: 30 days
    const short = await addUser(10 * day);
    const tooShort = await addUser(60 * 60 * 1000); // 1 hour, under the minimum: 1 day applies
    const tooLong = await addUser(1000 * day); // over the maximum: 100 days apply
    const due = (retention: number) => now - retention - policy.graceMs;
    const purged: FileId[] = [];
    const kept: FileId[] = [];
    for (const [owner, retention] of [
      [plain, 30 * day],
      [short, 10 * day],
      [tooShort, day],
      [tooLong, 100 * day],
    ] as const) {
      const root = entry(owner, null);
      await store.createEntry(root);
      purged.push(await trashed(owner, root.id, due(retention) - 1));
      // Exactly at the cutoff, and just after it: not yet.
      kept.push(await trashed(owner, root.id, due(retention)));
      kept.push(await trashed(owner, root.id, due(retention) + 1));
      const live = entry(owner, root.id);
      await store.createEntry(live);
      kept.push(live.id, root.id);
    }
    // What its own setting alone would have purged, were it not under the minimum.
    const tooShortRoot = (await store.rootOf(tooShort))!.id;
    kept.push(await trashed(tooShort, tooShortRoot, due(60 * 60 * 1000) - 1));

    // Other tests' trash may go too: assert on this test's entries only.
    const gone = await other.purgeExpiredTrash(now, policy);
    for (const id of purged) expect(gone).toContain(id);
    for (const id of kept) expect(gone).not.toContain(id);
    for (const id of purged) {
      expect(await store.getEntry(id)).toBeUndefined();
      expect(await store.entryVersions(id)).toEqual([]);
    }
    for (const id of kept) expect(await store.getEntry(id)).toBeDefined();
    expect(await store.purgeExpiredTrash(now, policy)).toEqual([]);
  });
});

describe('effective retention', () => {
  it('is the default without an own setting, else the own setting within the bounds', () => {
    const config = { ...defaultConfig, retentionMs: 30 * day, minRetentionMs: day };
    expect(effectiveRetention(null, config)).toBe(30 * day);
    expect(effectiveRetention(90 * day, config)).toBe(90 * day);
    expect(effectiveRetention(1000, config)).toBe(day);
    expect(effectiveRetention(10_000 * day, config)).toBe(3650 * day);
    // A default under the minimum is always allowed, so it lowers the minimum.
    const short = { ...config, retentionMs: 1000 };
    expect(effectiveRetention(500, short)).toBe(1000);
    expect(effectiveRetention(null, short)).toBe(1000);
  });
});

describe.each(engines)('the retention route on %s', (engine) => {
  let dir: TestDirectory;
  let client: DirectoryClient;
  let alice: DirectorySession;
  let bob: DirectorySession;
  const get = (session: DirectorySession) =>
    client.call<RetentionResponse>('GET', routes.retention, undefined, session);
  const set = (session: DirectorySession, retentionMs: unknown) =>
    client.call<RetentionResponse>('PUT', routes.retention, { retentionMs }, session);
  const bounds = { defaultMs: 30 * day, minMs: day, maxMs: 3650 * day };

  beforeAll(async () => {
    dir = await startTestDirectory(engine);
    client = await dir.client();
    for (const user of ['alice', 'bob']) await client.register(user, goodPassword(user));
    alice = await client.login('alice', goodPassword('alice'));
    bob = await client.login('bob', goodPassword('bob'));
  }, 60_000);
  afterAll(async () => dir?.stop());

  it('reads and sets the caller’s own retention, and nobody else’s', async () => {
    expect(await get(alice)).toEqual({ retentionMs: null, ...bounds });
    expect(await set(alice, 90 * day)).toEqual({ retentionMs: 90 * day, ...bounds });
    expect(await get(alice)).toEqual({ retentionMs: 90 * day, ...bounds });
    expect(await get(bob)).toEqual({ retentionMs: null, ...bounds });
    expect(await set(alice, null)).toEqual({ retentionMs: null, ...bounds });
    expect(await get(alice)).toEqual({ retentionMs: null, ...bounds });
  });

  it('refuses a retention outside the bounds, or not a whole number of milliseconds', async () => {
    await set(bob, 7 * day);
    for (const bad of [day - 1, 3650 * day + 1, 0, -1, 1.5, '90d', undefined]) {
      await expectKindAsync('invalid', set(bob, bad));
    }
    for (const edge of [day, 3650 * day]) expect((await set(bob, edge)).retentionMs).toBe(edge);
    await expectKindAsync(
      'invalid',
      client.call('PUT', routes.retention, { retentionMs: day, user: 'alice' }, bob),
    );
    expect((await get(alice)).retentionMs).toBeNull();
  });

  it('needs a signed request', async () => {
    await expectKindAsync('permission', client.call('GET', routes.retention));
    await expectKindAsync('permission', client.call('PUT', routes.retention, { retentionMs: day }));
  });

  it('answers a setting below a since-raised minimum as the minimum', async () => {
    const user = freshName();
    await client.register(user, goodPassword(user));
    const session = await client.login(user, goodPassword(user));
    await dir.running.store.setRetention(parseUserName(user), 1000);
    expect((await get(session)).retentionMs).toBe(day);
  }, 30_000);

  it("drives the owner's garbage collection: their own setting over the default", async () => {
    const ctx: AgentContext = { directory: client, session: alice };
    const p = (text: string) => parsePath(text, parseUserName('alice'));
    await mkdir(ctx, p('/alice/kept'));
    await rmdir(ctx, p('/alice/kept'));
    await set(alice, 2 * day);
    const at = Date.now();
    // The default handed in (0: purge everything) does not apply: alice chose two days.
    expect(await collectGarbage(ctx, { retentionMs: 0, now: at })).toMatchObject({
      purged: 0,
      kept: 1,
    });
    expect(await collectGarbage(ctx, { retentionMs: 0, now: at + 2 * day + 1000 })).toMatchObject({
      purged: 1,
      kept: 0,
    });
    await set(alice, null);
  }, 30_000);
});

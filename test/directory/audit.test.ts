/**
 * The audit log in the store, on both engines: a chain that never forks under concurrent appends
 * from two store instances (two directory processes), records that ride in the transaction of
 * the change they record, reading by subject, signed checkpoints, and the check of a whole log
 * catching an edited record, a removed one, a cut-off tail, a forged checkpoint and a chain
 * rewritten by someone without the directory's key.
 */
import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, describe, expect, it } from 'vitest';
import { SigningKeyPair } from '../../src/crypto/keys.js';
import { newFileId } from '../../src/crypto/random.js';
import {
  createDirectoryAudit,
  isOverwrite,
  type VerifiedVersion,
  verifyAuditLog,
} from '../../src/directory/audit.js';
import type { AuditEvent, AuditRecord } from '../../src/interface/audit.js';
import type { DirectoryStore, EntryRecord } from '../../src/interface/directory-store.js';
import { parseUserName, type UserName } from '../../src/interface/names.js';
import {
  auditRecordHash,
  openAuditCheckpoint,
  signAuditCheckpoint,
  zeroAuditHash,
} from '../../src/wire/audit-log.js';
import { type DirEntryBody, grantsOf, signDirEntry } from '../../src/wire/dir-entry.js';
import { signEntryAcl } from '../../src/wire/entry-acl.js';
import { expectKindAsync } from '../helpers/expect-error.js';
import { storeEngines, storeHarness, type TestDatabase } from '../helpers/stores.js';

const now = 1_700_000_000_000;
const bytes = (n: number): Uint8Array => new Uint8Array(randomBytes(n));

let counter = 0;
function freshName(): UserName {
  counter += 1;
  return parseUserName(`a${counter}x${randomBytes(3).toString('hex')}`);
}

function event(fields: Partial<AuditEvent> = {}): AuditEvent {
  const user = freshName();
  return {
    time: now,
    event: 'login.ok',
    actor: user,
    subjects: [user],
    entry: null,
    source: '127.0.0.1',
    details: {},
    ...fields,
  };
}

/** A store and a raw handle on the same fresh database, for the attacker's edits. */
interface World {
  db: TestDatabase;
  store: DirectoryStore;
}

describe.each(storeEngines)('audit log on %s', (engine) => {
  const harness = storeHarness(engine);
  afterAll(() => harness.cleanup());
  const directoryKey = SigningKeyPair.generate();

  async function world(): Promise<World> {
    const db = harness.fresh();
    return { db, store: await db.open() };
  }

  /** Appends `n` records, each about one new user; returns them. */
  async function fill(store: DirectoryStore, n: number): Promise<AuditRecord[]> {
    return store.appendAudit(Array.from({ length: n }, () => event()));
  }

  /** Signs a checkpoint of the current head, as the directory would. */
  async function checkpointHead(store: DirectoryStore): Promise<number> {
    const audit = createDirectoryAudit({
      store,
      key: directoryKey,
      config: { auditCheckpointRecords: 1, auditCheckpointMs: 3_600_000, auditThrottledMs: 5_000 },
      now: () => now,
    });
    try {
      const seq = await audit.checkpoint('any');
      expect(seq).toBeDefined();
      return seq!;
    } finally {
      await audit.close();
    }
  }

  const verify = (store: DirectoryStore) => verifyAuditLog(store, directoryKey.publicKey);

  describe('the chain', () => {
    it('gives seq 1, 2, 3 …, chains each prev to the hash before, and hashes the contents', async () => {
      const { store } = await world();
      expect(await store.auditHead()).toEqual({ seq: 0, hash: zeroAuditHash, checkpoint: 0 });
      const [owner, other] = [freshName(), freshName()];
      const entry = newFileId();
      const first = await store.appendAudit([
        event({
          event: 'entry.shared',
          actor: owner,
          subjects: [owner, other, owner],
          entry,
          details: { version: 2, grants: ['bob:r', 'carol:w'], inherited: false },
        }),
      ]);
      const rest = await fill(store, 2);
      const records = await store.listAudit(0, 10);
      expect(records).toEqual([...first, ...rest]);
      expect(records.map((r) => r.seq)).toEqual([1, 2, 3]);
      expect(records[0]!.prev).toEqual(zeroAuditHash);
      expect(records[1]!.prev).toEqual(records[0]!.hash);
      expect(records[2]!.prev).toEqual(records[1]!.hash);
      for (const { hash, ...contents } of records) expect(auditRecordHash(contents)).toEqual(hash);
      // Subjects sorted and unique; details as sorted JSON; bytes as plain Uint8Arrays.
      expect(records[0]!.subjects).toEqual([owner, other].sort());
      expect(records[0]!.details).toBe(
        '{"grants":["bob:r","carol:w"],"inherited":false,"version":2}',
      );
      expect(records[0]!.entry).toBe(entry);
      expect(records[0]!.hash.constructor).toBe(Uint8Array);
      expect(await store.auditHead()).toEqual({ seq: 3, hash: records[2]!.hash, checkpoint: 0 });
      expect(await store.appendAudit([])).toEqual([]);
      expect((await verify(store)).ok).toBe(true);
    });

    it('never forks: 60 concurrent appends from two stores make one chain, 1 to 80', async () => {
      const { db, store } = await world();
      const other = await db.open();
      const results = await Promise.all(
        Array.from({ length: 60 }, (_, i) =>
          // Some appends carry several events, which must stay consecutive.
          (i % 2 === 0 ? store : other).appendAudit(
            Array.from({ length: i % 3 === 0 ? 2 : 1 }, () => event()),
          ),
        ),
      );
      for (const batch of results) {
        expect(batch.map((r) => r.seq - batch[0]!.seq)).toEqual(batch.map((_, i) => i));
      }
      const records = await other.listAudit(0, 1000);
      expect(records.map((r) => r.seq)).toEqual(Array.from({ length: 80 }, (_, i) => i + 1));
      const result = await verify(store);
      expect(result).toMatchObject({ ok: true, records: 80, head: 80, problems: [] });
    });

    it('refuses details out of bounds before anything is written', async () => {
      const { store } = await world();
      await expectKindAsync('invalid', store.appendAudit([event({ details: { 'a b': 1 } })]));
      await expectKindAsync('invalid', store.appendAudit([event({ details: { n: 0.5 } })]));
      expect((await store.auditHead()).seq).toBe(0);
    });
  });

  describe('records with their change', () => {
    function entryOf(owner: UserName): EntryRecord {
      return {
        id: newFileId(),
        owner,
        parent: null,
        tag: new Uint8Array(32),
        version: 1,
        kind: 'dir',
        envelope: bytes(100),
        writer: owner,
        updatedAt: now,
        deletedAt: null,
        deletedBy: null,
        grants: [],
      };
    }

    it('appends with a change that commits, and not with one that fails', async () => {
      const { store } = await world();
      const owner = freshName();
      const user = {
        name: owner,
        createdAt: now,
        opaqueRecord: 'r',
        sealedKeys: bytes(8),
        role: 'user' as const,
      };
      const genesis = { user: owner, seq: 0, envelope: bytes(50), hash: bytes(32) };
      await store.createUser(user, genesis, undefined, [event({ event: 'register' })]);
      // A taken name: no user, no record.
      await expectKindAsync(
        'exist',
        store.createUser(user, genesis, undefined, [event({ event: 'register' })]),
      );
      const root = entryOf(owner);
      await store.createEntry(root);
      const next = { ...root, version: 2, envelope: bytes(100), deletedAt: now, deletedBy: owner };
      await store.updateEntry(next, 1, [event({ event: 'entry.deleted', entry: root.id })]);
      // A stale update: a conflict, and no record.
      await expectKindAsync(
        'conflict',
        store.updateEntry({ ...next, version: 2 }, 1, [event({ event: 'entry.restored' })]),
      );
      await store.setRole(owner, 'admin', [event({ event: 'role.changed', actor: null })]);
      await expectKindAsync(
        'not-exist',
        store.setRole(freshName(), 'admin', [event({ event: 'role.changed' })]),
      );
      expect((await store.getUser(owner))?.role).toBe('admin');
      const kinds = (await store.listAudit(0, 10)).map((r) => r.event);
      expect(kinds).toEqual(['register', 'entry.deleted', 'role.changed']);
      expect((await verify(store)).ok).toBe(true);
    });

    it('lists by subject, from a seq, up to a limit', async () => {
      const { store } = await world();
      const [alice, bob] = [freshName(), freshName()];
      await store.appendAudit([
        event({ subjects: [alice] }),
        event({ subjects: [bob] }),
        event({ subjects: [alice, bob] }),
        event({ subjects: [] }),
        event({ subjects: [alice] }),
      ]);
      const seqs = async (after: number, limit: number, subject?: UserName) =>
        (await store.listAudit(after, limit, subject)).map((r) => r.seq);
      expect(await seqs(0, 10, alice)).toEqual([1, 3, 5]);
      expect(await seqs(1, 1, alice)).toEqual([3]);
      expect(await seqs(0, 10, bob)).toEqual([2, 3]);
      expect(await seqs(0, 10)).toEqual([1, 2, 3, 4, 5]);
      expect(await seqs(3, 10)).toEqual([4, 5]);
      expect(await seqs(0, 0)).toEqual([]);
      // A record read by subject still carries all its subjects.
      expect((await store.listAudit(2, 1, bob))[0]!.subjects).toEqual([alice, bob].sort());
    });
  });

  describe('checkpoints', () => {
    it('signs the head every N records, or any new ones when asked, with the directory key', async () => {
      const { store } = await world();
      const audit = createDirectoryAudit({
        store,
        key: directoryKey,
        config: {
          auditCheckpointRecords: 3,
          auditCheckpointMs: 3_600_000,
          auditThrottledMs: 5_000,
        },
        now: () => now + 5,
      });
      try {
        expect(await audit.checkpoint('any')).toBeUndefined(); // an empty log
        await fill(store, 2);
        expect(await audit.checkpoint('count')).toBeUndefined(); // 2 < 3
        await fill(store, 1);
        expect(await audit.checkpoint('count')).toBe(3);
        expect(await audit.checkpoint('count')).toBeUndefined(); // nothing new
        await fill(store, 1);
        expect(await audit.checkpoint('any')).toBe(4);
        expect(await audit.checkpoint('any')).toBeUndefined();
      } finally {
        await audit.close();
      }
      const checkpoints = await store.listAuditCheckpoints(0, 10);
      expect(checkpoints.map((c) => c.seq)).toEqual([3, 4]);
      const records = await store.listAudit(0, 10);
      for (const checkpoint of checkpoints) {
        const signed = openAuditCheckpoint(checkpoint.envelope, directoryKey.publicKey);
        expect(signed).toEqual({ seq: checkpoint.seq, hash: checkpoint.hash, time: now + 5 });
        expect(signed.hash).toEqual(records[checkpoint.seq - 1]!.hash);
      }
      expect((await store.auditHead()).checkpoint).toBe(4);
      expect(await verify(store)).toMatchObject({
        ok: true,
        checkpoints: 2,
        validCheckpoints: 2,
        lastCheckpoint: 4,
        unsigned: 0,
      });
    });

    it('signs once when two directory processes race for the same head, and on close', async () => {
      const { db, store } = await world();
      const other = await db.open();
      const config = {
        auditCheckpointRecords: 2,
        auditCheckpointMs: 3_600_000,
        auditThrottledMs: 5_000,
      };
      const audits = [store, other].map((s) =>
        createDirectoryAudit({ store: s, key: directoryKey, config, now: () => now }),
      );
      await fill(store, 2);
      // Each signs head 2, or finds it signed already; never anything else, never an error.
      const signed = await Promise.all(audits.map((a) => a.checkpoint('count')));
      expect(signed).toContain(2);
      expect(signed.every((seq) => seq === 2 || seq === undefined)).toBe(true);
      expect((await store.listAuditCheckpoints(0, 10)).map((c) => c.seq)).toEqual([2]);
      await fill(other, 1);
      await Promise.all(audits.map((a) => a.close()));
      expect((await store.listAuditCheckpoints(0, 10)).map((c) => c.seq)).toEqual([2, 3]);
    });
  });

  describe('audit verify', () => {
    /** A log of 10 records with checkpoints at 5 and 8, then 2 unsigned ones. */
    async function signedLog(): Promise<World & { records: AuditRecord[] }> {
      const w = await world();
      await fill(w.store, 5);
      await checkpointHead(w.store);
      await fill(w.store, 3);
      await checkpointHead(w.store);
      await fill(w.store, 2);
      const records = await w.store.listAudit(0, 100);
      const result = await verify(w.store);
      expect(result).toMatchObject({
        ok: true,
        records: 10,
        head: 10,
        checkpoints: 2,
        lastCheckpoint: 8,
        unsigned: 2,
      });
      return { ...w, records };
    }

    const where = async (store: DirectoryStore) =>
      (await verify(store)).problems.map(({ kind, seq }) => ({ kind, seq }));

    it('catches an edited record at that record, and only there', async () => {
      const { db, store } = await signedLog();
      const raw = db.kysely();
      await raw.updateTable('audit_log').set({ actor: 'mallory' }).where('seq', '=', 4).execute();
      const result = await verify(store);
      expect(result.ok).toBe(false);
      expect(result.problems).toEqual([
        { kind: 'hash', seq: 4, message: 'record 4: hash does not match its contents' },
      ]);
    });

    it('catches edited details, time, kind, source or subjects, each at its record', async () => {
      const { db, store } = await signedLog();
      const raw = db.kysely();
      await raw.updateTable('audit_log').set({ details: '{"x":1}' }).where('seq', '=', 2).execute();
      await raw
        .updateTable('audit_log')
        .set({ created_at: now + 1 })
        .where('seq', '=', 3)
        .execute();
      await raw.updateTable('audit_log').set({ event: 'alert' }).where('seq', '=', 6).execute();
      await raw.updateTable('audit_log').set({ source: '10.0.0.1' }).where('seq', '=', 7).execute();
      await raw.deleteFrom('audit_subjects').where('seq', '=', 9).execute();
      expect(await where(store)).toEqual([2, 3, 6, 7, 9].map((seq) => ({ kind: 'hash', seq })));
    });

    it('catches a record whose hash was recomputed after an edit: its successor no longer follows', async () => {
      const { db, store, records } = await signedLog();
      // The hash ignores the `hash` field it is given.
      const forged = auditRecordHash({ ...records[9 - 1]!, source: '10.0.0.1' });
      await db
        .kysely()
        .updateTable('audit_log')
        .set({ source: '10.0.0.1', hash: Buffer.from(forged) })
        .where('seq', '=', 9)
        .execute();
      const result = await verify(store);
      expect(result.problems).toEqual([
        { kind: 'prev', seq: 10, message: 'record 10: prev does not match record 9' },
      ]);
    });

    it('catches a removed record as missing', async () => {
      const { db, store } = await signedLog();
      await db.kysely().deleteFrom('audit_log').where('seq', '=', 6).execute();
      expect(await where(store)).toEqual([{ kind: 'missing', seq: 6 }]);
      expect((await verify(store)).problems[0]!.message).toBe(
        'record 6: missing (the log goes from 5 to 7)',
      );
    });

    it('catches a tail cut off after a checkpoint', async () => {
      const { db, store } = await signedLog();
      await db.kysely().deleteFrom('audit_log').where('seq', '>', 6).execute();
      const result = await verify(store);
      expect(result.problems.map(({ kind, seq }) => ({ kind, seq }))).toEqual([
        { kind: 'truncated', seq: 7 },
      ]);
      expect(result.problems[0]!.message).toBe(
        'records after 6 were removed: the checkpoint at 8 signed a log that reached record 8',
      );
    });

    it('catches a forged checkpoint: signed by another key, or its row changed', async () => {
      const { db, store, records } = await signedLog();
      const mallory = SigningKeyPair.generate();
      const head = records[9]!;
      await store.addAuditCheckpoint({
        seq: 10,
        hash: head.hash,
        time: now,
        envelope: signAuditCheckpoint(mallory, { seq: 10, hash: head.hash, time: now }),
      });
      // The real checkpoint at 5 moved to say it signs record 4.
      await db
        .kysely()
        .updateTable('audit_checkpoints')
        .set({ hash: Buffer.from(records[3]!.hash) })
        .where('seq', '=', 5)
        .execute();
      const result = await verify(store);
      expect(result.problems.map(({ kind, seq }) => ({ kind, seq }))).toEqual([
        { kind: 'checkpoint-signature', seq: 5 },
        { kind: 'checkpoint-signature', seq: 10 },
      ]);
      expect(result.problems[1]!.message).toBe('checkpoint at 10: signature invalid');
      expect(result).toMatchObject({ checkpoints: 3, validCheckpoints: 1, lastCheckpoint: 8 });
    });

    it('catches a chain rewritten without the directory key at the first checkpoint it passes', async () => {
      const { db, store, records } = await signedLog();
      // Record 3 edited and every hash from there recomputed: a chain that holds together.
      const raw = db.kysely();
      let prev = records[1]!.hash;
      for (const record of records.slice(2)) {
        const edited = { ...record, prev, actor: record.seq === 3 ? 'mallory' : record.actor };
        const hash = auditRecordHash(edited);
        await raw
          .updateTable('audit_log')
          .set({ actor: edited.actor, prev: Buffer.from(prev), hash: Buffer.from(hash) })
          .where('seq', '=', record.seq)
          .execute();
        prev = hash;
      }
      expect(await where(store)).toEqual([
        { kind: 'checkpoint-mismatch', seq: 5 },
        { kind: 'checkpoint-mismatch', seq: 8 },
      ]);
    });

    it('says an empty log with no checkpoints is intact', async () => {
      const { store } = await world();
      expect(await verify(store)).toEqual({
        ok: true,
        records: 0,
        head: 0,
        checkpoints: 0,
        validCheckpoints: 0,
        lastCheckpoint: 0,
        unsigned: 0,
        problems: [],
      });
    });
  });

  if (engine === 'postgres') {
    it('takes the table lock only for appends, never for readers', async () => {
      const { db, store } = await world();
      await fill(store, 1);
      const raw = db.kysely();
      await raw.transaction().execute(async (trx) => {
        await sql`lock table audit_log in exclusive mode`.execute(trx);
        // A reader is not blocked while an append holds the lock.
        expect((await store.listAudit(0, 10)).length).toBe(1);
      });
    });
  }
});

/**
 * What the update route records as `entry.overwritten` (for the monitor's `overwrite-burst`):
 * every plain write counts, by the owner or a writer, however the certificate is renewed; what a
 * revocation signs again under a new key, grant changes, deletions, restores and folders do not.
 */
describe('what counts as an overwrite', () => {
  const alice = parseUserName('alice');
  const bob = parseUserName('bob');
  const aliceKey = SigningKeyPair.generate();
  const aliceNewKey = SigningKeyPair.generate();
  const bobKey = SigningKeyPair.generate();
  const bobNewKey = SigningKeyPair.generate();
  const id = newFileId();
  const acl = { r: [] as UserName[], w: [bob] };
  const certBy = (key: SigningKeyPair, version: number, users = acl) =>
    signEntryAcl(key, { entry: id, owner: alice, version, ...users });

  const body = (version: number, fields: Partial<DirEntryBody> = {}): DirEntryBody => ({
    id,
    parent: newFileId(),
    owner: alice,
    version,
    kind: 'file',
    tag: bytes(32),
    name: bytes(8),
    label: bytes(8),
    meta: bytes(16),
    keys: { alice: bytes(8), bob: bytes(8) },
    acl,
    aclCert: certBy(aliceKey, 1),
    deleted: null,
    prev: bytes(32),
    time: now,
    ...fields,
  });
  /** The stored version 1 of alice's file, written by `writer` with `key`. */
  const stored = (
    writer: UserName,
    key: SigningKeyPair,
    fields: Partial<DirEntryBody> = {},
  ): Pick<EntryRecord, 'kind' | 'owner' | 'deletedAt' | 'envelope' | 'writer' | 'grants'> => {
    const first = body(1, fields);
    return {
      kind: first.kind,
      owner: alice,
      deletedAt: first.deleted === null ? null : now,
      envelope: signDirEntry(key, first),
      writer,
      grants: grantsOf(first),
    };
  };
  /** Version 2 by `writer`, verified with `key`. */
  const next = (
    writer: UserName,
    key: SigningKeyPair,
    fields: Partial<DirEntryBody> = {},
  ): VerifiedVersion => {
    const version = body(2, fields);
    return { body: version, grants: grantsOf(version), writer, signer: key.publicKey };
  };

  it('counts a new version by the key that signed the one before', () => {
    expect(isOverwrite(stored(alice, aliceKey), next(alice, aliceKey))).toBe(true);
    expect(isOverwrite(stored(bob, bobKey), next(bob, bobKey))).toBe(true);
  });

  it("counts a writer overwriting the owner's version, and the other way round", () => {
    expect(isOverwrite(stored(alice, aliceKey), next(bob, bobKey))).toBe(true);
    expect(isOverwrite(stored(bob, bobKey), next(alice, aliceKey))).toBe(true);
  });

  it('counts an owner who renews the certificate with the same key: no way around the count', () => {
    const renewed = { aclCert: certBy(aliceKey, 2) };
    expect(isOverwrite(stored(alice, aliceKey), next(alice, aliceKey, renewed))).toBe(true);
    expect(isOverwrite(stored(bob, bobKey), next(alice, aliceKey, renewed))).toBe(true);
  });

  it('leaves out what revocate signs again under the new key', () => {
    // Own entries: a version and a certificate by the new key, the same grants.
    const renewed = { aclCert: certBy(aliceNewKey, 2) };
    expect(isOverwrite(stored(alice, aliceKey), next(alice, aliceNewKey, renewed))).toBe(false);
    expect(isOverwrite(stored(bob, bobKey), next(alice, aliceNewKey, renewed))).toBe(false);
    // Another's entry the user last wrote: the owner's certificate stays, the key is new.
    expect(isOverwrite(stored(bob, bobKey), next(bob, bobNewKey))).toBe(false);
  });

  it('leaves out grant changes, deletions, restores and folders', () => {
    const none = { r: [] as UserName[], w: [] as UserName[] };
    const unshared = { acl: none, aclCert: certBy(aliceKey, 2, none), keys: { alice: bytes(8) } };
    expect(isOverwrite(stored(alice, aliceKey), next(alice, aliceKey, unshared))).toBe(false);
    const deleted = { at: now, by: alice };
    expect(isOverwrite(stored(alice, aliceKey), next(alice, aliceKey, { deleted }))).toBe(false);
    expect(isOverwrite(stored(alice, aliceKey, { deleted }), next(alice, aliceKey))).toBe(false);
    const folder = { kind: 'dir' as const };
    expect(isOverwrite(stored(alice, aliceKey, folder), next(alice, aliceKey, folder))).toBe(false);
  });
});

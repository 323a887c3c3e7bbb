/**
 * The audit log through the directory's routes, on both engines: what each action records
 * (registrations, logins and failed logins, key events, shares, unshares, deletions, restores,
 * purges, refused requests), and who reads what through `GET /v1/audit`: an owner the events
 * about them, an admin all of them, anyone else nothing of theirs.
 */
import * as opaque from '@serenity-kit/opaque';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DirectoryClient, DirectorySession } from '../../src/client/directory-client.js';
import { IdentityKeys } from '../../src/crypto/identity.js';
import { newFileId, randomBytesOf } from '../../src/crypto/random.js';
import { unfinishedLogins, verifyAuditLog } from '../../src/directory/audit.js';
import { loadDirectoryPublicKey } from '../../src/directory/keys.js';
import type { FileId } from '../../src/interface/ids.js';
import type { UserName } from '../../src/interface/names.js';
import { toBase64url } from '../../src/wire/base64.js';
import { type DirEntryBody, signDirEntry } from '../../src/wire/dir-entry.js';
import {
  type AuditRecordResponse,
  type AuditResponse,
  type LoginStartResponse,
  routes,
} from '../../src/wire/directory-api.js';
import { signEntryAcl } from '../../src/wire/entry-acl.js';
import { chainHash, makeRotation } from '../../src/wire/key-log.js';
import {
  editDatabase,
  engines,
  goodPassword,
  startTestDirectory,
  type TestDirectory,
} from '../helpers/directory.js';
import { expectKindAsync } from '../helpers/expect-error.js';

interface Acl {
  r: UserName[];
  w: UserName[];
}

describe.each(engines)('audit log routes on %s', (engine) => {
  let dir: TestDirectory;
  let client: DirectoryClient;
  let alice: DirectorySession;
  let bob: DirectorySession;
  let carol: DirectorySession;
  let dave: DirectorySession;
  let secret: FileId;
  /** The chain hash of dave's key rotation, as its record pins it. */
  let daveRotation: string;
  let doc: FileId;

  /** Alice's entry `id` at `version`, granting `acl`, after `prev` (an envelope). */
  const body = (
    id: FileId,
    parent: FileId | null,
    version: number,
    acl: Acl,
    prev: Uint8Array | null,
    deleted: DirEntryBody['deleted'] = null,
  ): DirEntryBody => ({
    id,
    parent,
    owner: alice.user,
    version,
    kind: parent === null ? 'dir' : 'file',
    tag: parent === null ? new Uint8Array(32) : Uint8Array.from(Buffer.from(id.padEnd(32, 'x'))),
    name: new Uint8Array(0),
    label: new Uint8Array(0),
    meta: new Uint8Array(0),
    keys: Object.fromEntries([alice.user, ...acl.r, ...acl.w].map((u) => [u, Uint8Array.of(1)])),
    acl,
    aclCert: signEntryAcl(alice.identity.signing, {
      entry: id,
      owner: alice.user,
      version,
      ...acl,
    }),
    deleted,
    prev: prev === null ? new Uint8Array(32) : chainHash(prev),
    time: Date.now(),
  });

  const create = async (entry: DirEntryBody): Promise<Uint8Array> => {
    const envelope = signDirEntry(alice.identity.signing, entry);
    await client.call('POST', routes.entries, { envelope: toBase64url(envelope) }, alice);
    return envelope;
  };

  const update = async (entry: DirEntryBody): Promise<Uint8Array> => {
    const envelope = signDirEntry(alice.identity.signing, entry);
    await client.call(
      'PUT',
      routes.entry.replace(':id', entry.id),
      { envelope: toBase64url(envelope), expectedVersion: entry.version - 1 },
      alice,
    );
    return envelope;
  };

  const read = (session: DirectorySession, query = '') =>
    client.call<AuditResponse>('GET', `${routes.audit}${query}`, undefined, session);

  /** Every record `session` may read, page by page. */
  async function readAll(session: DirectorySession): Promise<AuditRecordResponse[]> {
    const records: AuditRecordResponse[] = [];
    for (let after = 0; ;) {
      const page = await read(session, `?after=${after}&limit=7`);
      records.push(...page.records);
      if (page.records.length < 7) return records;
      after = page.next;
    }
  }

  beforeAll(async () => {
    dir = await startTestDirectory(engine);
    client = await dir.client();
    for (const user of ['alice', 'bob', 'carol', 'dave']) {
      await client.register(user, goodPassword(user));
    }
    alice = await client.login('alice', goodPassword('alice'));
    bob = await client.login('bob', goodPassword('bob'));
    carol = await client.login('carol', goodPassword('carol'));
    dave = await client.login('dave', goodPassword('dave'));
    await dir.running.store.setRole(carol.user, 'admin');

    // Alice's tree: a private file, and a document she shares, unshares, deletes, restores,
    // deletes again and purges.
    const root = newFileId();
    await create(body(root, null, 1, { r: [], w: [] }, null));
    secret = newFileId();
    await create(body(secret, root, 1, { r: [], w: [] }, null));
    doc = newFileId();
    let envelope = await create(body(doc, root, 1, { r: [], w: [] }, null));
    envelope = await update(body(doc, root, 2, { r: [bob.user], w: [] }, envelope));
    envelope = await update(body(doc, root, 3, { r: [], w: [] }, envelope));
    const deleted = () => ({ at: Date.now(), by: alice.user });
    envelope = await update(body(doc, root, 4, { r: [], w: [] }, envelope, deleted()));
    envelope = await update(body(doc, root, 5, { r: [], w: [] }, envelope));
    await update(body(doc, root, 6, { r: [], w: [] }, envelope, deleted()));
    await client.call('DELETE', routes.trashEntry.replace(':id', doc), undefined, alice);

    // Bob probes alice's private file; someone guesses alice's password and an unknown one's.
    await expectKindAsync(
      'not-exist',
      client.call('GET', routes.entry.replace(':id', secret), undefined, bob),
    );
    await expectKindAsync('permission', client.login('alice', 'not alice password at all'));
    await expectKindAsync('permission', client.login('nobody', 'not a password of anyone'));
    // A wrong password ends at the client; the directory records those logins as their states
    // expire (its maintenance, here run as if ten minutes had passed).
    const later = Date.now() + 10 * 60_000;
    await dir.running.store.pruneExpired(later, unfinishedLogins(Date.now()));
    // A finish that does not verify is refused, and recorded at once.
    await opaque.ready;
    const { startLoginRequest } = opaque.client.startLogin({ password: 'anything at all' });
    const start = await client.call<LoginStartResponse>('POST', routes.loginStart, {
      user: 'alice',
      request: startLoginRequest,
    });
    await expectKindAsync(
      'permission',
      client.call('POST', routes.loginFinish, {
        loginId: start.loginId,
        finish: toBase64url(randomBytesOf(64)),
        deviceKey: toBase64url(randomBytesOf(32)),
        proof: toBase64url(randomBytesOf(32)),
      }),
    );

    // Dave rotates his key.
    const state = await client.keyLog('dave');
    const rotation = makeRotation(
      state,
      dave.identity.signing,
      IdentityKeys.generate().public,
      Date.now(),
    );
    await client.call('POST', routes.appendKey, { envelope: toBase64url(rotation) }, dave);
    daveRotation = toBase64url(chainHash(rotation));
  }, 120_000);
  afterAll(async () => dir?.stop());

  /** A key event's chain hash, as a record pins it. */
  const head = expect.stringMatching(/^[A-Za-z0-9_-]{43}$/) as string;

  const summary = (records: readonly AuditRecordResponse[]) =>
    records.map(({ event, actor, entry, details }) => ({ event, actor, entry, details }));

  it('records what alice did and what was done to her, and shows her exactly that', async () => {
    const records = await readAll(alice);
    expect(records.every((r) => r.subjects.includes(alice.user))).toBe(true);
    expect(summary(records)).toEqual([
      { event: 'register', actor: 'alice', entry: null, details: { invite: false, head } },
      { event: 'login.ok', actor: 'alice', entry: null, details: {} },
      {
        event: 'entry.shared',
        actor: 'alice',
        entry: doc,
        details: { version: 2, grants: ['bob:r'] },
      },
      {
        event: 'entry.unshared',
        actor: 'alice',
        entry: doc,
        details: { version: 3, grants: ['bob:r'] },
      },
      { event: 'entry.deleted', actor: 'alice', entry: doc, details: { version: 4 } },
      { event: 'entry.restored', actor: 'alice', entry: doc, details: { version: 5 } },
      { event: 'entry.deleted', actor: 'alice', entry: doc, details: { version: 6 } },
      { event: 'entry.deleted', actor: 'alice', entry: doc, details: { version: 6, purged: true } },
      {
        event: 'access.refused',
        actor: 'bob',
        entry: secret,
        details: { op: 'entry.get', kind: 'not-exist' },
      },
      {
        event: 'login.failed',
        actor: null,
        entry: null,
        details: { reason: 'unfinished' },
      },
      { event: 'login.failed', actor: null, entry: null, details: { reason: 'refused' } },
    ]);
    // Her own actions and the failed login show their address; bob's probe does not.
    const sources = Object.fromEntries(records.map((r) => [r.event, r.source]));
    expect(sources['login.failed']).toBe('127.0.0.1');
    expect(sources['entry.shared']).toBe('127.0.0.1');
    expect(sources['access.refused']).toBeNull();
    // Seqs rise; hashes are there for whoever checks them against a checkpoint.
    const seqs = records.map((r) => r.seq);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(records.every((r) => /^[A-Za-z0-9_-]{43}$/.test(r.hash))).toBe(true);
  });

  it('shows others nothing about alice: bob and dave see only their own events', async () => {
    const bobs = await readAll(bob);
    expect(bobs.map((r) => r.event)).toEqual(['register', 'login.ok']);
    expect(bobs.every((r) => r.subjects.includes(bob.user))).toBe(true);
    const daves = await readAll(dave);
    expect(summary(daves)).toEqual([
      { event: 'register', actor: 'dave', entry: null, details: { invite: false, head } },
      { event: 'login.ok', actor: 'dave', entry: null, details: {} },
      {
        event: 'key.appended',
        actor: 'dave',
        entry: null,
        details: { seq: 1, revoked: false, head: daveRotation },
      },
    ]);
    expect((await read(dave)).scope).toBe('own');
  });

  it('shows an admin every event, with every address, the unknown account included', async () => {
    const page = await read(carol, '?limit=1000');
    expect(page.scope).toBe('all');
    const all = page.records;
    expect(all.map((r) => r.seq)).toEqual(all.map((_, i) => i + 1));
    expect(all.every((r) => r.source === '127.0.0.1')).toBe(true);
    const unknown = all.filter((r) => r.event === 'login.failed' && r.subjects.length === 0);
    expect(unknown.map((r) => r.details)).toEqual([{ reason: 'unfinished', unknownAccount: true }]);
    // The probe is about alice and by bob; an admin sees where it came from.
    const probe = all.find((r) => r.event === 'access.refused');
    expect(probe).toMatchObject({ actor: 'bob', subjects: ['alice'], entry: secret });
    // Registrations of all four, and a login of each.
    expect(all.filter((r) => r.event === 'register').map((r) => r.actor)).toEqual([
      'alice',
      'bob',
      'carol',
      'dave',
    ]);
    // Nothing of what alice's files are called or hold, and no password, reaches the log.
    const text = JSON.stringify(all);
    for (const user of ['alice', 'bob', 'carol', 'dave']) {
      expect(text).not.toContain(goodPassword(user));
    }
    expect(text).not.toContain('not alice password at all');
    expect(text).not.toContain('nobody');
  });

  it('pages by seq, refuses bad pages, and answers only signed requests', async () => {
    const first = await read(carol, '?limit=3');
    expect(first.records.map((r) => r.seq)).toEqual([1, 2, 3]);
    expect(first.next).toBe(3);
    const second = await read(carol, `?after=${first.next}&limit=2`);
    expect(second.records.map((r) => r.seq)).toEqual([4, 5]);
    const past = await read(carol, '?after=100000');
    expect(past).toEqual({ records: [], next: 100000, scope: 'all' });
    await expectKindAsync('invalid', read(carol, '?limit=0'));
    await expectKindAsync('invalid', read(carol, '?limit=1001'));
    await expectKindAsync('invalid', read(carol, '?after=-1'));
    await expectKindAsync('permission', client.call('GET', routes.audit));
  });

  it('takes the admin role away at once, and the whole log verifies', async () => {
    await dir.running.store.setRole(carol.user, 'user');
    const page = await read(carol);
    expect(page.scope).toBe('own');
    expect(page.records.every((r) => r.subjects.includes(carol.user))).toBe(true);
    await dir.running.store.setRole(carol.user, 'admin');
    const key = await loadDirectoryPublicKey(dir.dataDir);
    const result = await verifyAuditLog(dir.running.store, key.publicKey);
    expect(result).toMatchObject({ ok: true, problems: [] });
    expect(result.records).toBeGreaterThan(15);
  });

  it('fails at the record whose key event was substituted, removed or added in the database', async () => {
    const key = await loadDirectoryPublicKey(dir.dataDir);
    const problems = async () =>
      (await verifyAuditLog(dir.running.store, key.publicKey)).problems.map((p) => p.message);
    // The intruder gives bob's first key event to alice (so her shares go to bob's key)…
    await editDatabase(
      dir,
      "UPDATE key_log SET envelope = (SELECT envelope FROM key_log WHERE user_name = 'bob' AND seq = 0) WHERE user_name = 'alice' AND seq = 0",
    );
    expect(await problems()).toEqual([
      expect.stringMatching(
        /^record \d+: alice's key event 0 is not the one recorded \(substituted or edited/,
      ),
    ]);
    // …takes dave's rotation back, and slips an event into carol's log.
    await editDatabase(dir, "DELETE FROM key_log WHERE user_name = 'dave' AND seq = 1");
    await editDatabase(
      dir,
      "INSERT INTO key_log (user_name, seq, envelope, hash) SELECT 'carol', 1, envelope, hash FROM key_log WHERE user_name = 'bob' AND seq = 0",
    );
    const found = await problems();
    expect(found).toHaveLength(3);
    expect(found).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/dave's key event 1 is gone from the key log/),
        expect.stringMatching(/carol's key log has an event 1 that no record accounts for/),
      ]),
    );
  });
});

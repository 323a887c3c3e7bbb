/**
 * The security monitor through the directory's routes, on both engines: a burst of 500
 * deletions raises one alert and keeps all 500 from every purge until alice acknowledges it, and
 * so does a burst of overwrites by a writer (sharing, unsharing and an editor's saves do not);
 * bob's refused reads of alice's files alert her; real wrong-password logins alert the account
 * once; and an ordinary session raises nothing.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DirectoryClient, DirectorySession } from '../../src/client/directory-client.js';
import { IdentityKeys } from '../../src/crypto/identity.js';
import { newFileId } from '../../src/crypto/random.js';
import { unfinishedLogins } from '../../src/directory/audit.js';
import { defaultMonitor } from '../../src/directory/config.js';
import type { BlockId, FileId } from '../../src/interface/ids.js';
import type { UserName } from '../../src/interface/names.js';
import { toBase64url } from '../../src/wire/base64.js';
import { signBlockRelease } from '../../src/wire/block-release.js';
import {
  decodeDirEntryUnverified,
  type DirEntryBody,
  signDirEntry,
} from '../../src/wire/dir-entry.js';
import {
  type AlertsResponse,
  type EntryVersionResponse,
  routes,
} from '../../src/wire/directory-api.js';
import { signEntryAcl } from '../../src/wire/entry-acl.js';
import { chainHash, makeRotation } from '../../src/wire/key-log.js';
import {
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

describe.each(engines)('security monitor routes on %s', (engine) => {
  let dir: TestDirectory;
  let client: DirectoryClient;

  beforeAll(async () => {
    // A low guessing threshold, so a handful of real OPAQUE logins reaches it.
    // Every test but the ordinary ones triggers its rule on purpose.
    dir = await startTestDirectory(
      engine,
      { monitor: { ...defaultMonitor, guessFailures: 4 } },
      {
        allowAlerts: [
          'deletion-burst',
          'overwrite-burst',
          'permission-probing',
          'password-guessing',
          'session-misuse',
        ],
      },
    );
    client = await dir.client();
  }, 60_000);
  afterAll(async () => dir?.stop());

  /** A fresh user, registered and logged in. */
  async function user(): Promise<DirectorySession> {
    const name = `u${randomBytes(4).toString('hex')}`;
    await client.register(name, goodPassword(name));
    return client.login(name, goodPassword(name));
  }

  /** `owner`'s entry `id` at `version`. */
  const body = (
    owner: DirectorySession,
    id: FileId,
    parent: FileId | null,
    version: number,
    acl: Acl,
    prev: Uint8Array | null,
    deleted: DirEntryBody['deleted'] = null,
  ): DirEntryBody => ({
    id,
    parent,
    owner: owner.user,
    version,
    kind: parent === null ? 'dir' : 'file',
    tag: parent === null ? new Uint8Array(32) : Uint8Array.from(Buffer.from(id.padEnd(32, 'x'))),
    name: new Uint8Array(0),
    label: new Uint8Array(0),
    meta: new Uint8Array(0),
    keys: Object.fromEntries([owner.user, ...acl.r, ...acl.w].map((u) => [u, Uint8Array.of(1)])),
    acl,
    aclCert: signEntryAcl(owner.identity.signing, {
      entry: id,
      owner: owner.user,
      version,
      ...acl,
    }),
    deleted,
    prev: prev === null ? new Uint8Array(32) : chainHash(prev),
    time: Date.now(),
  });

  const create = async (owner: DirectorySession, entry: DirEntryBody): Promise<Uint8Array> => {
    const envelope = signDirEntry(owner.identity.signing, entry);
    await client.call('POST', routes.entries, { envelope: toBase64url(envelope) }, owner);
    return envelope;
  };

  const update = async (owner: DirectorySession, entry: DirEntryBody): Promise<Uint8Array> => {
    const envelope = signDirEntry(owner.identity.signing, entry);
    await client.call(
      'PUT',
      routes.entry.replace(':id', entry.id),
      { envelope: toBase64url(envelope), expectedVersion: entry.version - 1 },
      owner,
    );
    return envelope;
  };

  const alerts = async (session: DirectorySession) =>
    (await client.call<AlertsResponse>('GET', routes.alerts, undefined, session)).alerts;

  const none: Acl = { r: [], w: [] };

  it('keeps all 500 files of a deletion burst from purge until the owner acknowledges', async () => {
    const alice = await user();
    const root = newFileId();
    await create(alice, body(alice, root, null, 1, none, null));
    const files: { id: FileId; envelope: Uint8Array }[] = [];
    for (let i = 0; i < 500; i += 1) {
      const id = newFileId();
      files.push({ id, envelope: await create(alice, body(alice, id, root, 1, none, null)) });
    }
    // Ransomware on alice's device deletes everything within a minute.
    const began = Date.now();
    for (const file of files) {
      const deleted = { at: Date.now(), by: alice.user };
      file.envelope = await update(
        alice,
        body(alice, file.id, root, 2, none, file.envelope, deleted),
      );
    }
    expect(Date.now() - began).toBeLessThan(60_000);

    const [alert, ...rest] = await alerts(alice);
    expect(rest).toEqual([]);
    expect(alert).toMatchObject({ rule: 'deletion-burst', severity: 'critical', count: 500 });
    expect(alert?.action).toMatch(/acknowledge/);
    const id = alert?.id ?? 0;

    // Every purge path refuses or skips them: the trash purge, the release before a purge by
    // the owner's agent, and the directory's own late purge.
    const message = `protected after a burst of deletions or overwrites; acknowledge alert ${id} first`;
    for (const file of files.slice(0, 5)) {
      const err = await expectKindAsync(
        'conflict',
        client.call('DELETE', routes.trashEntry.replace(':id', file.id), undefined, alice),
      );
      expect(err.message).toContain(message);
    }
    const release = signBlockRelease(alice.identity.signing, {
      user: alice.user,
      file: files[0]!.id,
      blocks: [toBase64url(randomBytes(32)) as BlockId],
      time: Date.now(),
    });
    const refused = await expectKindAsync(
      'conflict',
      client.call('POST', routes.releases, { envelope: toBase64url(release) }, alice),
    );
    expect(refused.message).toContain(message);
    const farFuture = Date.now() + 100 * 365 * 24 * 60 * 60 * 1000;
    const purged = await dir.running.store.purgeExpiredTrash(farFuture, {
      defaultMs: 0,
      minMs: 0,
      maxMs: 0,
      graceMs: 0,
    });
    expect(purged.filter((p) => files.some((f) => f.id === p))).toEqual([]);
    // All 500 are still in the trash, restorable.
    const trash = new Set((await dir.running.store.listTrash(alice.user)).map((e) => e.id));
    expect(files.every((f) => trash.has(f.id))).toBe(true);
    const first = files[0]!;
    await update(alice, body(alice, first.id, root, 3, none, first.envelope));
    expect((await dir.running.store.getEntry(first.id))?.deletedAt).toBeNull();

    // Nobody else acknowledges it for her; once she does, purging works again.
    const bob = await user();
    await expectKindAsync(
      'not-exist',
      client.call('POST', routes.alertAck.replace(':id', String(id)), {}, bob),
    );
    const acked = await client.call<{ ackedAt: number | null }>(
      'POST',
      routes.alertAck.replace(':id', String(id)),
      {},
      alice,
    );
    expect(acked.ackedAt).not.toBeNull();
    await client.call('DELETE', routes.trashEntry.replace(':id', files[1]!.id), undefined, alice);
    expect(await dir.running.store.getEntry(files[1]!.id)).toBeUndefined();
  }, 240_000);

  it("keeps every file a writer's stolen session overwrites, and every version, until alice acknowledges", async () => {
    const alice = await user();
    const bob = await user();
    const root = newFileId();
    await create(alice, body(alice, root, null, 1, none, null));
    const team: Acl = { r: [], w: [bob.user] };
    const files: { id: FileId; original: Uint8Array; envelope: Uint8Array }[] = [];
    for (let i = 0; i < defaultMonitor.burstOverwrites; i += 1) {
      const id = newFileId();
      const envelope = await create(alice, body(alice, id, root, 1, team, null));
      files.push({ id, original: envelope, envelope });
    }
    // Ransomware in bob's session encrypts every file in place: alice's certificate, new content.
    for (const file of files) {
      const before = decodeDirEntryUnverified(file.envelope);
      file.envelope = await update(bob, {
        ...before,
        version: 2,
        meta: new Uint8Array(randomBytes(64)),
        prev: chainHash(file.envelope),
        time: Date.now(),
      });
    }

    const [alert, ...rest] = await alerts(alice);
    expect(rest).toEqual([]);
    expect(alert).toMatchObject({
      rule: 'overwrite-burst',
      severity: 'critical',
      count: files.length,
      ackedAt: null,
    });
    expect(alert?.summary).toContain(bob.user);
    expect(await alerts(bob)).toEqual([]);
    const id = alert?.id ?? 0;
    const overwrites = (await dir.running.store.listAudit(0, 10_000, alice.user)).filter(
      (r) => r.event === 'entry.overwritten',
    );
    expect(overwrites.map((r) => r.entry)).toEqual(files.map((f) => f.id));
    expect(overwrites.every((r) => r.actor === bob.user)).toBe(true);

    // Every prior version is still there to read.
    for (const file of files) {
      const { versions } = await client.call<{ versions: EntryVersionResponse[] }>(
        'GET',
        routes.versions.replace(':id', file.id),
        undefined,
        alice,
      );
      expect(versions.map((v) => [v.version, v.writer])).toEqual([
        [1, alice.user],
        [2, bob.user],
      ]);
      expect(versions[0]?.envelope).toBe(toBase64url(file.original));
    }
    // No purge path takes any of them: a release by alice's agent, the trash purge of one she
    // then deletes, the directory's late purge.
    const message = `protected after a burst of deletions or overwrites; acknowledge alert ${id} first`;
    const release = (file: FileId) =>
      signBlockRelease(alice.identity.signing, {
        user: alice.user,
        file,
        blocks: [toBase64url(randomBytes(32)) as BlockId],
        time: Date.now(),
      });
    for (const file of files) {
      const refused = await expectKindAsync(
        'conflict',
        client.call('POST', routes.releases, { envelope: toBase64url(release(file.id)) }, alice),
      );
      expect(refused.message).toContain(message);
    }
    const gone = files[0]!;
    const deleted = { at: Date.now(), by: alice.user };
    gone.envelope = await update(alice, {
      ...decodeDirEntryUnverified(gone.envelope),
      version: 3,
      deleted,
      prev: chainHash(gone.envelope),
      time: Date.now(),
    });
    const purge = () =>
      client.call('DELETE', routes.trashEntry.replace(':id', gone.id), undefined, alice);
    expect((await expectKindAsync('conflict', purge())).message).toContain(message);
    const farFuture = Date.now() + 100 * 365 * 24 * 60 * 60 * 1000;
    const policy = { defaultMs: 0, minMs: 0, maxMs: 0, graceMs: 0 };
    expect(await dir.running.store.purgeExpiredTrash(farFuture, policy)).not.toContain(gone.id);

    // Bob cannot acknowledge it; once alice does, purging works again.
    await expectKindAsync(
      'not-exist',
      client.call('POST', routes.alertAck.replace(':id', String(id)), {}, bob),
    );
    await client.call('POST', routes.alertAck.replace(':id', String(id)), {}, alice);
    await client.call(
      'POST',
      routes.releases,
      { envelope: toBase64url(release(files[1]!.id)) },
      alice,
    );
    await purge();
    expect(await dir.running.store.getEntry(gone.id)).toBeUndefined();
  }, 240_000);

  it('counts no overwrite for sharing, unsharing or a new key, and nothing alarms an editor', async () => {
    const alice = await user();
    const bob = await user();
    const root = newFileId();
    await create(alice, body(alice, root, null, 1, none, null));
    const files: { id: FileId; envelope: Uint8Array }[] = [];
    for (let i = 0; i < defaultMonitor.burstOverwrites; i += 1) {
      const id = newFileId();
      files.push({ id, envelope: await create(alice, body(alice, id, root, 1, none, null)) });
    }
    // Alice shares all of them with bob and takes it back: grant changes, not overwrites.
    for (const file of files) {
      file.envelope = await update(
        alice,
        body(alice, file.id, root, 2, { r: [bob.user], w: [] }, file.envelope),
      );
    }
    for (const file of files) {
      file.envelope = await update(alice, body(alice, file.id, root, 3, none, file.envelope));
    }
    // An editor saves one file 50 times, and three others once.
    const editing = files[0]!;
    for (let version = 4; version < 54; version += 1) {
      editing.envelope = await update(alice, {
        ...decodeDirEntryUnverified(editing.envelope),
        version,
        meta: new Uint8Array(randomBytes(16)),
        prev: chainHash(editing.envelope),
        time: Date.now(),
      });
    }
    for (const file of files.slice(1, 4)) {
      file.envelope = await update(alice, {
        ...decodeDirEntryUnverified(file.envelope),
        version: 4,
        prev: chainHash(file.envelope),
        time: Date.now(),
      });
    }
    // Alice replaces her key and signs every file again under the new one, with a certificate
    // by it (what revocate does): no overwrite either.
    const fresh = IdentityKeys.generate();
    const rotation = makeRotation(
      await client.keyLog(alice.user),
      alice.identity.signing,
      fresh.public,
      Date.now(),
    );
    await client.call('POST', routes.appendKey, { envelope: toBase64url(rotation) }, alice);
    const resigned: DirectorySession = { ...alice, identity: fresh };
    for (const file of files) {
      const before = decodeDirEntryUnverified(file.envelope);
      const version = before.version + 1;
      file.envelope = await update(resigned, {
        ...before,
        version,
        aclCert: signEntryAcl(fresh.signing, {
          entry: file.id,
          owner: alice.user,
          version,
          ...none,
        }),
        prev: chainHash(file.envelope),
        time: Date.now(),
      });
    }
    const records = await dir.running.store.listAudit(0, 10_000, alice.user);
    const count = (event: string) => records.filter((r) => r.event === event).length;
    expect(count('entry.shared')).toBe(files.length);
    expect(count('entry.unshared')).toBe(files.length);
    expect(count('entry.overwritten')).toBe(53);
    expect(await alerts(alice)).toEqual([]);
  }, 240_000);

  it('alerts alice once when bob is refused 20 reads of her files, and tells bob nothing', async () => {
    const alice = await user();
    const bob = await user();
    const root = newFileId();
    await create(alice, body(alice, root, null, 1, none, null));
    const secrets: FileId[] = [];
    for (let i = 0; i < 20; i += 1) {
      const id = newFileId();
      await create(alice, body(alice, id, root, 1, none, null));
      secrets.push(id);
    }
    for (const id of secrets) {
      await expectKindAsync(
        'not-exist',
        client.call('GET', routes.entry.replace(':id', id), undefined, bob),
      );
    }
    const got = await alerts(alice);
    expect(got).toHaveLength(1);
    expect(got[0]).toMatchObject({ rule: 'permission-probing', count: 20 });
    expect(got[0]?.summary).toContain(bob.user);
    expect(await alerts(bob)).toEqual([]);
  }, 60_000);

  it('alerts the account once for repeated real wrong-password logins, and throttles', async () => {
    const alice = await user();
    let throttled = 0;
    for (let i = 0; i < 8; i += 1) {
      try {
        await client.login(alice.user, `wrong password number ${i} for sure`);
      } catch (err) {
        if ((err as { kind?: string }).kind === 'throttled') throttled += 1;
      }
    }
    expect(throttled).toBeGreaterThan(0);
    // The directory's maintenance records the unfinished logins as their states expire.
    await dir.running.store.pruneExpired(Date.now() + 10 * 60_000, unfinishedLogins(Date.now()));
    const got = await alerts(alice);
    expect(got).toHaveLength(1);
    expect(got[0]).toMatchObject({ rule: 'password-guessing', audience: alice.user });
    expect(got[0]?.count).toBeGreaterThanOrEqual(4);
  }, 60_000);

  it('alerts the user when a session of theirs is used after it was ended', async () => {
    const alice = await user();
    const stolen = await client.login(alice.user, goodPassword(alice.user));
    // Alice ends the device's session; whoever holds it keeps trying.
    await client.call('POST', routes.logout, {}, stolen);
    for (let i = 0; i < 6; i += 1) {
      await expectKindAsync('revoked', client.call('GET', routes.trash, undefined, stolen));
    }
    const fresh = await client.login(alice.user, goodPassword(alice.user));
    const got = await alerts(fresh);
    expect(got).toHaveLength(1);
    expect(got[0]).toMatchObject({ rule: 'session-misuse', severity: 'critical', count: 6 });
    expect(got[0]?.action).toMatch(/revocate/);
  }, 60_000);

  it('raises nothing for an ordinary session', async () => {
    const alice = await user();
    const bob = await user();
    const root = newFileId();
    await create(alice, body(alice, root, null, 1, none, null));
    const docs: { id: FileId; envelope: Uint8Array }[] = [];
    for (let i = 0; i < 5; i += 1) {
      const id = newFileId();
      docs.push({ id, envelope: await create(alice, body(alice, id, root, 1, none, null)) });
    }
    const shared = docs[0]!;
    shared.envelope = await update(
      alice,
      body(alice, shared.id, root, 2, { r: [bob.user], w: [] }, shared.envelope),
    );
    await client.call('GET', routes.entry.replace(':id', shared.id), undefined, bob);
    for (const doc of docs.slice(1, 4)) {
      const deleted = { at: Date.now(), by: alice.user };
      doc.envelope = await update(alice, body(alice, doc.id, root, 2, none, doc.envelope, deleted));
    }
    const back = docs[1]!;
    await update(alice, body(alice, back.id, root, 3, none, back.envelope));
    await client.call('DELETE', routes.trashEntry.replace(':id', docs[2]!.id), undefined, alice);
    for (let i = 0; i < 3; i += 1) {
      const again = await client.login(alice.user, goodPassword(alice.user));
      await client.logout(again);
    }
    await expectKindAsync('permission', client.login(alice.user, 'one mistyped password here'));
    await dir.running.store.pruneExpired(Date.now() + 10 * 60_000, unfinishedLogins(Date.now()));
    // (Logging out ended alice's sessions; she reads her alerts in a new one.)
    expect(await alerts(await client.login(alice.user, goodPassword(alice.user)))).toEqual([]);
    expect(await alerts(bob)).toEqual([]);
  }, 60_000);
});

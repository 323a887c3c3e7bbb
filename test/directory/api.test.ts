/**
 * The directory over real HTTPS, on both engines, from the attacker's side: impersonation,
 * replay, forged and stale entries, probing other users' trees, writers reaching for the access
 * list (certificates, wrapped keys), what is listed as shared, weak passwords, invites.
 */
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DirectoryClient, DirectorySession } from '../../src/client/directory-client.js';
import { SigningKeyPair } from '../../src/crypto/keys.js';
import { encryptName, lookupTag } from '../../src/crypto/names.js';
import { newFileId, newSymmetricKey } from '../../src/crypto/random.js';
import { inviteHash } from '../../src/directory/routes/accounts.js';
import type { FileId } from '../../src/interface/ids.js';
import { parseEntryName, parseUserName, type UserName } from '../../src/interface/names.js';
import { toBase64url } from '../../src/wire/base64.js';
import { type DirEntryBody, signDirEntry } from '../../src/wire/dir-entry.js';
import {
  type EntryVersionResponse,
  routes,
  type SharedEntriesResponse,
} from '../../src/wire/directory-api.js';
import { signEntryAcl } from '../../src/wire/entry-acl.js';
import { chainHash } from '../../src/wire/key-log.js';
import { openPeerList, signPeerRecord } from '../../src/wire/peer-record.js';
import { createPinnedAgent } from '../../src/wire/pinned-tls.js';
import { authHeader, signRequest } from '../../src/wire/request-auth.js';
import {
  engines,
  goodPassword,
  startTestDirectory,
  type TestDirectory,
} from '../helpers/directory.js';
import { expectKindAsync } from '../helpers/expect-error.js';

const zero = new Uint8Array(32);
/** A user no test registers: ACLs may name anyone, the directory does not look them up. */
const outsider = parseUserName('zed');

interface Acl {
  r: readonly UserName[];
  w: readonly UserName[];
}
const noAcl: Acl = { r: [], w: [] };

/** Wrapped keys for the owner and every user of `acl` (opaque to the directory). */
function keysFor(owner: UserName, acl: Acl): Record<string, Uint8Array> {
  return Object.fromEntries([owner, ...acl.r, ...acl.w].map((u) => [u, Uint8Array.of(1, 2, 3)]));
}

/** `owner`'s certificate of `acl` for `entry`. */
function certFor(owner: DirectorySession, entry: FileId, acl: Acl, version = 1): Uint8Array {
  return signEntryAcl(owner.identity.signing, { entry, owner: owner.user, version, ...acl });
}

/**
 * A version 1 body owned by `owner`: by default a root, with the owner's certificate of its ACL
 * (given in `fields.acl`, or none) and wrapped keys for exactly the owner and the ACL's users.
 */
function entryBody(
  owner: DirectorySession,
  fields: Partial<DirEntryBody> & { id: FileId },
): DirEntryBody {
  const acl = fields.acl ?? noAcl;
  return {
    parent: null,
    owner: owner.user,
    version: 1,
    kind: 'dir',
    tag: zero,
    name: new Uint8Array(0),
    label: fields.parent ? Uint8Array.of(7, 7) : new Uint8Array(0),
    meta: new Uint8Array(0),
    keys: keysFor(owner.user, acl),
    acl,
    aclCert: certFor(owner, fields.id, acl),
    deleted: null,
    prev: zero,
    time: Date.now(),
    ...fields,
  };
}

/** Sends a request by hand (no client logic) through a pinned agent; returns status and JSON. */
async function rawCall(
  dir: TestDirectory,
  method: 'GET' | 'POST',
  path: string,
  auth?: string,
  body?: string,
): Promise<{ status: number; body: { kind?: string } }> {
  const agent = createPinnedAgent({ fingerprint: dir.endpoint.fingerprint });
  try {
    const response = await request(dir.endpoint.url + path, {
      method,
      headers: {
        ...(auth ? { [authHeader]: auth } : {}),
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      body: body ?? null,
      dispatcher: agent,
    });
    return { status: response.statusCode, body: (await response.body.json()) as { kind?: string } };
  } finally {
    await agent.close();
  }
}

describe.each(engines)('directory API on %s', (engine) => {
  let dir: TestDirectory;
  let client: DirectoryClient;
  let alice: DirectorySession;
  let bob: DirectorySession;
  let carol: DirectorySession;
  let aliceRoot: FileId;
  const nameKey = newSymmetricKey();

  beforeAll(async () => {
    dir = await startTestDirectory(engine);
    client = await dir.client();
    for (const user of ['alice', 'bob', 'carol']) await client.register(user, goodPassword(user));
    alice = await client.login('alice', goodPassword('alice'));
    bob = await client.login('bob', goodPassword('bob'));
    carol = await client.login('carol', goodPassword('carol'));
    aliceRoot = newFileId();
    const root = signDirEntry(alice.identity.signing, entryBody(alice, { id: aliceRoot }));
    await client.call('POST', routes.entries, { envelope: toBase64url(root) }, alice);
  }, 60_000);
  afterAll(async () => dir?.stop());

  const put = (
    id: FileId,
    envelope: Uint8Array,
    expectedVersion: number,
    session: DirectorySession,
  ) =>
    client.call(
      'PUT',
      routes.entry.replace(':id', id),
      { envelope: toBase64url(envelope), expectedVersion },
      session,
    );

  /** Creates an entry of alice's, signed by `session`; `fields` override the body. */
  const createFile = async (
    session: DirectorySession,
    name: string,
    acl: Acl = noAcl,
    fields: Partial<DirEntryBody> = {},
  ) => {
    const id = newFileId();
    const entry = entryBody(alice, {
      id,
      parent: aliceRoot,
      kind: 'file',
      tag: lookupTag(nameKey, parseEntryName(name)),
      name: encryptName(nameKey, id, parseEntryName(name)),
      acl,
      ...fields,
    });
    const envelope = signDirEntry(session.identity.signing, entry);
    await client.call('POST', routes.entries, { envelope: toBase64url(envelope) }, session);
    return { id, entry, envelope };
  };

  const nextVersion = (
    prev: { entry: DirEntryBody; envelope: Uint8Array },
    changes: Partial<DirEntryBody> = {},
  ): DirEntryBody => ({
    ...prev.entry,
    version: prev.entry.version + 1,
    prev: chainHash(prev.envelope),
    time: Date.now(),
    ...changes,
  });

  describe('accounts', () => {
    it('logs in with the keys made at registration, and publishes a key log that verifies', async () => {
      const log = await client.keyLog('alice');
      expect(Buffer.compare(log.identity.signingKey, alice.identity.signing.publicKey)).toBe(0);
      expect(log.seq).toBe(0);
    });

    it('refuses a weak password at signup, before anything is sent', async () => {
      await expectKindAsync('invalid', client.register('dave', 'password123'));
      await expectKindAsync('not-exist', client.keyLog('dave'));
    });

    it('refuses a taken name', async () => {
      await expectKindAsync('exist', client.register('alice', goodPassword('alice2')));
    });

    it('answers a wrong password and an unknown name the same way', async () => {
      const wrong = await expectKindAsync(
        'permission',
        client.login('alice', goodPassword('mallory')),
      );
      const unknown = await expectKindAsync(
        'permission',
        client.login('nobody', goodPassword('nobody')),
      );
      expect(unknown.message).toBe(wrong.message);
    });

    it('gives unknown and known names login answers of the same shape and size', async () => {
      const opaque = await import('@serenity-kit/opaque');
      await opaque.ready;
      const { startLoginRequest } = opaque.client.startLogin({ password: 'whatever it is' });
      const known = await client.call<{ loginId: string; response: string }>(
        'POST',
        routes.loginStart,
        { user: 'carol', request: startLoginRequest },
      );
      const unknown = await client.call<{ loginId: string; response: string }>(
        'POST',
        routes.loginStart,
        { user: 'zoe', request: startLoginRequest },
      );
      expect(Object.keys(unknown).sort()).toEqual(Object.keys(known).sort());
      expect(unknown.response.length).toBe(known.response.length);
      expect(unknown.loginId.length).toBe(known.loginId.length);
    });

    it('changes the password: keys survive, the old password and old sessions stop working', async () => {
      await client.register('erin', goodPassword('erin'));
      const first = await client.login('erin', goodPassword('erin'));
      await client.changePassword(first, goodPassword('erin-new'));
      await expectKindAsync('revoked', client.call('GET', routes.trash, undefined, first));
      await expectKindAsync('permission', client.login('erin', goodPassword('erin')));
      const again = await client.login('erin', goodPassword('erin-new'));
      expect(
        Buffer.compare(again.identity.signing.publicKey, first.identity.signing.publicKey),
      ).toBe(0);
    });

    it('refuses a weak password at change too', async () => {
      await expectKindAsync('invalid', client.changePassword(alice, 'qwerty12345'));
    });
  });

  describe('signed requests', () => {
    const empty = new Uint8Array(0);

    it('refuses a replayed request', async () => {
      const header = signRequest(alice.deviceKey, {
        session: alice.id,
        method: 'GET',
        path: routes.trash,
        body: empty,
        time: Date.now(),
      });
      expect((await rawCall(dir, 'GET', routes.trash, header)).status).toBe(200);
      const replay = await rawCall(dir, 'GET', routes.trash, header);
      expect(replay.status).toBe(403);
      expect(replay.body.kind).toBe('permission');
    });

    it("refuses a request for alice's session signed by bob's device key", async () => {
      const forged = signRequest(bob.deviceKey, {
        session: alice.id,
        method: 'GET',
        path: routes.trash,
        body: empty,
        time: Date.now(),
      });
      expect((await rawCall(dir, 'GET', routes.trash, forged)).body.kind).toBe('permission');
    });

    it('refuses a signature over another path, a stale time and a missing signature', async () => {
      const otherPath = signRequest(alice.deviceKey, {
        session: alice.id,
        method: 'GET',
        path: '/v1/peers',
        body: empty,
        time: Date.now(),
      });
      expect((await rawCall(dir, 'GET', routes.trash, otherPath)).body.kind).toBe('permission');
      const stale = signRequest(alice.deviceKey, {
        session: alice.id,
        method: 'GET',
        path: routes.trash,
        body: empty,
        time: Date.now() - 10 * 60_000,
      });
      expect((await rawCall(dir, 'GET', routes.trash, stale)).body.kind).toBe('permission');
      expect((await rawCall(dir, 'GET', routes.trash)).body.kind).toBe('permission');
    });

    it('ends every session at logout', async () => {
      const session = await client.login('carol', goodPassword('carol'));
      await client.logout(session);
      await expectKindAsync('revoked', client.call('GET', routes.trash, undefined, session));
      carol = await client.login('carol', goodPassword('carol'));
    });

    it('answers malformed JSON and unknown fields with invalid, and never a stack trace', async () => {
      const bad = await rawCall(
        dir,
        'POST',
        routes.loginStart,
        undefined,
        '{"user": "alice", "request": ',
      );
      expect(bad.status).toBe(400);
      expect(bad.body.kind).toBe('invalid');
      const extra = await rawCall(
        dir,
        'POST',
        routes.loginStart,
        undefined,
        JSON.stringify({ user: 'alice', request: 'AA', admin: true }),
      );
      expect(extra.body.kind).toBe('invalid');
      expect(JSON.stringify(extra.body)).not.toMatch(/\bat .*\.(ts|js):\d+/);
    });
  });

  describe('namespace', () => {
    it('creates, looks up and lists entries', async () => {
      const file = await createFile(alice, 'plans.txt');
      const tag = toBase64url(lookupTag(nameKey, parseEntryName('plans.txt')));
      const found = await client.call<{ envelope: string }>(
        'GET',
        `${routes.lookup}?parent=${aliceRoot}&tag=${tag}`,
        undefined,
        alice,
      );
      expect(found.envelope).toBe(toBase64url(file.envelope));
      const { entries } = await client.call<{ entries: { envelope: string }[] }>(
        'GET',
        routes.children.replace(':id', aliceRoot),
        undefined,
        alice,
      );
      expect(entries.map((e) => e.envelope)).toContain(toBase64url(file.envelope));
    });

    it('refuses a duplicate name in one directory', async () => {
      await createFile(alice, 'dup.txt');
      await expectKindAsync('exist', createFile(alice, 'dup.txt'));
    });

    it('updates with compare-and-swap: a stale version is a conflict, never a lost update', async () => {
      const file = await createFile(alice, 'cas.txt');
      await put(
        file.id,
        signDirEntry(alice.identity.signing, nextVersion(file, { meta: Uint8Array.of(2) })),
        1,
        alice,
      );
      const stale = signDirEntry(
        alice.identity.signing,
        nextVersion(file, { meta: Uint8Array.of(9) }),
      );
      await expectKindAsync('conflict', put(file.id, stale, 1, alice));
      const got = await client.call<{ version: number }>(
        'GET',
        routes.entry.replace(':id', file.id),
        undefined,
        alice,
      );
      expect(got.version).toBe(2);
    });

    it('lets exactly one of two concurrent writers win', async () => {
      const file = await createFile(alice, 'race.txt');
      const attempts = [1, 2].map((n) =>
        put(
          file.id,
          signDirEntry(alice.identity.signing, nextVersion(file, { meta: Uint8Array.of(n) })),
          1,
          alice,
        ),
      );
      const results = await Promise.allSettled(attempts);
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      const failed = results.find((r) => r.status === 'rejected');
      expect((failed?.reason as { kind?: string }).kind).toBe('conflict');
    });

    it('refuses an entry signed by someone other than the caller (bob signs, alice sends)', async () => {
      const forged = signDirEntry(
        bob.identity.signing,
        entryBody(alice, {
          id: newFileId(),
          parent: aliceRoot,
          kind: 'file',
          tag: lookupTag(nameKey, parseEntryName('forged')),
        }),
      );
      await expectKindAsync(
        'integrity',
        client.call('POST', routes.entries, { envelope: toBase64url(forged) }, alice),
      );
    });

    it('refuses an entry whose signature does not verify', async () => {
      const envelope = signDirEntry(
        alice.identity.signing,
        entryBody(alice, {
          id: newFileId(),
          parent: aliceRoot,
          kind: 'file',
          tag: lookupTag(nameKey, parseEntryName('flipped')),
        }),
      );
      envelope[envelope.length - 5]! ^= 1;
      await expectKindAsync(
        'integrity',
        client.call('POST', routes.entries, { envelope: toBase64url(envelope) }, alice),
      );
    });

    it("hides alice's entries from bob, and refuses him a write in her directory", async () => {
      const file = await createFile(alice, 'private.txt');
      await expectKindAsync(
        'not-exist',
        client.call('GET', routes.entry.replace(':id', file.id), undefined, bob),
      );
      await expectKindAsync(
        'not-exist',
        client.call('GET', routes.children.replace(':id', aliceRoot), undefined, bob),
      );
      const intrusion = signDirEntry(
        bob.identity.signing,
        entryBody(alice, {
          id: newFileId(),
          parent: aliceRoot,
          kind: 'file',
          tag: lookupTag(nameKey, parseEntryName('intrusion')),
        }),
      );
      await expectKindAsync(
        'not-exist',
        client.call('POST', routes.entries, { envelope: toBase64url(intrusion) }, bob),
      );
    });

    it('lets a reader read but not write, and a writer write but not change the ACL', async () => {
      const file = await createFile(alice, 'team5.txt', { r: [bob.user], w: [carol.user] });
      await client.call('GET', routes.entry.replace(':id', file.id), undefined, bob);
      await expectKindAsync(
        'permission',
        put(
          file.id,
          signDirEntry(bob.identity.signing, nextVersion(file, { meta: Uint8Array.of(1) })),
          1,
          bob,
        ),
      );
      const carolWrite = nextVersion(file, { meta: Uint8Array.of(7) });
      const carolEnvelope = signDirEntry(carol.identity.signing, carolWrite);
      await put(file.id, carolEnvelope, 1, carol);
      const after = { entry: carolWrite, envelope: carolEnvelope };
      const grown = { r: [] as UserName[], w: [carol.user, bob.user] };
      // The ACL field changed under alice's certificate: the entry no longer matches it.
      await expectKindAsync(
        'integrity',
        put(
          file.id,
          signDirEntry(carol.identity.signing, nextVersion(after, { acl: grown })),
          2,
          carol,
        ),
      );
      // With a certificate carol signed herself, as if she owned the file.
      const forgedCert = signEntryAcl(carol.identity.signing, {
        entry: file.id,
        owner: alice.user,
        version: 3,
        ...grown,
      });
      await expectKindAsync(
        'permission',
        put(
          file.id,
          signDirEntry(
            carol.identity.signing,
            nextVersion(after, { acl: grown, aclCert: forgedCert }),
          ),
          2,
          carol,
        ),
      );
    });

    it('moves a deleted entry to the trash; only the owner restores it', async () => {
      const file = await createFile(alice, 'doomed.txt', { r: [], w: [carol.user] });
      const tomb = nextVersion(file, { deleted: { at: Date.now(), by: carol.user } });
      const tombEnvelope = signDirEntry(carol.identity.signing, tomb);
      await put(file.id, tombEnvelope, 1, carol);
      const { entries } = await client.call<{ entries: { id: string }[] }>(
        'GET',
        routes.trash,
        undefined,
        alice,
      );
      expect(entries.map((e) => e.id)).toContain(file.id);
      const restore = nextVersion({ entry: tomb, envelope: tombEnvelope }, { deleted: null });
      await expectKindAsync(
        'permission',
        put(file.id, signDirEntry(carol.identity.signing, restore), 2, carol),
      );
      await put(file.id, signDirEntry(alice.identity.signing, restore), 2, alice);
      const versions = await client.call<{ versions: unknown[] }>(
        'GET',
        routes.versions.replace(':id', file.id),
        undefined,
        alice,
      );
      expect(versions.versions).toHaveLength(3);
    });
  });

  describe('access certificates', () => {
    const sign = (session: DirectorySession, body: DirEntryBody) =>
      signDirEntry(session.identity.signing, body);
    const getVersion = async (id: FileId, session: DirectorySession) =>
      (
        await client.call<{ version: number }>(
          'GET',
          routes.entry.replace(':id', id),
          undefined,
          session,
        )
      ).version;

    it('refuses a writer who changes the certificate or the key holders; the owner may change both', async () => {
      const team = { r: [bob.user], w: [carol.user] };
      const file = await createFile(alice, 'cert-swap.txt', team);
      const wider = { r: [] as UserName[], w: [carol.user, bob.user] };
      // A certificate alice really signed for this file, but never put on it.
      const unsent = certFor(alice, file.id, wider, 2);
      const swapped = nextVersion(file, {
        acl: wider,
        aclCert: unsent,
        keys: keysFor(alice.user, wider),
      });
      await expectKindAsync('permission', put(file.id, sign(carol, swapped), 1, carol));
      // Dropping a grantee's wrapped key, or adding one for someone else.
      const withoutBob = Object.fromEntries(
        Object.entries(file.entry.keys).filter(([user]) => user !== bob.user),
      );
      await expectKindAsync(
        'permission',
        put(file.id, sign(carol, nextVersion(file, { keys: withoutBob })), 1, carol),
      );
      const withOutsider = { ...file.entry.keys, [outsider]: Uint8Array.of(4) };
      await expectKindAsync(
        'permission',
        put(file.id, sign(carol, nextVersion(file, { keys: withOutsider })), 1, carol),
      );
      expect(await getVersion(file.id, alice)).toBe(1);

      // The owner too wraps the key for exactly the owner, the readers and the writers.
      await expectKindAsync(
        'invalid',
        put(file.id, sign(alice, nextVersion(file, { keys: withoutBob })), 1, alice),
      );
      // The owner widens the ACL with that certificate; carol writes under it, unchanged.
      const v2 = { entry: swapped, envelope: sign(alice, swapped) };
      await put(file.id, v2.envelope, 1, alice);
      const v3entry = nextVersion(v2, { meta: Uint8Array.of(3) });
      const v3 = { entry: v3entry, envelope: sign(carol, v3entry) };
      await put(file.id, v3.envelope, 2, carol);
      // The owner makes carol a reader; the certificate that still named her a writer no
      // longer lets her write.
      const narrow = { r: [bob.user, carol.user], w: [] as UserName[] };
      const v4entry = nextVersion(v3, {
        acl: narrow,
        aclCert: certFor(alice, file.id, narrow, 4),
        keys: keysFor(alice.user, narrow),
      });
      const v4 = { entry: v4entry, envelope: sign(alice, v4entry) };
      await put(file.id, v4.envelope, 3, alice);
      const replay = nextVersion(v4, {
        acl: wider,
        aclCert: unsent,
        keys: keysFor(alice.user, wider),
      });
      await expectKindAsync('permission', put(file.id, sign(carol, replay), 4, carol));
      expect(await getVersion(file.id, alice)).toBe(4);
    });

    it("makes a writer's new entry carry its folder's current certificate", async () => {
      const team = { r: [bob.user], w: [carol.user] };
      const folder = await createFile(alice, 'team-folder', team, { kind: 'dir' });
      let n = 0;
      const child = (fields: Partial<DirEntryBody> = {}): DirEntryBody => {
        const id = newFileId();
        const name = parseEntryName(`child-${(n += 1)}.txt`);
        return entryBody(alice, {
          id,
          parent: folder.id,
          kind: 'file',
          tag: lookupTag(nameKey, name),
          name: encryptName(nameKey, id, name),
          acl: team,
          aclCert: folder.entry.aclCert,
          ...fields,
        });
      };
      const create = (session: DirectorySession, body: DirEntryBody) =>
        client.call(
          'POST',
          routes.entries,
          { envelope: toBase64url(sign(session, body)) },
          session,
        );

      await create(carol, child());
      // A certificate the owner signed for the new entry itself is still not carol's to choose.
      const own = child();
      await expectKindAsync(
        'permission',
        create(carol, { ...own, aclCert: certFor(alice, own.id, team) }),
      );
      // Nor another folder's certificate that names her a writer.
      const other = await createFile(alice, 'other-folder', team, { kind: 'dir' });
      await expectKindAsync('permission', create(carol, child({ aclCert: other.entry.aclCert })));
      // Nor one she signed herself.
      const forged = child();
      const forgedCert = signEntryAcl(carol.identity.signing, {
        entry: forged.id,
        owner: alice.user,
        version: 1,
        ...team,
      });
      await expectKindAsync('permission', create(carol, { ...forged, aclCert: forgedCert }));
      // The folder's certificate with an ACL field that says more than it does.
      const more = { r: [bob.user, outsider], w: [carol.user] };
      await expectKindAsync(
        'integrity',
        create(carol, child({ acl: more, keys: keysFor(alice.user, more) })),
      );
      // Keys wrapped for the owner and the writer only.
      await expectKindAsync(
        'invalid',
        create(carol, child({ keys: keysFor(alice.user, { r: [], w: [carol.user] }) })),
      );

      // The owner may inherit the folder's certificate, but not any other entry's.
      await create(alice, child());
      const stray = certFor(alice, other.id, team);
      await expectKindAsync('integrity', create(alice, child({ aclCert: stray })));

      // Once the owner re-issues the folder's certificate, the old one is not inherited.
      const wider = { r: [bob.user], w: [carol.user, outsider] };
      const v2 = nextVersion(folder, {
        acl: wider,
        aclCert: certFor(alice, folder.id, wider, 2),
        keys: keysFor(alice.user, wider),
      });
      await put(folder.id, sign(alice, v2), 1, alice);
      await expectKindAsync('permission', create(carol, child()));
      await expectKindAsync('integrity', create(alice, child()));
      await create(carol, child({ acl: wider, aclCert: v2.aclCert, keys: v2.keys }));
    });

    it('refuses a certificate the owner did not sign, or that was tampered with', async () => {
      const id = newFileId();
      const body = entryBody(alice, {
        id,
        parent: aliceRoot,
        kind: 'file',
        tag: lookupTag(nameKey, parseEntryName('not-hers.txt')),
        acl: { r: [bob.user], w: [] },
      });
      const byBob = signEntryAcl(bob.identity.signing, {
        entry: id,
        owner: alice.user,
        version: 1,
        r: [bob.user],
        w: [],
      });
      const tampered = Uint8Array.from(body.aclCert);
      tampered[tampered.length - 3]! ^= 1;
      for (const aclCert of [byBob, tampered, new Uint8Array(0)]) {
        await expectKindAsync(
          'integrity',
          client.call(
            'POST',
            routes.entries,
            { envelope: toBase64url(sign(alice, { ...body, aclCert })) },
            alice,
          ),
        );
      }
      await expectKindAsync(
        'not-exist',
        client.call('GET', routes.entry.replace(':id', id), undefined, alice),
      );
    });

    it('answers one stored version to whoever may read the entry now, and not-exist to others', async () => {
      const file = await createFile(alice, 'versioned.txt', { r: [bob.user], w: [] });
      const one = (version: number | string, session: DirectorySession) =>
        client.call<EntryVersionResponse>(
          'GET',
          routes.entryVersion.replace(':id', file.id).replace(':version', String(version)),
          undefined,
          session,
        );
      expect(await one(1, bob)).toMatchObject({
        version: 1,
        envelope: toBase64url(file.envelope),
        writer: alice.user,
      });
      await expectKindAsync('not-exist', one(1, carol));
      // Bob is removed: he may no longer read any version, the ones he once read included.
      const v2 = nextVersion(file, {
        acl: noAcl,
        aclCert: certFor(alice, file.id, noAcl, 2),
        keys: keysFor(alice.user, noAcl),
      });
      const v2envelope = sign(alice, v2);
      await put(file.id, v2envelope, 1, alice);
      await expectKindAsync('not-exist', one(1, bob));
      await expectKindAsync('not-exist', one(2, bob));
      expect((await one(1, alice)).envelope).toBe(toBase64url(file.envelope));
      expect((await one(2, alice)).envelope).toBe(toBase64url(v2envelope));
      await expectKindAsync('not-exist', one(3, alice));
      await expectKindAsync('invalid', one(0, alice));
      await expectKindAsync('invalid', one('01', alice));
      await expectKindAsync('invalid', one('latest', alice));
    });
  });

  describe('shared with me', () => {
    let sam: DirectorySession;
    let tess: DirectorySession;
    let uma: DirectorySession;

    beforeAll(async () => {
      for (const user of ['sam', 'tess', 'uma']) await client.register(user, goodPassword(user));
      sam = await client.login('sam', goodPassword('sam'));
      tess = await client.login('tess', goodPassword('tess'));
      uma = await client.login('uma', goodPassword('uma'));
    }, 60_000);

    interface Made {
      id: FileId;
      entry: DirEntryBody;
      envelope: Uint8Array;
    }
    let made = 0;
    /** Creates an entry of `owner`'s under `parent`, signed by the owner. */
    const make = async (
      owner: DirectorySession,
      parent: FileId | null,
      acl: Acl = noAcl,
      fields: Partial<DirEntryBody> = {},
    ): Promise<Made> => {
      const id = newFileId();
      const name = parseEntryName(`shared-${(made += 1)}`);
      const entry = entryBody(owner, {
        id,
        parent,
        kind: parent === null ? 'dir' : 'file',
        ...(parent === null ? {} : { tag: lookupTag(nameKey, name) }),
        acl,
        ...fields,
      });
      const envelope = signDirEntry(owner.identity.signing, entry);
      await client.call('POST', routes.entries, { envelope: toBase64url(envelope) }, owner);
      return { id, entry, envelope };
    };
    const remove = async (owner: DirectorySession, what: Made) => {
      const tomb = nextVersion(what, { deleted: { at: Date.now(), by: owner.user } });
      await put(what.id, signDirEntry(owner.identity.signing, tomb), 1, owner);
    };
    const shared = async (session: DirectorySession) =>
      (await client.call<SharedEntriesResponse>('GET', routes.shared, undefined, session)).entries;

    it('lists the live entries others shared with the caller, by owner then id, with where each tree starts', async () => {
      const toTess = { r: [tess.user], w: [] as UserName[] };
      const samRoot = await make(sam, null);
      const folder = await make(sam, samRoot.id, toTess, { kind: 'dir' });
      const inFolder = await make(sam, folder.id, toTess, { aclCert: folder.entry.aclCert });
      const writable = await make(sam, samRoot.id, { r: [], w: [tess.user] });
      const gone = await make(sam, samRoot.id, toTess);
      await remove(sam, gone);
      const toUma = await make(sam, samRoot.id, { r: [uma.user], w: [] });
      const umaFolder = await make(sam, samRoot.id, { r: [uma.user], w: [] }, { kind: 'dir' });
      const deep = await make(sam, umaFolder.id, toTess);
      const trashedFolder = await make(sam, samRoot.id, toTess, { kind: 'dir' });
      const orphan = await make(sam, trashedFolder.id, toTess, {
        aclCert: trashedFolder.entry.aclCert,
      });
      await remove(sam, trashedFolder);
      const umaRoot = await make(uma, null);
      const fromUma = await make(uma, umaRoot.id, toTess);
      const tessRoot = await make(tess, null);
      const tessOwn = await make(tess, tessRoot.id, { r: [sam.user], w: [] });

      const byId = (a: { id: string }, b: { id: string }) =>
        a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
      const expected = [
        ...[
          { made: folder, top: true },
          { made: inFolder, top: false },
          { made: writable, top: true },
          { made: deep, top: true },
          // Its folder is in the trash: nothing live leads to it.
          { made: orphan, top: true },
        ]
          .map(({ made: m, top }) => ({ id: m.id, top, envelope: toBase64url(m.envelope) }))
          .sort(byId),
        { id: fromUma.id, top: true, envelope: toBase64url(fromUma.envelope) },
      ];
      const listed = await shared(tess);
      expect(listed.map(({ id, top, envelope }) => ({ id, top, envelope }))).toEqual(expected);
      expect(listed.every((e) => e.version === 1 && e.deletedAt === null)).toBe(true);

      // Sam sees only what tess shared with him; a user nobody shared with sees nothing.
      expect((await shared(sam)).map(({ id, top }) => ({ id, top }))).toEqual([
        { id: tessOwn.id, top: true },
      ]);
      expect(await shared(alice)).toEqual([]);
      expect((await shared(uma)).map(({ id, top }) => ({ id, top }))).toEqual(
        [toUma, umaFolder].map(({ id }) => ({ id, top: true })).sort(byId),
      );

      // A grant withdrawn is gone from the list.
      const revoked = nextVersion(writable, {
        acl: noAcl,
        aclCert: certFor(sam, writable.id, noAcl, 2),
        keys: keysFor(sam.user, noAcl),
      });
      await put(writable.id, signDirEntry(sam.identity.signing, revoked), 1, sam);
      expect((await shared(tess)).map((e) => e.id)).not.toContain(writable.id);
    });
  });

  describe('peer registry', () => {
    it('lists a peer that heartbeats, in a list signed by the pinned directory key', async () => {
      const peer = SigningKeyPair.generate();
      const record = signPeerRecord(peer, {
        address: '127.0.0.1:7501',
        capacity: 1e9,
        time: Date.now(),
      });
      await client.call('POST', routes.heartbeat, { record: toBase64url(record) });
      const { peers } = await client.peers();
      expect(peers.map((p) => toBase64url(p.key))).toContain(toBase64url(peer.publicKey));
    });

    it('refuses a replayed heartbeat, and its list does not verify under another key', async () => {
      const peer = SigningKeyPair.generate();
      const record = toBase64url(
        signPeerRecord(peer, { address: '127.0.0.1:7502', capacity: 1, time: Date.now() }),
      );
      await client.call('POST', routes.heartbeat, { record });
      await expectKindAsync('conflict', client.call('POST', routes.heartbeat, { record }));
      const { list } = await client.call<{ list: string }>('GET', routes.peers);
      expect(() =>
        openPeerList(Buffer.from(list, 'base64url'), SigningKeyPair.generate().publicKey),
      ).toThrow();
    });
  });

  describe('invites', () => {
    it('registers by invitation only when told to; an invite works once', async () => {
      const closed = await startTestDirectory(engine, { registration: 'invite' });
      try {
        const c = await closed.client();
        await expectKindAsync('permission', c.register('frank', goodPassword('frank')));
        const code = 'test-invite-code-123';
        await closed.running.store.createInvite({
          codeHash: inviteHash(code),
          createdAt: Date.now(),
          expiresAt: Date.now() + 60_000,
          usedBy: null,
        });
        await expectKindAsync(
          'invalid',
          c.register('frank', goodPassword('frank'), { invite: 'not-a-real-code' }),
        );
        await c.register('frank', goodPassword('frank'), { invite: code });
        await expectKindAsync(
          'invalid',
          c.register('gina', goodPassword('gina'), { invite: code }),
        );
      } finally {
        await closed.stop();
      }
    });
  });
});

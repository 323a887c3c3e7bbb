/**
 * The directory over real HTTPS, on both engines, from the attacker's side: impersonation,
 * replay, forged and stale entries, probing other users' trees, weak passwords, invites.
 */
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DirectoryClient, DirectorySession } from '../../src/client/directory-client.js';
import { SigningKeyPair } from '../../src/crypto/keys.js';
import { encryptName, lookupTag } from '../../src/crypto/names.js';
import { newFileId, newSymmetricKey } from '../../src/crypto/random.js';
import { inviteHash } from '../../src/directory/routes/accounts.js';
import type { FileId } from '../../src/interface/ids.js';
import { parseEntryName, type UserName } from '../../src/interface/names.js';
import { toBase64url } from '../../src/wire/base64.js';
import { type DirEntryBody, signDirEntry } from '../../src/wire/dir-entry.js';
import { routes } from '../../src/wire/directory-api.js';
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

function entryBody(owner: UserName, fields: Partial<DirEntryBody> & { id: FileId }): DirEntryBody {
  return {
    parent: null,
    owner,
    version: 1,
    kind: 'dir',
    tag: zero,
    name: new Uint8Array(0),
    meta: new Uint8Array(0),
    keys: {},
    acl: { r: [], w: [] },
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
    const root = signDirEntry(alice.identity.signing, entryBody(alice.user, { id: aliceRoot }));
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

  const createFile = async (
    session: DirectorySession,
    name: string,
    acl = { r: [] as UserName[], w: [] as UserName[] },
  ) => {
    const id = newFileId();
    const entry = entryBody(alice.user, {
      id,
      parent: aliceRoot,
      kind: 'file',
      tag: lookupTag(nameKey, parseEntryName(name)),
      name: encryptName(nameKey, id, parseEntryName(name)),
      acl,
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
        entryBody(alice.user, {
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
        entryBody(alice.user, {
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
        entryBody(alice.user, {
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
      const grab = nextVersion(
        { entry: carolWrite, envelope: carolEnvelope },
        { acl: { r: [bob.user], w: [carol.user, bob.user] } },
      );
      await expectKindAsync(
        'permission',
        put(file.id, signDirEntry(carol.identity.signing, grab), 2, carol),
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

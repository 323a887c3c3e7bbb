/**
 * Devices (the live sessions of an account) and key revocation at the directory, on both
 * engines: a user lists and ends their own sessions only; a revocation is one transaction that
 * ends every other session and seals the new keys for the next login, and it is refused unless
 * the old key signed it and the new one proved it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DirectoryClient } from '../../src/client/directory-client.js';
import { IdentityKeys } from '../../src/crypto/identity.js';
import { toBase64url } from '../../src/wire/base64.js';
import { routes, type SessionsResponse } from '../../src/wire/directory-api.js';
import { makeRevocation, makeRotation } from '../../src/wire/key-log.js';
import {
  engines,
  goodPassword,
  startTestDirectory,
  type TestDirectory,
} from '../helpers/directory.js';
import { expectKindAsync } from '../helpers/expect-error.js';

describe.each(engines)('devices and revocation on %s', (engine) => {
  let dir: TestDirectory;
  let client: DirectoryClient;

  beforeAll(async () => {
    dir = await startTestDirectory(engine);
    client = await dir.client();
    for (const user of ['alice', 'bob', 'carol']) await client.register(user, goodPassword(user));
  }, 60_000);
  afterAll(async () => dir?.stop());

  it('lists only your own live sessions, marks the asking one, and ends one of yours', async () => {
    const first = await client.login('alice', goodPassword('alice'));
    const second = await client.login('alice', goodPassword('alice'));
    const bob = await client.login('bob', goodPassword('bob'));
    const { sessions } = await client.call<SessionsResponse>(
      'GET',
      routes.sessions,
      undefined,
      first,
    );
    expect(sessions.map((s) => [s.id, s.current])).toEqual(
      expect.arrayContaining([
        [first.id, true],
        [second.id, false],
      ]),
    );
    expect(sessions.some((s) => s.id === bob.id)).toBe(false);
    // bob cannot end alice's session: to him it does not exist.
    await expectKindAsync(
      'not-exist',
      client.call('DELETE', routes.session.replace(':id', second.id), undefined, bob),
    );
    await client.call('DELETE', routes.session.replace(':id', second.id), undefined, first);
    await expectKindAsync('revoked', client.call('GET', routes.sessions, undefined, second));
    await expectKindAsync(
      'not-exist',
      client.call('DELETE', routes.session.replace(':id', second.id), undefined, first),
    );
  });

  it('revokes keys in one step: other sessions end, the next login unseals the new keys', async () => {
    const keeper = await client.login('carol', goodPassword('carol'));
    const other = await client.login('carol', goodPassword('carol'));
    const old = keeper.identity;
    await client.revokeKeys(keeper);
    expect(Buffer.compare(keeper.identity.signing.publicKey, old.signing.publicKey)).not.toBe(0);
    // The revoking session goes on; the other one has ended.
    await client.call('GET', routes.sessions, undefined, keeper);
    await expectKindAsync('revoked', client.call('GET', routes.sessions, undefined, other));
    const next = await client.login('carol', goodPassword('carol'));
    expect(Buffer.compare(next.identity.signing.publicKey, keeper.identity.signing.publicKey)).toBe(
      0,
    );
    expect(next.previous?.map((k) => toBase64url(k.signing.publicKey))).toEqual([
      toBase64url(old.signing.publicKey),
    ]);
    const log = await client.keyLog('carol', { fresh: true });
    expect(log.seq).toBe(1);
    expect(log.replaced?.[0]?.revoked).toBe(true);
  });

  it('refuses a revocation the new key did not prove, one by the old key after it was replaced, and a revocation on the plain append route', async () => {
    const bob = await client.login('bob', goodPassword('bob'));
    const state = await client.keyLog('bob', { fresh: true });
    const next = IdentityKeys.generate();
    const event = makeRevocation(state, bob.identity.signing, next, Date.now());
    // The plain append route takes rotations, never revocations (they must replace the keys).
    await expectKindAsync(
      'integrity',
      client.call('POST', routes.appendKey, { envelope: toBase64url(event) }, bob),
    );
    // A rotation dressed as a revocation on the revoke route: refused.
    const rotation = makeRotation(state, bob.identity.signing, next.public, Date.now());
    await expectKindAsync(
      'invalid',
      client.call(
        'POST',
        routes.revokeKeys,
        { envelope: toBase64url(rotation), sealedKeys: toBase64url(new Uint8Array(64)) },
        bob,
      ),
    );
    // A thief with the old key, after the real revocation, cannot revoke again from the old head.
    const stolen = bob.identity;
    await client.revokeKeys(bob);
    const thief = await client.login('bob', goodPassword('bob'));
    const replay = makeRevocation(state, stolen.signing, IdentityKeys.generate(), Date.now());
    await expectKindAsync(
      'integrity',
      client.call(
        'POST',
        routes.revokeKeys,
        { envelope: toBase64url(replay), sealedKeys: toBase64url(new Uint8Array(64)) },
        thief,
      ),
    );
  });
});

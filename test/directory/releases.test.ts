/**
 * The block-release log over real HTTPS, on both engines: users post releases signed by their
 * current key, registered peers read them back page by page, and everyone else is refused
 * (releases in another user's name, old or foreign keys, forged envelopes; readers without a
 * fresh record of a registered peer).
 */
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DirectoryClient, DirectorySession } from '../../src/client/directory-client.js';
import { IdentityKeys } from '../../src/crypto/identity.js';
import { SigningKeyPair } from '../../src/crypto/keys.js';
import { newFileId, randomBytesOf } from '../../src/crypto/random.js';
import { blockIdFromBytes, type BlockId } from '../../src/interface/ids.js';
import type { UserName } from '../../src/interface/names.js';
import { toBase64url } from '../../src/wire/base64.js';
import {
  type BlockRelease,
  maxReleaseBlocks,
  openBlockRelease,
  signBlockRelease,
} from '../../src/wire/block-release.js';
import { peerRecordHeader, type ReleasesResponse, routes } from '../../src/wire/directory-api.js';
import { makeRotation } from '../../src/wire/key-log.js';
import { signPeerRecord } from '../../src/wire/peer-record.js';
import { createPinnedAgent } from '../../src/wire/pinned-tls.js';
import {
  engines,
  goodPassword,
  startTestDirectory,
  type TestDirectory,
} from '../helpers/directory.js';
import { expectKindAsync, flipByte } from '../helpers/expect-error.js';

const blocks = (n: number): BlockId[] =>
  Array.from({ length: n }, () => blockIdFromBytes(randomBytesOf(32)));

function release(user: UserName, fields: Partial<BlockRelease> = {}): BlockRelease {
  return { user, file: newFileId(), blocks: blocks(3), time: Date.now(), ...fields };
}

/** A peer record for the reader header, signed now (or at `time`). */
function readerRecord(key: SigningKeyPair, time = Date.now()): string {
  return toBase64url(signPeerRecord(key, { address: '127.0.0.1:7600', capacity: 1e9, time }));
}

describe.each(engines)('block releases on %s', (engine) => {
  let dir: TestDirectory;
  let client: DirectoryClient;
  let alice: DirectorySession;
  let bob: DirectorySession;
  /** A registered peer, the log's reader. */
  const peer = SigningKeyPair.generate();

  beforeAll(async () => {
    dir = await startTestDirectory(engine);
    client = await dir.client();
    for (const user of ['alice', 'bob']) await client.register(user, goodPassword(user));
    alice = await client.login('alice', goodPassword('alice'));
    bob = await client.login('bob', goodPassword('bob'));
    await client.call('POST', routes.heartbeat, {
      record: toBase64url(
        signPeerRecord(peer, { address: '127.0.0.1:7600', capacity: 1e9, time: Date.now() }),
      ),
    });
  }, 60_000);
  afterAll(async () => dir?.stop());

  const post = (session: DirectorySession | undefined, envelope: Uint8Array | string) =>
    client.call<{ seq: number }>(
      'POST',
      routes.releases,
      { envelope: typeof envelope === 'string' ? envelope : toBase64url(envelope) },
      session,
    );

  /** GET /v1/releases by hand, with the given reader header (none when null). */
  async function read(
    query: string,
    header: string | null = readerRecord(peer),
  ): Promise<{ status: number; body: ReleasesResponse & { kind?: string } }> {
    const agent = createPinnedAgent({ fingerprint: dir.endpoint.fingerprint });
    try {
      const response = await request(`${dir.endpoint.url}${routes.releases}${query}`, {
        method: 'GET',
        headers: header === null ? {} : { [peerRecordHeader]: header },
        dispatcher: agent,
      });
      return {
        status: response.statusCode,
        body: (await response.body.json()) as ReleasesResponse & { kind?: string },
      };
    } finally {
      await agent.close();
    }
  }

  /** Every release after `after`, read page by page as a peer would. */
  async function readAll(after: number): Promise<ReleasesResponse['releases']> {
    const all: ReleasesResponse['releases'] = [];
    for (;;) {
      const { status, body } = await read(`?after=${after}&limit=512`);
      expect(status).toBe(200);
      all.push(...body.releases);
      if (body.releases.length === 0) return all;
      after = body.next;
    }
  }

  /** The seq of the newest release in the log (0 when empty). */
  async function tail(): Promise<number> {
    return (await readAll(0)).at(-1)?.seq ?? 0;
  }

  describe('posting', () => {
    it('stores a release signed by the user, which a registered peer reads back', async () => {
      const before = await tail();
      const claims = release(alice.user, { blocks: blocks(maxReleaseBlocks) });
      const envelope = signBlockRelease(alice.identity.signing, claims);
      const { seq } = await post(alice, envelope);
      expect(seq).toBeGreaterThan(before);

      const { status, body } = await read(`?after=${before}`);
      expect(status).toBe(200);
      expect(body).toEqual({ releases: [{ seq, envelope: toBase64url(envelope) }], next: seq });
      const stored = Buffer.from(body.releases[0]!.envelope, 'base64url');
      expect(openBlockRelease(stored, alice.identity.signing.publicKey)).toEqual(claims);
    });

    it("refuses a release in another user's name, even one that user signed", async () => {
      const before = await tail();
      await expectKindAsync(
        'permission',
        post(alice, signBlockRelease(alice.identity.signing, release(bob.user))),
      );
      await expectKindAsync(
        'permission',
        post(alice, signBlockRelease(bob.identity.signing, release(bob.user))),
      );
      expect(await readAll(before)).toEqual([]);
    });

    it("refuses a release not signed by the user's current key, and takes the new key after a rotation", async () => {
      await client.register('dave', goodPassword('dave'));
      const dave = await client.login('dave', goodPassword('dave'));
      const before = await tail();
      await expectKindAsync(
        'integrity',
        post(dave, signBlockRelease(SigningKeyPair.generate(), release(dave.user))),
      );

      const next = IdentityKeys.generate();
      const state = await client.keyLog('dave');
      const rotation = makeRotation(state, dave.identity.signing, next.public, Date.now());
      await client.call('POST', routes.appendKey, { envelope: toBase64url(rotation) }, dave);
      await expectKindAsync(
        'integrity',
        post(dave, signBlockRelease(dave.identity.signing, release(dave.user))),
      );
      expect(await readAll(before)).toEqual([]);

      const { seq } = await post(dave, signBlockRelease(next.signing, release(dave.user)));
      expect((await readAll(before)).map((r) => r.seq)).toEqual([seq]);
    });

    it('refuses malformed, tampered and foreign envelopes, and callers without a session', async () => {
      const before = await tail();
      const good = signBlockRelease(alice.identity.signing, release(alice.user));
      await expectKindAsync('integrity', post(alice, flipByte(good, good.length - 1)));
      await expectKindAsync('integrity', post(alice, flipByte(good, 40)));
      await expectKindAsync('integrity', post(alice, randomBytesOf(200)));
      await expectKindAsync('integrity', post(alice, new Uint8Array(0)));
      // A validly signed message of another type is not a release.
      const record = signPeerRecord(alice.identity.signing, {
        address: '127.0.0.1:1',
        capacity: 1,
        time: Date.now(),
      });
      await expectKindAsync('integrity', post(alice, record));
      await expectKindAsync('invalid', post(alice, 'not base64url!'));
      await expectKindAsync('invalid', post(alice, toBase64url(randomBytesOf(64 * 1024 + 1))));
      await expectKindAsync(
        'invalid',
        client.call('POST', routes.releases, { envelope: toBase64url(good), extra: 1 }, alice),
      );
      await expectKindAsync('permission', post(undefined, good));
      expect(await readAll(before)).toEqual([]);
    });
  });

  describe('reading', () => {
    it('refuses a reader without a fresh record of a registered peer', async () => {
      await post(alice, signBlockRelease(alice.identity.signing, release(alice.user)));
      const tenMinutes = 10 * 60 * 1000;
      const stranger = SigningKeyPair.generate();
      const fresh = Buffer.from(readerRecord(peer), 'base64url');
      for (const header of [
        null,
        '',
        'not a record',
        readerRecord(peer, Date.now() - tenMinutes),
        readerRecord(peer, Date.now() + tenMinutes),
        readerRecord(stranger),
        toBase64url(flipByte(fresh, fresh.length - 1)),
        // A user's signed release is not a peer record.
        toBase64url(signBlockRelease(peer, release(alice.user))),
      ]) {
        const { status, body } = await read('', header);
        expect({ header, status }).toEqual({ header, status: 403 });
        expect(body.kind).toBe('permission');
        expect(body).not.toHaveProperty('releases');
      }
      expect((await read('')).status).toBe(200);
    });

    it('pages with after and limit, in seq order', async () => {
      const before = await tail();
      const posted: { seq: number; envelope: string }[] = [];
      for (let i = 0; i < 5; i += 1) {
        const session = i % 2 === 0 ? alice : bob;
        const envelope = signBlockRelease(session.identity.signing, release(session.user));
        const { seq } = await post(session, envelope);
        posted.push({ seq, envelope: toBase64url(envelope) });
      }
      const seqs = posted.map((p) => p.seq);
      expect(seqs).toEqual([...seqs].sort((a, b) => a - b));

      const first = await read(`?after=${before}&limit=2`);
      expect(first.body).toEqual({ releases: posted.slice(0, 2), next: seqs[1] });
      const second = await read(`?after=${first.body.next}&limit=2`);
      expect(second.body).toEqual({ releases: posted.slice(2, 4), next: seqs[3] });
      const third = await read(`?after=${second.body.next}&limit=2`);
      expect(third.body).toEqual({ releases: posted.slice(4), next: seqs[4] });
      const empty = await read(`?after=${third.body.next}&limit=2`);
      expect(empty.body).toEqual({ releases: [], next: seqs[4] });
      expect((await read(`?after=${before}`)).body.releases).toEqual(posted);
      // Without `after`, the log is read from its start.
      expect((await read('?limit=512')).body.releases.slice(-5)).toEqual(posted);
    });

    it('refuses bad paging parameters with `invalid`', async () => {
      for (const query of [
        '?limit=0',
        '?limit=513',
        '?limit=x',
        '?after=-1',
        '?after=1.5',
        '?after=01',
        '?after=1&after=2',
        '?before=3',
      ]) {
        const { status, body } = await read(query);
        expect({ query, status, kind: body.kind }).toEqual({ query, status: 400, kind: 'invalid' });
      }
      expect((await read('?limit=512&after=0')).status).toBe(200);
    });
  });
});

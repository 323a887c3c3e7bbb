/**
 * Key pins from the attacker's side: a real directory over HTTPS whose database is edited
 * behind its back, as a malicious directory (or a thief of its database) would. A device that
 * saw a user's key log refuses a log that swaps it for another validly self-signed one, or
 * rolls it back; a log that honestly grows is taken and the pin moves; pins survive a restart
 * of their file, and a corrupted file is refused, never reset.
 */
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import { Kysely, SqliteDialect } from 'kysely';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DirectoryClient, type DirectorySession } from '../../src/client/directory-client.js';
import {
  checkKeyLogPin,
  createMemoryKeyPins,
  type KeyPins,
  openKeyPinFile,
} from '../../src/client/key-pins.js';
import { fingerprint, IdentityKeys } from '../../src/crypto/identity.js';
import type { Database } from '../../src/directory/store/schema.js';
import { parseUserName, type UserName } from '../../src/interface/names.js';
import { startPeer } from '../../src/peer/service.js';
import { toBase64url } from '../../src/wire/base64.js';
import { routes } from '../../src/wire/directory-api.js';
import {
  chainHash,
  type KeyLogState,
  makeGenesis,
  makeRotation,
  verifyKeyLog,
} from '../../src/wire/key-log.js';
import { goodPassword, startTestDirectory, type TestDirectory } from '../helpers/directory.js';
import { expectKind, expectKindAsync } from '../helpers/expect-error.js';

describe('key pins against a lying directory', () => {
  let dir: TestDirectory;
  /** The directory's database, edited directly: what a malicious directory serves. */
  let db: Kysely<Database>;
  /** Makes accounts and rotates keys: the honest users' own device. */
  let owner: DirectoryClient;
  const opened: DirectoryClient[] = [];
  let scratch: string;

  beforeAll(async () => {
    // The key logs are swapped in the database on purpose: the directory's self-check may see it.
    dir = await startTestDirectory('sqlite', {}, { allowAlerts: ['audit-log-broken'] });
    db = new Kysely<Database>({
      dialect: new SqliteDialect({
        database: new SqliteDatabase(join(dir.dataDir, 'directory.db'), { timeout: 5000 }),
      }),
    });
    owner = await dir.client();
    scratch = mkdtempSync(join(tmpdir(), 'pv-pins-'));
  }, 60_000);
  afterAll(async () => {
    await Promise.all(opened.map((c) => c.close()));
    await db?.destroy();
    await dir?.stop();
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  /** Another device (alice's), with its own pins and no cache unless asked. */
  const device = async (
    keyPins: KeyPins = createMemoryKeyPins(),
    keyLogCacheMs = 0,
  ): Promise<DirectoryClient> => {
    const client = await DirectoryClient.connect(dir.endpoint, { keyPins, keyLogCacheMs });
    opened.push(client);
    return client;
  };

  let counter = 0;
  /** A fresh user (registered by `owner`), logged in. */
  const newUser = async (): Promise<{ user: UserName; session: DirectorySession }> => {
    const user = parseUserName(`bob${++counter}`);
    await owner.register(user, goodPassword(user));
    return { user, session: await owner.login(user, goodPassword(user)) };
  };

  /** The user rotates to a new identity through the directory's append route. */
  const rotate = async (session: DirectorySession, current = session.identity) => {
    const next = IdentityKeys.generate();
    const state = await owner.keyLog(session.user, { fresh: true });
    const event = makeRotation(state, current.signing, next.public, Date.now());
    await owner.call('POST', routes.appendKey, { envelope: toBase64url(event) }, session);
    return next;
  };

  /** What the directory stores for `user`'s log. */
  const storedLog = async (user: UserName) =>
    (
      await db
        .selectFrom('key_log')
        .selectAll()
        .where('user_name', '=', user)
        .orderBy('seq')
        .execute()
    ).map((row) => new Uint8Array(row.envelope));

  /** The directory replaces `user`'s whole log with `envelopes`. */
  const replaceLog = async (user: UserName, envelopes: Uint8Array[]) => {
    await db.deleteFrom('key_log').where('user_name', '=', user).execute();
    for (const [seq, envelope] of envelopes.entries()) {
      await db
        .insertInto('key_log')
        .values({ user_name: user, seq, envelope, hash: chainHash(envelope) })
        .execute();
    }
  };

  /** A complete, validly signed log for `user` made by the attacker, `length` events long. */
  const forgedLog = (user: UserName, length: number) => {
    let keys = IdentityKeys.generate();
    const envelopes = [makeGenesis(user, keys, Date.now())];
    let state: KeyLogState = verifyKeyLog(user, envelopes);
    while (envelopes.length < length) {
      const next = IdentityKeys.generate();
      envelopes.push(makeRotation(state, keys.signing, next.public, Date.now()));
      state = verifyKeyLog(user, envelopes);
      keys = next;
    }
    return { envelopes, keys };
  };

  it("(a) refuses a log swapped for another self-signed one after the device saw the user's", async () => {
    const { user } = await newUser();
    const pins = createMemoryKeyPins();
    const alice = await device(pins);
    const seen = await alice.keyLog(user);
    const pinned = pins.get(user)!;
    expect(pinned).toEqual({
      seq: 0,
      head: seen.head,
      fingerprint: fingerprint(seen.identity.signingKey),
    });

    const forged = forgedLog(user, 1);
    await replaceLog(user, forged.envelopes);
    // The forged log is valid on its own: a device that never saw the user's log takes it
    // (the limit of trust on first use).
    const stranger = await device();
    expect((await stranger.keyLog(user)).identity.signingKey).toEqual(
      forged.keys.signing.publicKey,
    );

    const error = await expectKindAsync('integrity', alice.keyLog(user));
    expect(error.message).toContain(
      `${user}'s key log at the directory does not extend the one this device saw before (event 0)`,
    );
    expect(error.message).toContain(`Nothing was done with ${user}'s keys`);
    expect(error.message).toContain('peervault whoami');
    expect(error.message).toContain(pinned.fingerprint);
    // The refusal leaves the pin where it was, so asking again fails again.
    expect(pins.get(user)).toEqual(pinned);
    await expectKindAsync('integrity', alice.keyLog(user, { fresh: true }));
  });

  it('(a) refuses a swapped log at login, and on the device that registered the user', async () => {
    const { user } = await newUser();
    await replaceLog(user, forgedLog(user, 1).envelopes);
    // `owner` pinned the user's first event when it registered them, so it never saw the
    // directory's copy and still refuses it; and the user's own login checks their log.
    await expectKindAsync('integrity', owner.keyLog(user, { fresh: true }));
    await expectKindAsync('integrity', owner.login(user, goodPassword(user)));
  });

  it('(b) refuses a rollback: a log truncated after the device saw a longer one', async () => {
    const { user, session } = await newUser();
    await rotate(session);
    const pins = createMemoryKeyPins();
    const alice = await device(pins);
    expect((await alice.keyLog(user)).seq).toBe(1);

    // The directory hides the rotation (say, away from a stolen key).
    await db.deleteFrom('key_log').where('user_name', '=', user).where('seq', '=', 1).execute();
    const error = await expectKindAsync('integrity', alice.keyLog(user));
    expect(error.message).toContain(
      `${user}'s key log at the directory ends at event 0, before event 1 that this device saw`,
    );
    expect(error.message).toContain(`Nothing was done with ${user}'s keys`);
    expect(pins.get(user)!.seq).toBe(1);
  });

  it('(c) takes a log that grows by a rotation and moves the pin; refuses a longer forgery', async () => {
    const { user, session } = await newUser();
    const pins = createMemoryKeyPins();
    const alice = await device(pins);
    const first = await alice.keyLog(user);
    expect(first.seq).toBe(0);

    const next = await rotate(session);
    const grown = await alice.keyLog(user);
    expect(grown.seq).toBe(1);
    expect(grown.identity.signingKey).toEqual(next.signing.publicKey);
    expect(pins.get(user)).toEqual({
      seq: 1,
      head: grown.head,
      fingerprint: fingerprint(next.signing.publicKey),
    });
    // And again, two events at once.
    const third = await rotate(session, next);
    await rotate(session, third);
    expect((await alice.keyLog(user)).seq).toBe(3);
    expect(pins.get(user)!.seq).toBe(3);

    // A forged log longer than the real one, but not its continuation, is refused.
    await replaceLog(user, forgedLog(user, 5).envelopes);
    await expectKindAsync('integrity', alice.keyLog(user));
    expect(pins.get(user)!.seq).toBe(3);
  });

  it('(c) refuses a fork: the genuine prefix with another event at the pinned position', async () => {
    const { user, session } = await newUser();
    await rotate(session);
    const pins = createMemoryKeyPins();
    const alice = await device(pins);
    expect((await alice.keyLog(user)).seq).toBe(1);

    // Event 1 must be signed by key 0, so a fork needs the user's old key (as after a theft of
    // it): the genuine event 0, then another event 1.
    const [genesis] = await storedLog(user);
    const state0 = verifyKeyLog(user, [genesis!]);
    const thief = IdentityKeys.generate();
    const fork = makeRotation(state0, session.identity.signing, thief.public, Date.now());
    await replaceLog(user, [genesis!, fork]);
    await expectKindAsync('integrity', alice.keyLog(user));
    expect(pins.get(user)!.seq).toBe(1);
  });

  it('reuses a verified log for a short while, but checks every fetch', async () => {
    const { user } = await newUser();
    const pins = createMemoryKeyPins();
    const alice = await device(pins, 60_000);
    const [a, b] = await Promise.all([alice.keyLog(user), alice.keyLog(user)]);
    expect(b).toBe(a);
    await replaceLog(user, forgedLog(user, 1).envelopes);
    // Within the cache's lifetime the log verified before is given again (nothing new used)...
    expect(await alice.keyLog(user)).toBe(a);
    // ...and a fetch, asked for or after the cache runs out, is checked against the pin.
    await expectKindAsync('integrity', alice.keyLog(user, { fresh: true }));
    // A failure is not cached.
    await expectKindAsync('integrity', alice.keyLog(user));
  });

  it('(d) keeps pins in a file across a restart, and refuses a swap after it', async () => {
    const { user, session } = await newUser();
    await rotate(session);
    const path = join(scratch, 'restart-key-pins.json');
    const before = await device(openKeyPinFile(path));
    const seen = await before.keyLog(user);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    const saved = JSON.parse(readFileSync(path, 'utf8')) as unknown;
    expect(saved).toEqual({
      v: 1,
      pins: {
        [user]: {
          seq: 1,
          head: toBase64url(seen.head),
          fingerprint: fingerprint(seen.identity.signingKey),
        },
      },
    });

    const reloaded = openKeyPinFile(path);
    expect(reloaded.get(user)).toEqual({
      seq: 1,
      head: seen.head,
      fingerprint: fingerprint(seen.identity.signingKey),
    });
    await replaceLog(user, forgedLog(user, 2).envelopes);
    await expectKindAsync('integrity', (await device(reloaded)).keyLog(user));
    await db.deleteFrom('key_log').where('user_name', '=', user).where('seq', '=', 1).execute();
    await expectKindAsync('integrity', (await device(openKeyPinFile(path))).keyLog(user));
  });

  it('(d) refuses a corrupted pin file with a message saying what to do, and leaves it as it is', () => {
    const head = toBase64url(new Uint8Array(32));
    const corrupt = [
      '{"v":1,"pins":{"bob":{"seq":1,"head":"' + head.slice(0, 10),
      '',
      'null',
      JSON.stringify({ v: 2, pins: {} }),
      JSON.stringify({ v: 1 }),
      JSON.stringify({ v: 1, pins: { bob: { seq: -1, head } } }),
      JSON.stringify({ v: 1, pins: { bob: { seq: 1, head: head.slice(1) } } }),
      JSON.stringify({ v: 1, pins: { Bob: { seq: 1, head } } }),
      JSON.stringify({ v: 1, pins: { bob: { seq: 1, head, extra: true } } }),
    ];
    for (const [i, text] of corrupt.entries()) {
      const path = join(scratch, `corrupt-${i}.json`);
      writeFileSync(path, text);
      const error = expectKind('integrity', () => openKeyPinFile(path));
      expect(error.message).toContain(path);
      expect(error.message).toContain('is corrupted');
      expect(error.message).toContain('move the file aside');
      expect(readFileSync(path, 'utf8')).toBe(text);
    }
    // A missing file is an empty store; an unreadable one is not mistaken for it.
    expect(openKeyPinFile(join(scratch, 'absent.json')).get(parseUserName('bob'))).toBe(undefined);
    const unreadable = join(scratch, 'unreadable.json');
    writeFileSync(unreadable, '{}');
    chmodSync(unreadable, 0o000);
    if (process.getuid?.() !== 0) expectKind('unavailable', () => openKeyPinFile(unreadable));
  });

  it('(e) refuses a stored event whose identity bytes were edited without re-signing', async () => {
    const { user, session } = await newUser();
    const pins = createMemoryKeyPins();
    const alice = await device(pins);
    const seen = await alice.keyLog(user);
    const [genesis] = await storedLog(user);
    const encryptionKey = session.identity.encryption.publicKey;
    const at = Buffer.from(genesis!).indexOf(Buffer.from(encryptionKey));
    expect(at).toBeGreaterThan(0);
    const edited = Uint8Array.from(genesis!);
    edited[at] = edited[at]! ^ 1;
    await db
      .updateTable('key_log')
      .set({ envelope: edited })
      .where('user_name', '=', user)
      .where('seq', '=', 0)
      .execute();
    await expectKindAsync('integrity', alice.keyLog(user));
    await expectKindAsync('integrity', (await device()).keyLog(user));
    expect(pins.get(user)!.head).toEqual(seen.head);
  });

  it('checks with one pin per user and advances only forward', () => {
    const pins = createMemoryKeyPins();
    const { envelopes } = forgedLog(parseUserName('carol'), 3);
    const carol = parseUserName('carol');
    const full = verifyKeyLog(carol, envelopes);
    const prefix = verifyKeyLog(carol, envelopes.slice(0, 2));
    checkKeyLogPin(pins, prefix, envelopes.slice(0, 2));
    expect(pins.get(carol)!.seq).toBe(1);
    checkKeyLogPin(pins, full, envelopes);
    expect(pins.get(carol)!.seq).toBe(2);
    expectKind('integrity', () => checkKeyLogPin(pins, prefix, envelopes.slice(0, 2)));
    // Pins of other users are untouched, and the store hands out copies.
    expect(pins.get(parseUserName('dave'))).toBe(undefined);
    pins.get(carol)!.head.fill(0);
    expect(pins.get(carol)!.head).toEqual(full.head);
  });

  describe('in a peer', () => {
    const startAt = (dataDir: string) =>
      startPeer({
        dataDir,
        directory: dir.endpoint,
        listen: '127.0.0.1:0',
        api: '127.0.0.1:0',
        log: () => {},
      });

    it('saves what its sessions saw to key-pins.json, loads it at start, and refuses a corrupted one', async () => {
      const { user } = await newUser();
      const dataDir = join(scratch, 'peer');
      const peer = await startAt(dataDir);
      try {
        const token = readFileSync(join(dataDir, 'api-token'), 'utf8').trim();
        const res = await request(`${peer.api}/v1/login`, {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          body: JSON.stringify({ user, password: goodPassword(user) }),
        });
        expect(res.statusCode).toBe(200);
        await res.body.dump();
      } finally {
        await peer.close();
      }
      const path = join(dataDir, 'key-pins.json');
      expect(openKeyPinFile(path).get(user)?.seq).toBe(0);

      // Restarted, the peer still refuses a log swapped meanwhile, at login.
      await replaceLog(user, forgedLog(user, 1).envelopes);
      const again = await startAt(dataDir);
      try {
        const token = readFileSync(join(dataDir, 'api-token'), 'utf8').trim();
        const res = await request(`${again.api}/v1/login`, {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          body: JSON.stringify({ user, password: goodPassword(user) }),
        });
        const body = (await res.body.json()) as { kind?: string };
        expect(body.kind).toBe('integrity');
      } finally {
        await again.close();
      }

      writeFileSync(path, '{"v":1,"pins":');
      await expectKindAsync('integrity', startAt(dataDir));
    });
  });
});

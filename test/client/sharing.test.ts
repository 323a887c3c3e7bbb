/**
 * Sharing end to end in one process: a real directory over HTTPS (SQLite) and three real block
 * peers. The seed's `touch team5.txt bob r carol w`, folder inheritance, and the attacks the
 * issue names, each from the attacker's side: a write by a non-writer injected straight into the
 * directory's database, a writer the owner removed writing again, a grantee's key substituted
 * at the directory, and names and users that collide with JavaScript's object properties.
 */
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FileContext, readFile, writeFile } from '../../src/client/files.js';
import { openFileMeta } from '../../src/client/file-codec.js';
import { list, mkdir, resolve } from '../../src/client/namespace.js';
import { permissions, share, sharedWithMe, unshare } from '../../src/client/sharing.js';
import { type AclGrant, parseGrantWords } from '../../src/interface/grants.js';
import { parseUserName, type UserName } from '../../src/interface/names.js';
import { parsePath } from '../../src/interface/paths.js';
import { IdentityKeys } from '../../src/crypto/identity.js';
import { chainHash } from '../../src/wire/key-log.js';
import { signDirEntry } from '../../src/wire/dir-entry.js';
import { type Agents, bytesOf, startAgents, textOf } from '../helpers/agents.js';
import type { TestDirectory } from '../helpers/directory.js';
import { expectKind, expectKindAsync } from '../helpers/expect-error.js';

describe('sharing', () => {
  let agents: Pick<Agents<string>, 'close' | 'allowAlerts'> | undefined;
  let dir: TestDirectory;
  const users = ['alice', 'bob', 'carol', 'dave', 'constructor', 'eve'] as const;
  const ctx = {} as Record<(typeof users)[number], FileContext>;
  const p = (text: string) => parsePath(text, parseUserName('alice'));
  const db = () => new Database(join(dir.dataDir, 'directory.db'));

  /** Writes an envelope into the directory's database as the entry's next version. */
  function inject(id: string, envelope: Uint8Array, version: number, writer: string): void {
    const conn = db();
    try {
      conn
        .prepare('UPDATE entries SET envelope = ?, version = ?, writer = ? WHERE id = ?')
        .run(envelope, version, writer, id);
      conn.prepare('DELETE FROM entry_versions WHERE id = ? AND version >= ?').run(id, version);
      conn
        .prepare(
          'INSERT INTO entry_versions (id, version, envelope, writer, created_at) VALUES (?, ?, ?, ?, ?)',
        )
        .run(id, version, envelope, writer, Date.now());
    } finally {
      conn.close();
    }
  }

  beforeAll(async () => {
    const started = await startAgents(users, { peers: 3, replicas: 2 });
    agents = started;
    ({ dir } = started);
    Object.assign(ctx, started.ctx);
  }, 120_000);
  afterAll(async () => {
    await agents?.close();
  });

  it("runs the seed's `touch team5.txt bob r carol w`", async () => {
    const { alice, bob, carol, dave } = ctx;
    await writeFile(alice, p('/alice/team5.txt'), bytesOf('v1 by alice'), {
      mode: 'create',
      grants: parseGrantWords(['bob', 'r', 'carol', 'w']),
    });
    // bob reads; bob may not write
    expect(await textOf(bob, p('/alice/team5.txt'))).toBe('v1 by alice');
    await expectKindAsync('permission', writeFile(bob, p('/alice/team5.txt'), bytesOf('bob')));
    // carol writes; alice reads carol's version and sees who wrote it
    await writeFile(carol, p('/alice/team5.txt'), bytesOf('v2 by carol'));
    expect(await textOf(alice, p('/alice/team5.txt'))).toBe('v2 by carol');
    expect(await textOf(bob, p('/alice/team5.txt'))).toBe('v2 by carol');
    const perms = await permissions(alice, p('/alice/team5.txt'));
    expect(perms.writer).toBe('carol');
    expect(perms.grants).toEqual([
      { user: 'carol', right: 'w' },
      { user: 'bob', right: 'r' },
    ]);
    // a fourth user sees nothing, not even the name
    expect(await list(dave, p('/alice'))).toEqual([]);
    expect(await sharedWithMe(dave)).toEqual([]);
    await expectKindAsync('not-exist', readFile(dave, p('/alice/team5.txt')));
    // bob's view of alice's tree holds only what is shared with him
    expect((await list(bob, p('/alice'))).map((e) => e.name)).toEqual(['team5.txt']);
    expect(await sharedWithMe(bob)).toMatchObject([
      { owner: 'alice', name: 'team5.txt', kind: 'file', right: 'r' },
    ]);
  });

  it('shows a file shared out of a private folder at /OWNER/NAME, and nothing of the folder', async () => {
    const { alice, bob } = ctx;
    await mkdir(alice, p('/alice/private'));
    await writeFile(alice, p('/alice/private/secret-plan.txt'), bytesOf('hidden'));
    await writeFile(alice, p('/alice/private/report.txt'), bytesOf('for bob'));
    await share(alice, p('/alice/private/report.txt'), parseGrantWords(['bob', 'r']));
    expect((await list(bob, p('/alice'))).map((e) => e.name).sort()).toEqual([
      'report.txt',
      'team5.txt',
    ]);
    expect(await textOf(bob, p('/alice/report.txt'))).toBe('for bob');
    await expectKindAsync('not-exist', resolve(bob, p('/alice/private')));
    await expectKindAsync('not-exist', resolve(bob, p('/alice/secret-plan.txt')));
  });

  it('gives a folder grant to what is created in it, by the owner or by a writer', async () => {
    const { alice, bob, carol } = ctx;
    await mkdir(alice, p('/alice/proj'), parseGrantWords(['bob', 'r', 'carol', 'w']));
    await writeFile(alice, p('/alice/proj/a.txt'), bytesOf('from alice'));
    await writeFile(carol, p('/alice/proj/b.txt'), bytesOf('from carol'));
    await mkdir(carol, p('/alice/proj/sub'));
    await writeFile(carol, p('/alice/proj/sub/c.txt'), bytesOf('deep'));
    for (const reader of [alice, bob, carol]) {
      expect(await textOf(reader, p('/alice/proj/a.txt'))).toBe('from alice');
      expect(await textOf(reader, p('/alice/proj/b.txt'))).toBe('from carol');
      expect(await textOf(reader, p('/alice/proj/sub/c.txt'))).toBe('deep');
    }
    expect((await permissions(alice, p('/alice/proj/b.txt'))).inherited).toBe(true);
    // The owner owns what a writer creates, and a writer cannot give rights away.
    expect((await resolve(alice, p('/alice/proj/b.txt'))).body.owner).toBe('alice');
    await expectKindAsync(
      'permission',
      writeFile(carol, p('/alice/proj/d.txt'), bytesOf('x'), {
        mode: 'create',
        grants: parseGrantWords(['dave', 'r']),
      }),
    );
    // Sharing the folder later reaches everything in it, including carol's files.
    await share(alice, p('/alice/proj'), parseGrantWords(['dave', 'r']));
    expect(await textOf(ctx.dave, p('/alice/proj/sub/c.txt'))).toBe('deep');
    expect((await permissions(alice, p('/alice/proj/b.txt'))).inherited).toBe(false);
    // And unsharing takes it away from all of them.
    await unshare(alice, p('/alice/proj'), [parseUserName('dave')]);
    await expectKindAsync('not-exist', readFile(ctx.dave, p('/alice/proj/b.txt')));
    expect(await sharedWithMe(ctx.dave)).toEqual([]);
  });

  it('lets only the owner share, unshare or change rights', async () => {
    const { bob, carol } = ctx;
    const grants: AclGrant[] = parseGrantWords(['dave', 'r']);
    await expectKindAsync('permission', share(carol, p('/alice/team5.txt'), grants));
    await expectKindAsync('permission', share(bob, p('/alice/team5.txt'), grants));
    await expectKindAsync(
      'permission',
      unshare(carol, p('/alice/team5.txt'), [parseUserName('bob')]),
    );
    await expectKindAsync(
      'invalid',
      share(ctx.alice, p('/alice/team5.txt'), parseGrantWords(['alice', 'r'])),
    );
  });

  it('rejects, at every reader, a write by a non-writer injected into the database', async () => {
    // An attack: the readers' devices report the bad version to the directory's monitor.
    agents?.allowAlerts(['entry-integrity']);
    const { alice, bob, carol, dave } = ctx;
    await writeFile(alice, p('/alice/injected.txt'), bytesOf('genuine'), {
      mode: 'create',
      grants: parseGrantWords(['bob', 'r', 'carol', 'w']),
    });
    const current = await resolve(alice, p('/alice/injected.txt'));
    // dave (no right at all) and bob (a reader) each sign a next version carrying the real ACL.
    for (const [attacker, widen] of [
      [dave, false],
      [bob, false],
      [bob, true],
    ] as const) {
      const forged = signDirEntry(attacker.session.identity.signing, {
        ...current.body,
        version: current.body.version + 1,
        prev: chainHash(current.envelope),
        // A reader may also try to list itself as a writer: the owner's certificate says no.
        acl: widen ? { r: [], w: ['bob', 'carol'] as UserName[] } : current.body.acl,
        time: Date.now(),
      });
      inject(current.body.id, forged, current.body.version + 1, attacker.session.user);
      for (const reader of [alice, bob, carol]) {
        await expectKindAsync('integrity', readFile(reader, p('/alice/injected.txt')));
        // Listed as refused (and nothing else is): one forged entry hides no other.
        const listed = await list(reader, p('/alice'));
        expect(listed.filter((e) => e.refused !== undefined)).toHaveLength(1);
        expect(listed.filter((e) => e.refused !== undefined)[0]).toMatchObject({ writer: '?' });
      }
      inject(current.body.id, current.envelope, current.body.version, 'alice');
    }
    expect(await textOf(bob, p('/alice/injected.txt'))).toBe('genuine');
  });

  it('refuses a version by a writer the owner has since removed, even through the database', async () => {
    // An attack: the readers' devices report the bad version to the directory's monitor.
    agents?.allowAlerts(['entry-integrity']);
    const { alice, bob, carol } = ctx;
    await writeFile(alice, p('/alice/removed.txt'), bytesOf('one'), {
      mode: 'create',
      grants: parseGrantWords(['bob', 'r', 'carol', 'w']),
    });
    const whileWriter = await resolve(carol, p('/alice/removed.txt'));
    await unshare(alice, p('/alice/removed.txt'), [parseUserName('carol')]);
    await expectKindAsync('permission', writeFile(carol, p('/alice/removed.txt'), bytesOf('x')));
    const now = await resolve(alice, p('/alice/removed.txt'));
    // carol replays the certificate that still listed her, on top of the owner's new version.
    const forged = signDirEntry(carol.session.identity.signing, {
      ...whileWriter.body,
      version: now.body.version + 1,
      prev: chainHash(now.envelope),
      keys: now.body.keys,
      time: Date.now(),
    });
    inject(now.body.id, forged, now.body.version + 1, 'carol');
    await expectKindAsync('integrity', readFile(alice, p('/alice/removed.txt')));
    await expectKindAsync('integrity', readFile(bob, p('/alice/removed.txt')));
    // One tampered entry does not hide bob's other shares, nor does listing hide it.
    expect(await textOf(bob, p('/alice/team5.txt'))).toBe('v2 by carol');
    const listed = await list(bob, p('/alice'));
    expect(listed.filter((e) => e.refused !== undefined)).toHaveLength(1);
    expect(listed.find((e) => e.name === 'team5.txt')?.refused).toBeUndefined();
    inject(now.body.id, now.envelope, now.body.version, 'alice');
    expect(await textOf(bob, p('/alice/removed.txt'))).toBe('one');
  });

  it('refuses to share with a user whose keys at the directory do not verify', async () => {
    // eve's key log is edited in the database: the directory's self-check may see it.
    agents?.allowAlerts(['audit-log-broken']);
    const { alice, eve } = ctx;
    await writeFile(alice, p('/alice/for-eve.txt'), bytesOf('careful'));
    // The directory swaps eve's encryption key for an attacker's inside her signed log event.
    const conn = db();
    const row = conn
      .prepare('SELECT envelope FROM key_log WHERE user_name = ? AND seq = 0')
      .get('eve') as { envelope: Uint8Array };
    const genuine = Buffer.from(row.envelope);
    const ownKey = Buffer.from(eve.session.identity.encryption.publicKey);
    const at = genuine.indexOf(ownKey);
    expect(at).toBeGreaterThan(0);
    const tampered = Buffer.from(genuine);
    Buffer.from(IdentityKeys.generate().encryption.publicKey).copy(tampered, at);
    conn
      .prepare('UPDATE key_log SET envelope = ? WHERE user_name = ? AND seq = 0')
      .run(tampered, 'eve');
    conn.close();
    try {
      const err = await expectKindAsync(
        'integrity',
        share(alice, p('/alice/for-eve.txt'), parseGrantWords(['eve', 'r'])),
      );
      expect(err.message).toContain("eve's keys at the directory do not match");
      expect(err.message).toContain('Nothing was shared');
      expect((await permissions(alice, p('/alice/for-eve.txt'))).grants).toEqual([]);
      await expectKindAsync(
        'integrity',
        writeFile(alice, p('/alice/new-for-eve.txt'), bytesOf('x'), {
          mode: 'create',
          grants: parseGrantWords(['eve', 'r']),
        }),
      );
      await expectKindAsync('not-exist', resolve(alice, p('/alice/new-for-eve.txt')));
    } finally {
      const fix = db();
      fix
        .prepare('UPDATE key_log SET envelope = ? WHERE user_name = ? AND seq = 0')
        .run(genuine, 'eve');
      fix.close();
    }
  });

  it.each([
    ['eagerly (the content is sealed again)', undefined, true],
    ['lazily (the content keeps its key, carried under the new one)', 0, false],
  ])(
    'replaces the key when a user loses access, %s: the removed user opens nothing new',
    async (_how, eagerRekeyMaxBytes, eager) => {
      const { alice, bob, carol } = ctx;
      const owner = {
        ...alice,
        ...(eagerRekeyMaxBytes === undefined ? {} : { eagerRekeyMaxBytes }),
      };
      const name = `/alice/rekey-${eager ? 'eager' : 'lazy'}.txt`;
      await writeFile(alice, p(name), bytesOf('before the unshare'), {
        mode: 'create',
        grants: parseGrantWords(['bob', 'r', 'carol', 'r']),
      });
      // bob keeps what he could hold: the file key and the block list of the current version.
      const kept = await resolve(bob, p(name));
      const keptMeta = openFileMeta(
        kept.key,
        { fileId: kept.body.id, version: kept.body.version },
        kept.body.meta,
      );
      await unshare(owner, p(name), [parseUserName('bob')]);
      const after = await resolve(alice, p(name));
      expect(Object.keys(after.body.keys).sort()).toEqual(['alice', 'carol']);
      // The new version's metadata and name label open only with the new key.
      expectKind('integrity', () =>
        openFileMeta(
          kept.key,
          { fileId: after.body.id, version: after.body.version },
          after.body.meta,
        ),
      );
      expect(Buffer.compare(after.key.expose(), kept.key.expose())).not.toBe(0);
      const now = openFileMeta(
        after.key,
        { fileId: after.body.id, version: after.body.version },
        after.body.meta,
      );
      if (eager) {
        // Sealed again: no block of the current version is one bob held.
        expect(now.contentKey).toBeUndefined();
        expect(now.blocks.some((b) => keptMeta.blocks.includes(b))).toBe(false);
      } else {
        expect(now.blocks).toEqual(keptMeta.blocks);
        expect(Buffer.compare(now.contentKey!.expose(), kept.key.expose())).toBe(0);
      }
      // What alice writes next opens with neither bob's old key nor anything bob can fetch.
      await writeFile(alice, p(name), bytesOf('after the unshare'));
      const next = await resolve(alice, p(name));
      expectKind('integrity', () =>
        openFileMeta(
          kept.key,
          { fileId: next.body.id, version: next.body.version },
          next.body.meta,
        ),
      );
      await expectKindAsync('not-exist', readFile(bob, p(name)));
      // carol and alice read on without noticing, history included.
      expect(await textOf(carol, p(name))).toBe('after the unshare');
      expect(await textOf(carol, p(name), 1)).toBe('before the unshare');
      expect(await textOf(alice, p(name), after.body.version)).toBe('before the unshare');
    },
  );

  it('treats Unicode twins, case twins and object-property names as ordinary names', async () => {
    const { alice, constructor: user } = ctx;
    await mkdir(alice, p('/alice/twins'));
    const names = ['__proto__', 'constructor', 'hasOwnProperty', 'File', 'file', 'Ｆｉｌｅ'];
    for (const name of names) {
      await writeFile(alice, p(`/alice/twins/${name}`), bytesOf(`content of ${name}`));
    }
    // NFC and NFD spell one name: the second write is a new version of the same file.
    const nfc = 'caf\u00e9';
    const nfd = 'cafe\u0301';
    await writeFile(alice, p(`/alice/twins/${nfc}`), bytesOf('first'));
    await writeFile(alice, p(`/alice/twins/${nfd}`), bytesOf('second'));
    expect(await textOf(alice, p(`/alice/twins/${nfc}`))).toBe('second');
    const listed = (await list(alice, p('/alice/twins'))).map((e) => e.name);
    expect(listed).toHaveLength(names.length + 1);
    for (const name of names) {
      expect(await textOf(alice, p(`/alice/twins/${name}`))).toBe(`content of ${name}`);
    }
    // A user called `constructor` is a grantee like any other.
    await share(alice, p('/alice/twins/__proto__'), parseGrantWords(['constructor', 'w']));
    expect(await textOf(user, p('/alice/__proto__'))).toBe('content of __proto__');
    await writeFile(user, p('/alice/__proto__'), bytesOf('written by constructor'));
    expect(await textOf(alice, p('/alice/twins/__proto__'))).toBe('written by constructor');
    expect((await permissions(alice, p('/alice/twins/__proto__'))).grants).toEqual([
      { user: 'constructor', right: 'w' },
    ]);
  });
});

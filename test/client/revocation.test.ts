/**
 * `revocate` in one process (a real directory over HTTPS and real block peers), from the side of
 * an attacker who stole alice's keys before she revoked them: the old keys sign nothing that is
 * accepted, open nothing written afterwards, and their session is dead; alice, her grantees and
 * the users who share with her read on. An interrupted revocation is finished by running the
 * second step again.
 */
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DirectoryClient } from '../../src/client/directory-client.js';
import { type FileContext, readFile, removeFile, writeFile } from '../../src/client/files.js';
import { restore } from '../../src/client/restore.js';
import { openFileMeta } from '../../src/client/file-codec.js';
import { mkdir, resolve } from '../../src/client/namespace.js';
import { finishRevocation, revocate } from '../../src/client/revocation.js';
import { utf8 } from '../../src/crypto/bytes.js';
import type { IdentityKeys } from '../../src/crypto/identity.js';
import { unwrapKey } from '../../src/crypto/wrap.js';
import { parseGrantWords } from '../../src/interface/grants.js';
import { parseUserName } from '../../src/interface/names.js';
import { parsePath } from '../../src/interface/paths.js';
import { signDirEntry } from '../../src/wire/dir-entry.js';
import { routes } from '../../src/wire/directory-api.js';
import { chainHash } from '../../src/wire/key-log.js';
import { type Agents, bytesOf, startAgents, textOf } from '../helpers/agents.js';
import { goodPassword, type TestDirectory } from '../helpers/directory.js';
import { expectKindAsync } from '../helpers/expect-error.js';

describe('revocate', () => {
  let dir: TestDirectory;
  let agents: Pick<Agents<string>, 'close' | 'allowAlerts'> | undefined;
  let client: DirectoryClient;
  const ctx = {} as Record<'alice' | 'bob' | 'carol', FileContext>;
  const p = (text: string) => parsePath(text, parseUserName('alice'));
  let stolen: IdentityKeys;
  let stolenSession: FileContext;

  const login = async (user: 'alice' | 'bob' | 'carol'): Promise<FileContext> => ({
    directory: client,
    session: await client.login(user, goodPassword(user)),
    blocks: ctx.bob.blocks,
  });

  beforeAll(async () => {
    const started = await startAgents(['alice', 'bob', 'carol'] as const, {
      peers: 2,
      replicas: 1,
    });
    agents = started;
    ({ dir, client } = started);
    Object.assign(ctx, started.ctx);
    const { alice, bob, carol } = ctx;
    await writeFile(alice, p('/alice/a.txt'), bytesOf('a by alice'), {
      mode: 'create',
      grants: parseGrantWords(['bob', 'r', 'carol', 'w']),
    });
    await writeFile(carol, p('/alice/a.txt'), bytesOf('a by carol'));
    await mkdir(alice, p('/alice/d'), parseGrantWords(['bob', 'r']));
    await writeFile(alice, p('/alice/d/b.txt'), bytesOf('b in d'));
    await writeFile(bob, parsePath('/bob/bob.txt', bob.session.user), bytesOf('bob v1'), {
      mode: 'create',
      grants: parseGrantWords(['alice', 'w']),
    });
    await writeFile(alice, parsePath('/bob/bob.txt', bob.session.user), bytesOf('bob v2 by alice'));
    await writeFile(carol, parsePath('/carol/c.txt', carol.session.user), bytesOf('from carol'), {
      mode: 'create',
      grants: parseGrantWords(['alice', 'r']),
    });
    await writeFile(alice, p('/alice/gone.txt'), bytesOf('deleted before'), {
      mode: 'create',
      grants: parseGrantWords(['bob', 'r']),
    });
    await removeFile(alice, p('/alice/gone.txt'));
    // The thief's copy: alice's keys and a session logged in with them.
    stolen = alice.session.identity;
    stolenSession = await login('alice');
  }, 120_000);
  afterAll(async () => {
    await agents?.close();
  });

  it('replaces the keys and brings everything alice owns or writes under the new ones', async () => {
    const { alice, bob, carol } = ctx;
    const progress: number[] = [];
    const summary = await revocate(alice, { onProgress: ({ done }) => progress.push(done) });
    expect(summary).toMatchObject({
      seq: 1,
      ownRewritten: 4, // the root, a.txt, d, d/b.txt
      filesRekeyed: 2,
      sharedRewritten: 1, // bob.txt, which alice may write
      sharedReadOnly: 1, // c.txt, which alice may only read
      skipped: 0,
    });
    expect(progress.at(-1)).toBe(5);
    expect(
      Buffer.compare(alice.session.identity.signing.publicKey, stolen.signing.publicKey),
    ).not.toBe(0);
    // Everyone reads on, through the new keys, history included.
    expect(await textOf(alice, p('/alice/a.txt'))).toBe('a by carol');
    expect(await textOf(alice, p('/alice/a.txt'), 1)).toBe('a by alice');
    expect(await textOf(bob, p('/alice/a.txt'))).toBe('a by carol');
    expect(await textOf(bob, p('/alice/d/b.txt'))).toBe('b in d');
    expect(await textOf(carol, p('/alice/a.txt'), 1)).toBe('a by alice');
    expect(await textOf(alice, parsePath('/bob/bob.txt', bob.session.user))).toBe(
      'bob v2 by alice',
    );
    expect(await textOf(bob, parsePath('/bob/bob.txt', bob.session.user))).toBe('bob v2 by alice');
    expect(await textOf(alice, parsePath('/carol/c.txt', carol.session.user))).toBe('from carol');
    // What alice deleted before comes back after, with its grants.
    await restore(alice, p('/alice/gone.txt'));
    expect(await textOf(bob, p('/alice/gone.txt'))).toBe('deleted before');
    // carol still writes, and alice's next login gets the new keys with the old kept to open.
    await writeFile(carol, p('/alice/a.txt'), bytesOf('a by carol, after'));
    const again = await login('alice');
    expect(
      Buffer.compare(
        again.session.identity.signing.publicKey,
        alice.session.identity.signing.publicKey,
      ),
    ).toBe(0);
    expect(again.session.previous).toHaveLength(1);
    expect(await textOf(again, parsePath('/carol/c.txt', carol.session.user))).toBe('from carol');
  });

  it('leaves the stolen keys and session useless for anything new', async () => {
    // An attack: the readers' devices report the bad version to the directory's monitor.
    agents?.allowAlerts(['entry-integrity']);
    const { alice, bob } = ctx;
    // The stolen session was ended by the revocation.
    await expectKindAsync('revoked', resolve(stolenSession, p('/alice/a.txt')));
    // What alice writes now cannot be opened with the stolen encryption key, nor with the old
    // file key that the stolen key opens in old versions.
    await writeFile(alice, p('/alice/a.txt'), bytesOf('after the theft'));
    const now = await resolve(alice, p('/alice/a.txt'));
    const context = utf8(`peervault/v1/entry-key\0${now.body.id}\0alice`);
    await expectKindAsync(
      'integrity',
      unwrapKey(stolen.encryption, now.body.keys['alice']!, 'file-key', context),
    );
    const { versions } = await client.call<{ versions: { version: number; envelope: string }[] }>(
      'GET',
      routes.versions.replace(':id', now.body.id),
      undefined,
      alice.session,
    );
    const first = versions.find((v) => v.version === 1)!;
    const firstBody = (await import('../../src/wire/dir-entry.js')).decodeDirEntryUnverified(
      Buffer.from(first.envelope, 'base64url'),
    );
    const oldFileKey = await unwrapKey(
      stolen.encryption,
      firstBody.keys['alice']!,
      'file-key',
      context,
    );
    expect(() =>
      openFileMeta(oldFileKey, { fileId: now.body.id, version: now.body.version }, now.body.meta),
    ).toThrow();
    // A version signed with the stolen key, put straight into the database, is refused by every
    // reader; the directory itself refuses it from any session.
    const forged = signDirEntry(stolen.signing, {
      ...now.body,
      version: now.body.version + 1,
      prev: chainHash(now.envelope),
      time: Date.now(),
    });
    await expectKindAsync(
      'integrity',
      client.call(
        'PUT',
        routes.entry.replace(':id', now.body.id),
        { envelope: Buffer.from(forged).toString('base64url'), expectedVersion: now.body.version },
        alice.session,
      ),
    );
    const db = new Database(join(dir.dataDir, 'directory.db'));
    db.prepare('UPDATE entries SET envelope = ?, version = ? WHERE id = ?').run(
      forged,
      now.body.version + 1,
      now.body.id,
    );
    db.close();
    await expectKindAsync('integrity', readFile(alice, p('/alice/a.txt')));
    await expectKindAsync('integrity', readFile(bob, p('/alice/a.txt')));
    const fix = new Database(join(dir.dataDir, 'directory.db'));
    fix
      .prepare('UPDATE entries SET envelope = ?, version = ? WHERE id = ?')
      .run(now.envelope, now.body.version, now.body.id);
    fix.close();
    expect(await textOf(bob, p('/alice/a.txt'))).toBe('after the theft');
  });

  it('catches a directory that hides the revocation from a client that saw it (rollback)', async () => {
    // An attack: the readers' devices report the bad version to the directory's monitor.
    agents?.allowAlerts(['entry-integrity', 'audit-log-broken']);
    const db = new Database(join(dir.dataDir, 'directory.db'));
    const row = db
      .prepare('SELECT envelope, hash FROM key_log WHERE user_name = ? AND seq = 1')
      .get('alice') as { envelope: Uint8Array; hash: Uint8Array };
    db.prepare('DELETE FROM key_log WHERE user_name = ? AND seq = 1').run('alice');
    db.close();
    try {
      // This device saw alice's log with the revocation: the shorter log is refused, and the
      // stolen key it would bring back is never trusted.
      const err = await expectKindAsync('integrity', client.keyLog('alice', { fresh: true }));
      expect(err.message).toContain("alice's key log");
      await expectKindAsync('integrity', readFile(ctx.bob, p('/alice/a.txt')));
    } finally {
      const fix = new Database(join(dir.dataDir, 'directory.db'));
      fix
        .prepare('INSERT INTO key_log (user_name, seq, envelope, hash) VALUES (?, 1, ?, ?)')
        .run('alice', row.envelope, row.hash);
      fix.close();
    }
    expect(await textOf(ctx.bob, p('/alice/a.txt'))).toBe('after the theft');
  });

  it('finishes an interrupted revocation when run again, and nobody loses a file', async () => {
    const { bob, carol } = ctx;
    const carolAgain = await login('carol');
    // Step 1 only, as if the agent died right after the directory accepted the revocation.
    await client.revokeKeys(carolAgain.session);
    await expectKindAsync(
      'integrity',
      readFile(ctx.alice, parsePath('/carol/c.txt', carol.session.user)),
    );
    const summary = await finishRevocation(carolAgain);
    expect(summary.ownRewritten).toBeGreaterThanOrEqual(2);
    expect(await textOf(ctx.alice, parsePath('/carol/c.txt', carol.session.user))).toBe(
      'from carol',
    );
    expect(await textOf(carolAgain, parsePath('/carol/c.txt', carol.session.user))).toBe(
      'from carol',
    );
    expect(await textOf(carolAgain, p('/alice/a.txt'))).toBe('after the theft');
    // Running it again finds nothing left to do.
    expect(await finishRevocation(carolAgain)).toMatchObject({
      ownRewritten: 0,
      filesRekeyed: 0,
      sharedRewritten: 0,
      skipped: 0,
    });
    expect(await textOf(bob, p('/alice/a.txt'))).toBe('after the theft');
  });
});

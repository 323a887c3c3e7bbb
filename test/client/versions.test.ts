/**
 * Versions and restore in one process (a real directory over HTTPS and real block peers): every
 * overwrite is kept and reads back exactly, `restore --version N` makes an old version the
 * newest (live or from the trash), only the owner restores even when a writer deleted the file,
 * and grantees' rights come back with it.
 */
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type FileContext,
  listVersions,
  readFile,
  removeFile,
  writeFile,
} from '../../src/client/files.js';
import { resolve } from '../../src/client/namespace.js';
import { listTrash, restore } from '../../src/client/restore.js';
import { decodeDirEntryUnverified, signDirEntry } from '../../src/wire/dir-entry.js';
import { routes } from '../../src/wire/directory-api.js';
import { chainHash } from '../../src/wire/key-log.js';
import { permissions } from '../../src/client/sharing.js';
import { parseGrantWords } from '../../src/interface/grants.js';
import { parseUserName } from '../../src/interface/names.js';
import { parsePath } from '../../src/interface/paths.js';
import { type Agents, bytesOf, startAgents, textOf } from '../helpers/agents.js';
import type { TestDirectory } from '../helpers/directory.js';
import { expectKindAsync } from '../helpers/expect-error.js';

describe('versions and restore', () => {
  let agents: Pick<Agents<string>, 'close' | 'allowAlerts'> | undefined;
  let dir: TestDirectory;
  const ctx = {} as Record<'alice' | 'bob' | 'carol', FileContext>;
  const p = (text: string) => parsePath(text, parseUserName('alice'));

  beforeAll(async () => {
    const started = await startAgents(['alice', 'bob', 'carol'] as const, {
      peers: 2,
      replicas: 1,
    });
    agents = started;
    ({ dir } = started);
    Object.assign(ctx, started.ctx);
  }, 120_000);
  afterAll(async () => {
    await agents?.close();
  });

  it('keeps 50 overwrites, each reading back exactly', async () => {
    const { alice } = ctx;
    const content = (n: number) => `version ${n}: ${'x'.repeat(n * 37)}`;
    for (let n = 1; n <= 50; n++) await writeFile(alice, p('/alice/log.txt'), bytesOf(content(n)));
    const versions = await listVersions(alice, p('/alice/log.txt'));
    expect(versions.map((v) => v.version)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    for (let n = 1; n <= 50; n++) {
      expect(await textOf(alice, p('/alice/log.txt'), n)).toBe(content(n));
      expect(versions[n - 1]!.size).toBe(content(n).length);
    }
    // A chosen version becomes the newest; nothing is lost on the way.
    expect(await restore(alice, p('/alice/log.txt'), { version: 7 })).toBe(1);
    expect(await textOf(alice, p('/alice/log.txt'))).toBe(content(7));
    expect(await textOf(alice, p('/alice/log.txt'), 50)).toBe(content(50));
    expect((await listVersions(alice, p('/alice/log.txt'))).at(-1)).toMatchObject({
      version: 51,
      size: content(7).length,
      writer: 'alice',
    });
    await expectKindAsync('not-exist', restore(alice, p('/alice/log.txt'), { version: 52 }));
  });

  it("runs the seed's restore: a writer deletes, only the owner restores, the reader reads it back", async () => {
    const { alice, bob, carol } = ctx;
    await writeFile(alice, p('/alice/team5.txt'), bytesOf('first'), {
      mode: 'create',
      grants: parseGrantWords(['bob', 'r', 'carol', 'w']),
    });
    await writeFile(carol, p('/alice/team5.txt'), bytesOf('second, by carol'));
    await removeFile(carol, p('/alice/team5.txt'));
    await expectKindAsync('not-exist', readFile(bob, p('/alice/team5.txt')));
    // carol's restore is refused: she is a writer, not the owner (and cannot even see the trash).
    await expectKindAsync('permission', restore(carol, p('/alice/team5.txt')));
    await expectKindAsync('permission', restore(carol, p('/alice/team5.txt'), { version: 1 }));
    // alice restores; bob reads the restored bytes; the grants are as they were.
    expect(await restore(alice, p('/alice/team5.txt'))).toBe(1);
    expect(await textOf(bob, p('/alice/team5.txt'))).toBe('second, by carol');
    expect((await permissions(alice, p('/alice/team5.txt'))).grants).toEqual([
      { user: 'carol', right: 'w' },
      { user: 'bob', right: 'r' },
    ]);
    // Deleted again, it comes back as a chosen version.
    await removeFile(alice, p('/alice/team5.txt'));
    await restore(alice, p('/alice/team5.txt'), { version: 1 });
    expect(await textOf(bob, p('/alice/team5.txt'))).toBe('first');
    expect(await textOf(carol, p('/alice/team5.txt'))).toBe('first');
    // A writer may not revert a live file either.
    await expectKindAsync('permission', restore(carol, p('/alice/team5.txt'), { version: 2 }));
  });

  it('rejects at every reader a restore signed by a writer, even put straight into the database', async () => {
    // An attack: the readers' devices report the bad version to the directory's monitor.
    agents?.allowAlerts(['entry-integrity']);
    const { alice, bob, carol } = ctx;
    await writeFile(alice, p('/alice/kept.txt'), bytesOf('kept'), {
      mode: 'create',
      grants: parseGrantWords(['bob', 'r', 'carol', 'w']),
    });
    const live = await resolve(carol, p('/alice/kept.txt'));
    await removeFile(carol, p('/alice/kept.txt'));
    // The directory refuses carol's restore; a directory that took it anyway is caught.
    const { versions } = await carol.directory.call<{
      versions: { version: number; envelope: string }[];
    }>('GET', routes.versions.replace(':id', live.body.id), undefined, alice.session);
    const tomb = versions.find((v) => v.version === live.body.version + 1)!;
    const tombEnvelope = Buffer.from(tomb.envelope, 'base64url');
    const forged = signDirEntry(carol.session.identity.signing, {
      ...decodeDirEntryUnverified(tombEnvelope),
      version: live.body.version + 2,
      prev: chainHash(tombEnvelope),
      deleted: null,
      time: Date.now(),
    });
    await expectKindAsync(
      'permission',
      carol.directory.call(
        'PUT',
        routes.entry.replace(':id', live.body.id),
        {
          envelope: Buffer.from(forged).toString('base64url'),
          expectedVersion: live.body.version + 1,
        },
        carol.session,
      ),
    );
    const db = new Database(join(dir.dataDir, 'directory.db'));
    db.prepare(
      'UPDATE entries SET envelope = ?, version = ?, writer = ?, deleted_at = NULL, deleted_by = NULL WHERE id = ?',
    ).run(forged, live.body.version + 2, 'carol', live.body.id);
    db.prepare(
      'INSERT INTO entry_versions (id, version, envelope, writer, created_at) VALUES (?, ?, ?, ?, ?)',
    ).run(live.body.id, live.body.version + 2, forged, 'carol', Date.now());
    db.close();
    for (const reader of [alice, bob, carol]) {
      await expectKindAsync('integrity', readFile(reader, p('/alice/kept.txt')));
    }
  });

  it('restores a file while another entry of the trash does not verify, and refuses that one', async () => {
    // The tampered entry is reported to the directory's monitor when it is opened.
    agents?.allowAlerts(['entry-integrity']);
    const { alice } = ctx;
    for (const name of ['good.txt', 'bad.txt']) {
      await writeFile(alice, p(`/alice/${name}`), bytesOf(name), { mode: 'create' });
    }
    const bad = await resolve(alice, p('/alice/bad.txt'));
    await removeFile(alice, p('/alice/good.txt'));
    await removeFile(alice, p('/alice/bad.txt'));
    // Someone with the directory's database breaks the signature of bad.txt's tombstone.
    const db = new Database(join(dir.dataDir, 'directory.db'));
    try {
      const row = db
        .prepare<[string], { envelope: Buffer }>('SELECT envelope FROM entries WHERE id = ?')
        .get(bad.body.id)!;
      const broken = Buffer.from(row.envelope);
      broken[broken.length - 1]! ^= 1;
      db.prepare('UPDATE entries SET envelope = ? WHERE id = ?').run(broken, bad.body.id);
    } finally {
      db.close();
    }
    // The trash still lists: the bad one as refused, with no path.
    const trash = await listTrash(alice);
    expect(trash.find((t) => t.path === '/alice/good.txt')?.refused).toBeUndefined();
    expect(trash.filter((t) => t.refused !== undefined)).toMatchObject([
      { path: null, kind: 'file' },
    ]);
    expect(await restore(alice, p('/alice/good.txt'))).toBe(1);
    expect(await textOf(alice, p('/alice/good.txt'))).toBe('good.txt');
    await expectKindAsync('integrity', restore(alice, p('/alice/bad.txt')));
  });
});

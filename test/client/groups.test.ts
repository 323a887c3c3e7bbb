/**
 * Groups end to end in one process: a real directory over HTTPS (SQLite) and three real block
 * peers. A group stands where a user stands in a grant; changing its members re-applies every
 * entry shared with it (a new member reads at once, a removed one loses the entry at the
 * directory and their wrapped key); direct and group grants combine; folders pass group grants
 * on; a restore expands groups as they are now; a revocation signs the groups again. From the
 * attacker's side: a group record forged, or rolled back, by the directory.
 */
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FileContext, readFile, removeFile, writeFile } from '../../src/client/files.js';
import { restore } from '../../src/client/restore.js';
import { revocate } from '../../src/client/revocation.js';
import { deleteGroup, getGroup, listGroups, saveGroup } from '../../src/client/groups.js';
import { list, mkdir, resolve } from '../../src/client/namespace.js';
import { permissions, share, sharedWithMe, unshare } from '../../src/client/sharing.js';
import { SigningKeyPair } from '../../src/crypto/keys.js';
import { parseGrantWords } from '../../src/interface/grants.js';
import { parseGrantee, parseGroupName } from '../../src/interface/groups.js';
import { parseUserName, type UserName } from '../../src/interface/names.js';
import { parsePath } from '../../src/interface/paths.js';
import { decodeDirEntryUnverified } from '../../src/wire/dir-entry.js';
import { decodeEntryAclUnverified } from '../../src/wire/entry-acl.js';
import { signGroup } from '../../src/wire/group.js';
import { bytesOf, startAgents, textOf } from '../helpers/agents.js';
import type { TestDirectory } from '../helpers/directory.js';
import { expectKindAsync } from '../helpers/expect-error.js';

const u = (...names: string[]): UserName[] => names.map(parseUserName);

describe('groups', () => {
  let agents: { close(): Promise<void> } | undefined;
  let dir: TestDirectory;
  const users = ['alice', 'bob', 'carol', 'dave', 'erin', 'frank'] as const;
  const ctx = {} as Record<(typeof users)[number], FileContext>;
  const p = (text: string) => parsePath(text, parseUserName('alice'));
  const team = parseGroupName('team');
  const db = () => new Database(join(dir.dataDir, 'directory.db'));

  /** The current envelope of alice's entry at `path`, as the directory stores it. */
  async function stored(path: string) {
    const entry = await resolve(ctx.alice, p(path));
    return decodeDirEntryUnverified(entry.envelope);
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

  it('makes, lists and reads groups; only their owner has them', async () => {
    const { alice, bob } = ctx;
    const made = await saveGroup(alice, team, { create: u('carol', 'bob') });
    expect(made).toMatchObject({ name: 'team', version: 1, members: ['bob', 'carol'] });
    expect(made).toMatchObject({ created: true, entries: 0 });
    expect((await getGroup(alice, team)).members).toEqual(['bob', 'carol']);
    expect((await listGroups(alice)).map((g) => g.name)).toEqual(['team']);
    // bob sees none of alice's groups, and has none of that name himself.
    expect(await listGroups(bob)).toEqual([]);
    await expectKindAsync('not-exist', getGroup(bob, team));
    await expectKindAsync('exist', saveGroup(alice, team, { create: u('dave') }));
    await expectKindAsync('invalid', saveGroup(alice, team, { add: u('alice') }));
    await expectKindAsync('not-exist', saveGroup(alice, team, { add: u('nobody') }));
    await expectKindAsync('not-exist', saveGroup(alice, parseGroupName('nope'), { add: u('bob') }));
    expect((await getGroup(alice, team)).version).toBe(1);
  });

  it('touch f.txt @team r: members read, others do not even see it', async () => {
    const { alice, bob, carol, dave } = ctx;
    await writeFile(alice, p('/alice/f.txt'), bytesOf('for the team'), {
      mode: 'create',
      grants: parseGrantWords(['@team', 'r']),
    });
    expect(await textOf(bob, p('/alice/f.txt'))).toBe('for the team');
    expect(await textOf(carol, p('/alice/f.txt'))).toBe('for the team');
    await expectKindAsync('permission', writeFile(bob, p('/alice/f.txt'), bytesOf('no')));
    await expectKindAsync('not-exist', readFile(dave, p('/alice/f.txt')));
    expect(await list(dave, p('/alice'))).toEqual([]);
    // The certificate keeps the grant as given; its readers are the members.
    const body = await stored('/alice/f.txt');
    expect(body.acl).toEqual({ r: ['bob', 'carol'], w: [] });
    expect(decodeEntryAclUnverified(body.aclCert).grants).toEqual([{ user: '@team', right: 'r' }]);
    expect(await permissions(alice, p('/alice/f.txt'))).toMatchObject({
      grants: [{ user: '@team', right: 'r', members: ['bob', 'carol'] }],
      users: [
        { user: 'bob', right: 'r' },
        { user: 'carol', right: 'r' },
      ],
    });
    // bob sees the grant, not the members (only alice reads her groups).
    expect((await permissions(bob, p('/alice/f.txt'))).grants).toEqual([
      { user: '@team', right: 'r' },
    ]);
    await expectKindAsync(
      'not-exist',
      share(alice, p('/alice/f.txt'), parseGrantWords(['@nope', 'r'])),
    );
    // Only the owner shares, whatever group is named (bob has none): that is said first.
    await expectKindAsync(
      'permission',
      share(bob, p('/alice/f.txt'), parseGrantWords(['@team', 'w'])),
    );
    await expectKindAsync('permission', unshare(bob, p('/alice/f.txt'), [parseGrantee('@team')]));
  });

  it('group add team dave: dave reads at once', async () => {
    const { alice, dave } = ctx;
    const saved = await saveGroup(alice, team, { add: u('dave') });
    expect(saved).toMatchObject({ version: 2, members: ['bob', 'carol', 'dave'], entries: 1 });
    expect(await textOf(dave, p('/alice/f.txt'))).toBe('for the team');
    expect(await sharedWithMe(dave)).toMatchObject([{ owner: 'alice', name: 'f.txt', right: 'r' }]);
    // Saving what is already there changes nothing.
    expect(await saveGroup(alice, team, { add: u('dave') })).toMatchObject({
      version: 2,
      entries: 0,
    });
  });

  it('group remove team bob: the directory no longer serves bob the entry, and his key is gone', async () => {
    const { alice, bob, carol } = ctx;
    const before = await stored('/alice/f.txt');
    expect(Object.keys(before.keys)).toContain('bob');
    const saved = await saveGroup(alice, team, { remove: u('bob') });
    expect(saved).toMatchObject({ version: 3, members: ['carol', 'dave'], entries: 1 });
    await expectKindAsync('not-exist', readFile(bob, p('/alice/f.txt')));
    expect(await sharedWithMe(bob)).toEqual([]);
    const after = await stored('/alice/f.txt');
    expect(after.version).toBe(before.version + 1);
    expect(Object.keys(after.keys).sort()).toEqual(['alice', 'carol', 'dave']);
    expect(after.acl).toEqual({ r: ['carol', 'dave'], w: [] });
    expect(await textOf(carol, p('/alice/f.txt'))).toBe('for the team');
    await expectKindAsync('invalid', saveGroup(alice, team, { remove: u('bob') }));
  });

  it('combines direct and group grants: the stronger right wins; removing the group keeps the direct grant', async () => {
    const { alice, carol, dave } = ctx;
    await writeFile(alice, p('/alice/both.txt'), bytesOf('v1'), {
      mode: 'create',
      grants: parseGrantWords(['carol', 'r', '@team', 'w']),
    });
    // carol reads directly and writes through @team: she writes.
    await writeFile(carol, p('/alice/both.txt'), bytesOf('v2 by carol'));
    expect(await textOf(dave, p('/alice/both.txt'))).toBe('v2 by carol');
    expect((await stored('/alice/both.txt')).acl).toEqual({ r: [], w: ['carol', 'dave'] });

    // unshare carol: her own grant goes, but @team still lets her write, and the answer says so.
    const change = await unshare(alice, p('/alice/both.txt'), [parseGrantee('carol')]);
    expect(change.grants).toEqual([{ user: '@team', right: 'w' }]);
    expect(change.stillThrough).toEqual([{ user: 'carol', groups: ['@team'] }]);
    await writeFile(carol, p('/alice/both.txt'), bytesOf('v3 by carol'));
    // Only through the group now: unsharing her again says so instead of doing nothing.
    const again = await expectKindAsync(
      'invalid',
      unshare(alice, p('/alice/both.txt'), [parseGrantee('carol')]),
    );
    expect(again.message).toContain('only through @team');

    // Back to a direct read for carol; unsharing @team keeps it, and takes dave's right away.
    await share(alice, p('/alice/both.txt'), parseGrantWords(['carol', 'r']));
    const noGroup = await unshare(alice, p('/alice/both.txt'), [parseGrantee('@team')]);
    expect(noGroup.grants).toEqual([{ user: 'carol', right: 'r' }]);
    expect(noGroup.stillThrough).toBeUndefined();
    expect(await textOf(carol, p('/alice/both.txt'))).toBe('v3 by carol');
    await expectKindAsync('permission', writeFile(carol, p('/alice/both.txt'), bytesOf('no')));
    await expectKindAsync('not-exist', readFile(dave, p('/alice/both.txt')));
  });

  it('passes a folder shared with a group on to what is made in it, and follows the group', async () => {
    const { alice, carol, dave, erin } = ctx;
    await mkdir(alice, p('/alice/proj'), parseGrantWords(['@team', 'r']));
    await writeFile(alice, p('/alice/proj/a.txt'), bytesOf('alpha'), {
      mode: 'create',
      grants: parseGrantWords(['frank', 'r']),
    });
    expect(await textOf(carol, p('/alice/proj/a.txt'))).toBe('alpha');
    expect(await textOf(ctx.frank, p('/alice/a.txt'))).toBe('alpha');
    const perms = await permissions(alice, p('/alice/proj/a.txt'));
    expect(perms.grants).toEqual([
      { user: '@team', right: 'r', members: ['carol', 'dave'] },
      { user: 'frank', right: 'r' },
    ]);
    // erin joins: she reads the folder and the file in it.
    const saved = await saveGroup(alice, team, { add: u('erin') });
    expect(saved.entries).toBe(3); // f.txt, proj and a.txt (both.txt no longer names @team)
    expect((await list(erin, p('/alice/proj'))).map((e) => e.name)).toEqual(['a.txt']);
    expect(await textOf(erin, p('/alice/proj/a.txt'))).toBe('alpha');
    // dave leaves: gone from the folder and the file, frank keeps his own grant.
    await saveGroup(alice, team, { remove: u('dave') });
    await expectKindAsync('not-exist', readFile(dave, p('/alice/proj/a.txt')));
    expect(await textOf(ctx.frank, p('/alice/a.txt'))).toBe('alpha');
  });

  it('re-applies what a member wrote in a folder shared with the group (its folder’s certificate)', async () => {
    const { alice, carol, erin } = ctx;
    await mkdir(alice, p('/alice/inbox'), parseGrantWords(['@team', 'w']));
    await writeFile(erin, p('/alice/inbox/e.txt'), bytesOf('from erin'), { mode: 'create' });
    expect((await permissions(alice, p('/alice/inbox/e.txt'))).inherited).toBe(true);
    expect(await textOf(carol, p('/alice/inbox/e.txt'))).toBe('from erin');
    await saveGroup(alice, team, { remove: u('carol') });
    await expectKindAsync('not-exist', readFile(carol, p('/alice/inbox/e.txt')));
    expect(await textOf(erin, p('/alice/inbox/e.txt'))).toBe('from erin');
    expect(await textOf(alice, p('/alice/inbox/e.txt'))).toBe('from erin');
    await saveGroup(alice, team, { add: u('carol') });
    expect(await textOf(carol, p('/alice/inbox/e.txt'))).toBe('from erin');
  });

  it('restores a file shared with a group with the members the group has now', async () => {
    const { alice, carol, erin } = ctx;
    await writeFile(alice, p('/alice/old.txt'), bytesOf('old'), {
      mode: 'create',
      grants: parseGrantWords(['@team', 'r']),
    });
    await removeFile(alice, p('/alice/old.txt'));
    await saveGroup(alice, team, { remove: u('erin') });
    await restore(alice, p('/alice/old.txt'));
    await expectKindAsync('not-exist', readFile(erin, p('/alice/old.txt')));
    expect(await textOf(carol, p('/alice/old.txt'))).toBe('old');
    expect((await permissions(alice, p('/alice/old.txt'))).grants).toEqual([
      { user: '@team', right: 'r', members: ['carol'] },
    ]);
    await saveGroup(alice, team, { add: u('erin') });
    expect(await textOf(erin, p('/alice/old.txt'))).toBe('old');
  });

  it('deletes a group only when nothing uses it, or with force takes it off what does', async () => {
    const { alice, carol } = ctx;
    const err = await expectKindAsync('invalid', deleteGroup(alice, team));
    expect(err.message).toMatch(/^\d+ entries are shared with @team/);
    expect(await textOf(carol, p('/alice/f.txt'))).toBe('for the team');
    const deleted = await deleteGroup(alice, team, { force: true });
    expect(deleted.entries).toBeGreaterThanOrEqual(3);
    await expectKindAsync('not-exist', getGroup(alice, team));
    await expectKindAsync('not-exist', readFile(carol, p('/alice/f.txt')));
    expect((await permissions(alice, p('/alice/proj/a.txt'))).grants).toEqual([
      { user: 'frank', right: 'r' },
    ]);
    const unused = parseGroupName('unused');
    await saveGroup(alice, unused, { create: u('bob') });
    expect(await deleteGroup(alice, unused)).toEqual({ name: 'unused', entries: 0 });
    await expectKindAsync('not-exist', deleteGroup(alice, unused));
  });

  describe('a directory that forges or rolls back a group', () => {
    const crew = parseGroupName('crew');

    function setRow(envelope: Uint8Array, version: number): void {
      const conn = db();
      try {
        conn
          .prepare('UPDATE groups SET envelope = ?, version = ? WHERE owner = ? AND name = ?')
          .run(envelope, version, 'alice', crew);
      } finally {
        conn.close();
      }
    }

    it('refuses a group record not signed by its owner: nobody is added', async () => {
      const { alice } = ctx;
      const made = await saveGroup(alice, crew, { create: u('carol') });
      await writeFile(alice, p('/alice/crew.txt'), bytesOf('crew only'), {
        mode: 'create',
        grants: parseGrantWords(['@crew', 'r']),
      });
      const genuine = db()
        .prepare('SELECT envelope FROM groups WHERE owner = ? AND name = ?')
        .get('alice', crew) as { envelope: Uint8Array };
      // The directory (or anyone with its database) writes a record that adds bob.
      const forged = signGroup(SigningKeyPair.generate(), {
        owner: parseUserName('alice'),
        name: crew,
        version: 2,
        members: u('bob', 'carol'),
        time: Date.now(),
      });
      setRow(forged, 2);
      try {
        await expectKindAsync('integrity', listGroups(alice));
        await expectKindAsync('integrity', saveGroup(alice, crew, { add: u('dave') }));
        await expectKindAsync(
          'integrity',
          share(alice, p('/alice/crew.txt'), parseGrantWords(['@crew', 'w'])),
        );
        await expectKindAsync('not-exist', readFile(ctx.bob, p('/alice/crew.txt')));
      } finally {
        setRow(genuine.envelope, made.version);
      }
      expect((await getGroup(alice, crew)).members).toEqual(['carol']);
    });

    it('refuses an older version of a group than this device saw', async () => {
      const { alice } = ctx;
      const old = db()
        .prepare('SELECT envelope, version FROM groups WHERE owner = ? AND name = ?')
        .get('alice', crew) as { envelope: Uint8Array; version: number };
      await saveGroup(alice, crew, { remove: u('carol') });
      const current = db()
        .prepare('SELECT envelope, version FROM groups WHERE owner = ? AND name = ?')
        .get('alice', crew) as { envelope: Uint8Array; version: number };
      // The directory hands out the version that still lists carol.
      setRow(old.envelope, old.version);
      try {
        await expectKindAsync('integrity', getGroup(alice, crew));
        await expectKindAsync(
          'integrity',
          share(alice, p('/alice/crew.txt'), parseGrantWords(['@crew', 'w'])),
        );
      } finally {
        setRow(current.envelope, current.version);
      }
      expect((await getGroup(alice, crew)).members).toEqual([]);
      await expectKindAsync('not-exist', readFile(ctx.carol, p('/alice/crew.txt')));
    });
  });

  it('keeps the groups through a revocation: signed again by the new key, shared on as before', async () => {
    const { alice, carol, erin } = ctx;
    const club = parseGroupName('club');
    await saveGroup(alice, club, { create: u('carol') });
    await writeFile(alice, p('/alice/club.txt'), bytesOf('club news'), {
      mode: 'create',
      grants: parseGrantWords(['@club', 'r']),
    });
    await revocate(alice);
    expect(await getGroup(alice, club)).toMatchObject({ version: 2, members: ['carol'] });
    expect(await textOf(carol, p('/alice/club.txt'))).toBe('club news');
    expect(await saveGroup(alice, club, { add: u('erin') })).toMatchObject({ entries: 1 });
    expect(await textOf(erin, p('/alice/club.txt'))).toBe('club news');
  });
});

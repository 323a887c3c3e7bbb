/**
 * Groups at the directory, on both engines: the store keeps each user's groups (migration
 * 0004) with a compare-and-swap on the version; the routes let only the owner read and change
 * their groups, and store only records signed by the owner's current key, naming the owner and
 * the group of the path, at the next version, with members who are users. From the attacker's
 * side: another user reading, changing, replacing or deleting alice's groups; a record forged
 * or replayed under another name or version.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DirectoryClient, DirectorySession } from '../../src/client/directory-client.js';
import { SigningKeyPair } from '../../src/crypto/keys.js';
import type { DirectoryStore, GroupRecord } from '../../src/interface/directory-store.js';
import { parseGroupName } from '../../src/interface/groups.js';
import { parseUserName, type UserName } from '../../src/interface/names.js';
import { toBase64url } from '../../src/wire/base64.js';
import { type GroupsResponse, routes } from '../../src/wire/directory-api.js';
import { openGroup, signGroup } from '../../src/wire/group.js';
import {
  engines,
  goodPassword,
  startTestDirectory,
  type TestDirectory,
} from '../helpers/directory.js';
import { expectKindAsync } from '../helpers/expect-error.js';
import { storeEngines, storeHarness } from '../helpers/stores.js';

const now = 1_800_000_000_000;
const bytes = (n: number): Uint8Array => new Uint8Array(randomBytes(n));

let counter = 0;
function freshName(): UserName {
  counter += 1;
  return parseUserName(`g${counter}x${randomBytes(3).toString('hex')}`);
}

describe.each(storeEngines)('groups in the store on %s', (engine) => {
  const harness = storeHarness(engine);
  let store: DirectoryStore;
  let other: DirectoryStore;

  beforeAll(async () => {
    store = await harness.shared.open();
    other = await harness.shared.open();
  });
  afterAll(() => harness.cleanup());

  async function addUser(): Promise<UserName> {
    const name = freshName();
    await store.createUser(
      { name, createdAt: now, opaqueRecord: 'opaque', sealedKeys: bytes(80), role: 'user' },
      { user: name, seq: 0, envelope: bytes(120), hash: bytes(32) },
    );
    return name;
  }

  const record = (owner: UserName, name: string, version: number): GroupRecord => ({
    owner,
    name: parseGroupName(name),
    version,
    envelope: bytes(90),
    updatedAt: now + version,
  });

  it('creates, lists by name, reads and replaces groups, each owner apart', async () => {
    const alice = await addUser();
    const bob = await addUser();
    const team = record(alice, 'team', 1);
    await store.putGroup(team, 0);
    await store.putGroup(record(alice, 'alpha', 1), 0);
    await store.putGroup(record(bob, 'team', 1), 0);
    expect(await other.getGroup(alice, parseGroupName('team'))).toEqual(team);
    expect((await other.listGroups(alice)).map((g) => g.name)).toEqual(['alpha', 'team']);
    expect((await other.listGroups(bob)).map((g) => [g.owner, g.name])).toEqual([[bob, 'team']]);
    const next = record(alice, 'team', 2);
    await other.putGroup(next, 1);
    expect(await store.getGroup(alice, parseGroupName('team'))).toEqual(next);
    expect((await store.getGroup(bob, parseGroupName('team')))?.version).toBe(1);
    expect(await store.listGroups(await addUser())).toEqual([]);
  });

  it('is a compare-and-swap: exist on a second creation, conflict on a stale version', async () => {
    const alice = await addUser();
    await store.putGroup(record(alice, 'team', 1), 0);
    await expectKindAsync('exist', other.putGroup(record(alice, 'team', 1), 0));
    await store.putGroup(record(alice, 'team', 2), 1);
    await expectKindAsync('conflict', other.putGroup(record(alice, 'team', 2), 1));
    await expectKindAsync('invalid', store.putGroup(record(alice, 'team', 4), 2));
    // Of two concurrent changes from the same version, exactly one wins.
    const results = await Promise.allSettled([
      store.putGroup(record(alice, 'team', 3), 2),
      other.putGroup(record(alice, 'team', 3), 2),
    ]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    expect((await store.getGroup(alice, parseGroupName('team')))?.version).toBe(3);
  });

  it('deletes a group; a change of a deleted group is a conflict; an unknown owner not-exist', async () => {
    const alice = await addUser();
    await store.putGroup(record(alice, 'team', 1), 0);
    await other.deleteGroup(alice, parseGroupName('team'));
    expect(await store.getGroup(alice, parseGroupName('team'))).toBeUndefined();
    await expectKindAsync('not-exist', store.deleteGroup(alice, parseGroupName('team')));
    await expectKindAsync('conflict', store.putGroup(record(alice, 'team', 2), 1));
    // Made again, from version 1.
    await store.putGroup(record(alice, 'team', 1), 0);
    await expectKindAsync('not-exist', store.putGroup(record(freshName(), 'team', 1), 0));
  });
});

describe.each(engines)('the group routes on %s', (engine) => {
  let dir: TestDirectory;
  let client: DirectoryClient;
  const sessions = {} as Record<'alice' | 'bob' | 'carol', DirectorySession>;
  const team = parseGroupName('team');

  const list = (session: DirectorySession) =>
    client.call<GroupsResponse>('GET', routes.groups, undefined, session);
  const put = (
    session: DirectorySession,
    name: string,
    envelope: Uint8Array,
    expectedVersion: number,
  ) =>
    client.call(
      'PUT',
      routes.group.replace(':name', name),
      { envelope: toBase64url(envelope), expectedVersion },
      session,
    );
  const remove = (session: DirectorySession, name: string) =>
    client.call('DELETE', routes.group.replace(':name', name), undefined, session);
  const signed = (
    key: SigningKeyPair,
    owner: string,
    name: string,
    version: number,
    members: string[],
  ) =>
    signGroup(key, {
      owner: parseUserName(owner),
      name: parseGroupName(name),
      version,
      members: members.map(parseUserName),
      time: Date.now(),
    });

  beforeAll(async () => {
    dir = await startTestDirectory(engine);
    client = await dir.client();
    for (const user of ['alice', 'bob', 'carol'] as const) {
      await client.register(user, goodPassword(user));
      sessions[user] = await client.login(user, goodPassword(user));
    }
  }, 60_000);
  afterAll(async () => dir?.stop());

  it('stores the owner’s signed group and gives it back to the owner only', async () => {
    const { alice, bob } = sessions;
    const key = alice.identity.signing;
    expect(await put(alice, 'team', signed(key, 'alice', 'team', 1, ['bob', 'carol']), 0)).toEqual({
      name: 'team',
      version: 1,
    });
    expect(await put(alice, '@team', signed(key, 'alice', 'team', 2, ['carol']), 1)).toEqual({
      name: 'team',
      version: 2,
    });
    const { groups } = await list(alice);
    expect(groups.map((g) => [g.name, g.version])).toEqual([['team', 2]]);
    const opened = openGroup(
      Buffer.from(groups[0]!.envelope, 'base64url'),
      alice.identity.signing.publicKey,
    );
    expect(opened.members).toEqual(['carol']);
    // bob lists his own groups, none of alice's.
    expect(await list(bob)).toEqual({ groups: [] });
    await expectKindAsync('permission', client.call('GET', routes.groups));
  });

  it('does not let another user read, change, replace or delete alice’s groups', async () => {
    const { alice, bob } = sessions;
    const before = (await list(alice)).groups;
    // alice's own signed record, replayed by bob: not signed by bob's key.
    const alices = signed(alice.identity.signing, 'alice', 'team', 3, ['bob']);
    await expectKindAsync('integrity', put(bob, 'team', alices, 2));
    // bob signs a record that says it is alice's group: refused, it is not his to change.
    await expectKindAsync(
      'permission',
      put(bob, 'team', signed(bob.identity.signing, 'alice', 'team', 3, ['bob']), 2),
    );
    // bob's DELETE and PUT act on bob's own groups, never on alice's.
    await expectKindAsync('not-exist', remove(bob, 'team'));
    await put(bob, 'team', signed(bob.identity.signing, 'bob', 'team', 1, ['alice']), 0);
    expect((await list(alice)).groups).toEqual(before);
    await remove(bob, 'team');
    expect((await list(alice)).groups).toEqual(before);
  });

  it('refuses a record not signed by the owner’s current key, or with a wrong name or version', async () => {
    const { alice } = sessions;
    const key = alice.identity.signing;
    await expectKindAsync(
      'integrity',
      put(alice, 'team', signed(SigningKeyPair.generate(), 'alice', 'team', 3, ['bob']), 2),
    );
    await expectKindAsync('integrity', put(alice, 'team', new Uint8Array([1, 2, 3]), 2));
    // A version that does not follow the one expected, or a stale expected version.
    await expectKindAsync('invalid', put(alice, 'team', signed(key, 'alice', 'team', 4, []), 2));
    await expectKindAsync('invalid', put(alice, 'team', signed(key, 'alice', 'team', 2, []), 2));
    await expectKindAsync('conflict', put(alice, 'team', signed(key, 'alice', 'team', 2, []), 1));
    await expectKindAsync('exist', put(alice, 'team', signed(key, 'alice', 'team', 1, []), 0));
    // A record for another group, under this one's name.
    await expectKindAsync('invalid', put(alice, 'team', signed(key, 'alice', 'crew', 3, []), 2));
    // Members must be users here.
    await expectKindAsync(
      'not-exist',
      put(alice, 'team', signed(key, 'alice', 'team', 3, ['nobody']), 2),
    );
    await expectKindAsync('invalid', put(alice, 'Team', signed(key, 'alice', 'team', 3, []), 2));
    expect((await list(alice)).groups.map((g) => g.version)).toEqual([2]);
  });

  it('deletes the owner’s group', async () => {
    const { alice } = sessions;
    expect(await remove(alice, team)).toEqual({ name: 'team' });
    expect(await list(alice)).toEqual({ groups: [] });
    await expectKindAsync('not-exist', remove(alice, team));
    await expectKindAsync('permission', client.call('DELETE', routes.group.replace(':name', team)));
  });
});

/**
 * Group records (src/wire/group.ts) from the attacker's side: a record signed by anyone but
 * the owner, tampered with, or breaking its own rules (unsorted or repeated members, the owner
 * as a member, version 0) even when the owner's key signed it; and a signature made for a
 * group never verifies as another kind of message.
 */
import { describe, expect, it } from 'vitest';
import { SigningKeyPair } from '../../src/crypto/keys.js';
import { signMessage } from '../../src/crypto/sign.js';
import { maxGroupMembers, parseGroupName } from '../../src/interface/groups.js';
import { parseUserName, type UserName } from '../../src/interface/names.js';
import { openEntryAcl } from '../../src/wire/entry-acl.js';
import { type GroupRecordBody, openGroup, signGroup } from '../../src/wire/group.js';
import { expectKind, flipByte } from '../helpers/expect-error.js';

const [alice, bob, carol, dave] = ['alice', 'bob', 'carol', 'dave'].map(parseUserName) as [
  UserName,
  UserName,
  UserName,
  UserName,
];
const aliceKey = SigningKeyPair.generate();
const malloryKey = SigningKeyPair.generate();
const team = parseGroupName('team');

const groupOf = (members: UserName[], version = 1): GroupRecordBody => ({
  owner: alice,
  name: team,
  version,
  members,
  time: 1_800_000_000_000,
});

describe('group records', () => {
  const record = signGroup(aliceKey, groupOf([dave, bob, carol, bob]));

  it('round-trips with members sorted and once each; equal groups give equal bytes', () => {
    expect(openGroup(record, aliceKey.publicKey)).toEqual(groupOf([bob, carol, dave]));
    expect(signGroup(aliceKey, groupOf([carol, dave, bob]))).toEqual(record);
    expect(openGroup(signGroup(aliceKey, groupOf([])), aliceKey.publicKey).members).toEqual([]);
  });

  it('refuses a record signed by anyone but the owner', () => {
    const forged = signGroup(malloryKey, groupOf([bob, parseUserName('mallory')]));
    expectKind('integrity', () => openGroup(forged, aliceKey.publicKey));
  });

  it('refuses a tampered record', () => {
    for (const index of [record.length - 1, record.length - 70, Math.floor(record.length / 2)]) {
      expectKind('integrity', () => openGroup(flipByte(record, index), aliceKey.publicKey));
    }
  });

  it('refuses a body the owner signed that breaks the rules', () => {
    const body = { owner: 'alice', name: 'team', version: 1, members: ['bob', 'carol'], time: 1 };
    const variants: Record<string, unknown>[] = [
      { ...body, members: ['carol', 'bob'] }, // not sorted
      { ...body, members: ['bob', 'bob'] }, // twice
      { ...body, members: ['alice', 'bob'] }, // the owner
      { ...body, members: ['Bob'] },
      { ...body, members: 'bob' },
      { ...body, members: Array.from({ length: maxGroupMembers + 1 }, (_, i) => `u${1000 + i}`) },
      { ...body, version: 0 },
      { ...body, name: '@team' },
      { ...body, name: 'Team' },
      { ...body, owner: 'Not A User' },
      { ...body, extra: 1 },
      (({ time: _t, ...rest }) => rest)(body),
    ];
    for (const v of variants) {
      expectKind('integrity', () =>
        openGroup(signMessage(aliceKey, 'group', v as never), aliceKey.publicKey),
      );
    }
    // The same body, well formed, verifies: the variants fail for what they change.
    expect(openGroup(signMessage(aliceKey, 'group', body), aliceKey.publicKey).members).toEqual([
      bob,
      carol,
    ]);
  });

  it('refuses to sign the owner as a member, too many members or version 0', () => {
    expectKind('invalid', () => signGroup(aliceKey, groupOf([bob, alice])));
    const many = Array.from({ length: maxGroupMembers + 1 }, (_, i) => parseUserName(`u${i}`));
    expectKind('invalid', () => signGroup(aliceKey, groupOf(many)));
    expectKind('invalid', () => signGroup(aliceKey, groupOf([bob], 0)));
  });

  it('is never taken for another signed message, nor another for it', () => {
    expectKind('integrity', () => openEntryAcl(record, aliceKey.publicKey));
    const acl = signMessage(aliceKey, 'entry-acl', {
      owner: 'alice',
      name: 'team',
      version: 1,
      members: ['bob'],
      time: 1,
    });
    expectKind('integrity', () => openGroup(acl, aliceKey.publicKey));
  });
});

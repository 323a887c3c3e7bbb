/**
 * ACL certificates (src/wire/entry-acl.ts) from the attacker's side: a certificate forged by
 * someone other than the owner, tampered with, not matching the entry's ACL; a version signed by
 * a user the certificate does not let write; a writer who changes the certificate; a writer the
 * owner removed who replays the certificate that still named them.
 */
import { describe, expect, it } from 'vitest';
import { SigningKeyPair } from '../../src/crypto/keys.js';
import { newFileId } from '../../src/crypto/random.js';
import { signMessage } from '../../src/crypto/sign.js';
import { groupRef, parseGroupName } from '../../src/interface/groups.js';
import type { FileId } from '../../src/interface/ids.js';
import { parseUserName, type UserName } from '../../src/interface/names.js';
import {
  type AclClaim,
  checkEntryAuthority,
  checkWriterFollows,
  type EntryAclInput,
  isInheritedAcl,
  maxAclUsers,
  openEntryAcl,
  sameUsers,
  signEntryAcl,
} from '../../src/wire/entry-acl.js';
import { expectKind, flipByte } from '../helpers/expect-error.js';

const [alice, bob, carol, dave, mallory] = ['alice', 'bob', 'carol', 'dave', 'mallory'].map(
  parseUserName,
) as [UserName, UserName, UserName, UserName, UserName];
const team = groupRef(parseGroupName('team'));
const aliceKey = SigningKeyPair.generate();
const malloryKey = SigningKeyPair.generate();

const aclFor = (entry: FileId, r: UserName[], w: UserName[], version = 1): EntryAclInput => ({
  entry,
  owner: alice,
  version,
  r,
  w,
});

/** A version of `id` that carries `cert` and claims `acl` (by default, the certificate's). */
function claim(
  id: FileId,
  cert: Uint8Array,
  acl?: { r: UserName[]; w: UserName[] },
  version = 1,
): AclClaim {
  const opened = openEntryAcl(cert, aliceKey.publicKey);
  return {
    id,
    parent: newFileId(),
    owner: alice,
    version,
    acl: acl ?? { r: [...opened.r], w: [...opened.w] },
    aclCert: cert,
  };
}

describe('entry-acl', () => {
  const file = newFileId();
  const cert = signEntryAcl(aliceKey, aclFor(file, [dave, bob], [carol]));

  it('round-trips: readers and writers sorted, a user named as both kept as a writer', () => {
    const opened = openEntryAcl(cert, aliceKey.publicKey);
    expect(opened).toEqual({
      entry: file,
      owner: alice,
      version: 1,
      r: [bob, dave],
      w: [carol],
      // Without grants given, the certificate says its users were granted directly.
      grants: [
        { user: bob, right: 'r' },
        { user: carol, right: 'w' },
        { user: dave, right: 'r' },
      ],
    });
    const both = signEntryAcl(aliceKey, aclFor(file, [bob, carol], [carol, carol]));
    expect(openEntryAcl(both, aliceKey.publicKey)).toMatchObject({ r: [bob], w: [carol] });
    // Equal ACLs give equal bytes, whatever order they were given in.
    expect(signEntryAcl(aliceKey, aclFor(file, [bob, dave], [carol]))).toEqual(cert);
  });

  it('refuses a certificate signed by anyone but the owner', () => {
    const forged = signEntryAcl(malloryKey, aclFor(file, [mallory], []));
    expectKind('integrity', () => openEntryAcl(forged, aliceKey.publicKey));
    expectKind('integrity', () =>
      checkEntryAuthority(
        { ...claim(file, cert), acl: { r: [mallory], w: [] }, aclCert: forged },
        mallory,
        aliceKey.publicKey,
      ),
    );
  });

  it('refuses a tampered certificate', () => {
    for (const index of [cert.length - 1, cert.length - 70, Math.floor(cert.length / 2)]) {
      expectKind('integrity', () => openEntryAcl(flipByte(cert, index), aliceKey.publicKey));
    }
  });

  it('refuses a certificate body the owner signed that breaks its own rules', () => {
    const body = {
      entry: file,
      owner: alice,
      version: 1,
      r: [bob],
      w: [carol],
      grants: [
        ['bob', 'r'],
        ['carol', 'w'],
      ],
    };
    const variants: Record<string, unknown>[] = [
      { ...body, r: [bob], w: [bob] }, // both reader and writer
      { ...body, w: [alice] }, // the owner listed
      { ...body, r: [bob, bob] },
      { ...body, extra: 1 },
      (({ version: _v, ...rest }) => rest)(body),
      { ...body, r: ['Not A User'] },
      { ...body, entry: 'short' },
    ];
    for (const v of variants) {
      expectKind('integrity', () =>
        openEntryAcl(signMessage(aliceKey, 'entry-acl', v as never), aliceKey.publicKey),
      );
    }
  });

  it('keeps the grants as given, groups included, beside the users they came to', () => {
    const withGroup = signEntryAcl(aliceKey, {
      ...aclFor(file, [bob, dave], [carol]),
      grants: [
        { user: carol, right: 'w' },
        { user: team, right: 'r' },
        { user: team, right: 'r' },
      ],
    });
    expect(openEntryAcl(withGroup, aliceKey.publicKey).grants).toEqual([
      { user: '@team', right: 'r' },
      { user: carol, right: 'w' },
    ]);
    // What a group held is not known to a reader: any readers may have come from @team.
    expect(openEntryAcl(withGroup, aliceKey.publicKey).r).toEqual([bob, dave]);
  });

  it('refuses to sign grants that do not agree with the readers and writers', () => {
    const sign = (r: UserName[], w: UserName[], grants: EntryAclInput['grants']) =>
      signEntryAcl(aliceKey, { ...aclFor(file, r, w), grants });
    // carol granted w directly, but listed only as a reader.
    expectKind('invalid', () => sign([carol], [], [{ user: carol, right: 'w' }]));
    // A writer with no w grant and no group that writes.
    expectKind('invalid', () => sign([], [carol], [{ user: team, right: 'r' }]));
    // A reader nobody granted, with no group at all.
    expectKind('invalid', () => sign([bob, dave], [], [{ user: bob, right: 'r' }]));
    // The owner among the grants.
    expectKind('invalid', () => sign([], [], [{ user: alice, right: 'r' }]));
    // A group that writes may account for writers and readers alike.
    expect(() => sign([bob], [carol], [{ user: team, right: 'w' }])).not.toThrow();
  });

  it('refuses grants the owner signed that break the rules', () => {
    const body = {
      entry: file,
      owner: alice,
      version: 1,
      r: [bob],
      w: [carol],
      grants: [
        ['@team', 'r'],
        ['carol', 'w'],
      ],
    };
    const variants: Record<string, unknown>[] = [
      { ...body, grants: [body.grants[1], body.grants[0]] }, // not sorted
      {
        ...body,
        grants: [
          ['@team', 'r'],
          ['@team', 'w'],
          ['carol', 'w'],
        ],
      }, // a grantee twice
      {
        ...body,
        grants: [
          ['@team', 'x'],
          ['carol', 'w'],
        ],
      },
      {
        ...body,
        grants: [
          ['@Team', 'r'],
          ['carol', 'w'],
        ],
      },
      {
        ...body,
        grants: [
          ['@team', 'r', 'w'],
          ['carol', 'w'],
        ],
      },
      {
        ...body,
        grants: [
          ['@team', 'r'],
          ['alice', 'r'],
          ['carol', 'w'],
        ],
      }, // the owner
      {
        ...body,
        grants: [
          ['@team', 'r'],
          ['carol', 'r'],
        ],
      }, // a writer granted only r
      { ...body, grants: [['carol', 'w']] }, // bob from nowhere
      { ...body, grants: 'carol' },
      (({ grants: _g, ...rest }) => rest)(body),
    ];
    for (const v of variants) {
      expectKind('integrity', () =>
        openEntryAcl(signMessage(aliceKey, 'entry-acl', v as never), aliceKey.publicKey),
      );
    }
    expect(openEntryAcl(signMessage(aliceKey, 'entry-acl', body), aliceKey.publicKey).w).toEqual([
      carol,
    ]);
  });

  it('refuses to sign an ACL naming the owner or too many users', () => {
    expectKind('invalid', () => signEntryAcl(aliceKey, aclFor(file, [alice], [])));
    const many = Array.from({ length: maxAclUsers + 1 }, (_, i) => parseUserName(`u${i}`));
    expectKind('invalid', () => signEntryAcl(aliceKey, aclFor(file, many, [])));
  });

  it('refuses a version whose ACL does not match its certificate (reader slipped in, writer promoted, owner swapped)', () => {
    expectKind('integrity', () =>
      checkEntryAuthority(
        claim(file, cert, { r: [bob, dave, mallory], w: [carol] }),
        alice,
        aliceKey.publicKey,
      ),
    );
    expectKind('integrity', () =>
      checkEntryAuthority(
        claim(file, cert, { r: [dave], w: [carol, bob] }),
        carol,
        aliceKey.publicKey,
      ),
    );
    expectKind('integrity', () =>
      checkEntryAuthority({ ...claim(file, cert), owner: mallory }, mallory, aliceKey.publicKey),
    );
  });

  it('lets the owner and a writer sign a version, and refuses a reader or a stranger', () => {
    const version = claim(file, cert);
    expect(checkEntryAuthority(version, alice, aliceKey.publicKey).w).toEqual([carol]);
    expect(checkEntryAuthority(version, carol, aliceKey.publicKey).r).toEqual([bob, dave]);
    for (const signer of [bob, dave, mallory]) {
      expectKind('integrity', () => checkEntryAuthority(version, signer, aliceKey.publicKey));
    }
  });

  it('tells an inherited certificate (issued for the folder) from the entry’s own', () => {
    const folder = newFileId();
    const folderCert = signEntryAcl(aliceKey, aclFor(folder, [bob], [carol]));
    const child = newFileId();
    const inherited = claim(child, folderCert);
    expect(
      isInheritedAcl(inherited, checkEntryAuthority(inherited, carol, aliceKey.publicKey)),
    ).toBe(true);
    const own = claim(file, cert);
    expect(isInheritedAcl(own, checkEntryAuthority(own, alice, aliceKey.publicKey))).toBe(false);
  });

  it('refuses a writer who changes the certificate, even to one the owner signed', () => {
    const before = claim(file, cert);
    // The same certificate: allowed.
    checkWriterFollows(claim(file, cert, undefined, 2), carol, before, aliceKey.publicKey);
    // An older certificate of the owner's that made carol's friend dave a writer.
    const older = signEntryAcl(aliceKey, aclFor(file, [bob], [carol, dave]));
    const next = claim(file, older, undefined, 2);
    // It verifies on its own, so only the chain rule catches it.
    checkEntryAuthority(next, carol, aliceKey.publicKey);
    expectKind('integrity', () => checkWriterFollows(next, carol, before, aliceKey.publicKey));
    // A certificate carol made herself fails both.
    const own = signEntryAcl(malloryKey, aclFor(file, [bob, mallory], [carol]));
    const forged = { ...claim(file, cert, undefined, 2), acl: { r: [bob, mallory], w: [carol] } };
    expectKind('integrity', () =>
      checkWriterFollows({ ...forged, aclCert: own }, carol, before, aliceKey.publicKey),
    );
  });

  it('refuses a writer the owner removed, whichever certificate they carry', () => {
    const v1 = claim(file, cert); // carol writes
    const removedCert = signEntryAcl(aliceKey, aclFor(file, [bob, dave], [], 2));
    const v2 = claim(file, removedCert, undefined, 2); // the owner removes her
    checkEntryAuthority(v2, alice, aliceKey.publicKey);
    // Carol replays the certificate that still named her...
    const stale = claim(file, cert, undefined, 3);
    checkEntryAuthority(stale, carol, aliceKey.publicKey); // (valid on its own)
    expectKind('integrity', () => checkWriterFollows(stale, carol, v2, aliceKey.publicKey));
    // ...or carries the current one, which does not name her.
    const current = claim(file, removedCert, undefined, 3);
    expectKind('integrity', () => checkEntryAuthority(current, carol, aliceKey.publicKey));
    expectKind('integrity', () => checkWriterFollows(current, carol, v2, aliceKey.publicKey));
    // Before the removal she could.
    checkWriterFollows(claim(file, cert, undefined, 2), carol, v1, aliceKey.publicKey);
  });

  it('compares user lists (of distinct users) as sets', () => {
    expect(sameUsers([bob, carol], [carol, bob])).toBe(true);
    expect(sameUsers([bob], [bob, carol])).toBe(false);
    expect(sameUsers([bob, dave], [bob, carol])).toBe(false);
  });
});

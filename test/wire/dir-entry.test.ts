/**
 * Entry envelopes: round trip, strict decoding, signer checks.
 */
import { describe, expect, it } from 'vitest';
import { SigningKeyPair } from '../../src/crypto/keys.js';
import { newFileId } from '../../src/crypto/random.js';
import { signMessage } from '../../src/crypto/sign.js';
import { parseUserName } from '../../src/interface/names.js';
import { signEntryAcl } from '../../src/wire/entry-acl.js';
import {
  type DirEntryBody,
  grantsOf,
  openDirEntry,
  decodeDirEntryUnverified,
  signDirEntry,
} from '../../src/wire/dir-entry.js';
import { expectKind } from '../helpers/expect-error.js';

const owner = SigningKeyPair.generate();
const id = newFileId();
const acl = { r: [parseUserName('bob')], w: [parseUserName('carol')] };
const body: DirEntryBody = {
  id,
  parent: newFileId(),
  owner: parseUserName('alice'),
  version: 3,
  kind: 'file',
  tag: new Uint8Array(32).fill(1),
  name: Uint8Array.of(1, 2, 3),
  label: Uint8Array.of(5, 6),
  meta: Uint8Array.of(4),
  keys: { alice: Uint8Array.of(9), bob: Uint8Array.of(8), carol: Uint8Array.of(7) },
  acl,
  // A plain Uint8Array, as decoding gives (signing returns a Buffer).
  aclCert: new Uint8Array(
    signEntryAcl(owner, { entry: id, owner: parseUserName('alice'), version: 3, ...acl }),
  ),
  deleted: null,
  prev: new Uint8Array(32),
  time: 42,
};

describe('dir-entry', () => {
  it('round-trips through sign and open', () => {
    const { body: opened } = openDirEntry(signDirEntry(owner, body), [owner.publicKey]);
    expect(opened).toEqual(body);
    expect(decodeDirEntryUnverified(signDirEntry(owner, body))).toEqual(body);
  });

  it('lists grants with writers once, as w', () => {
    expect(
      grantsOf({
        ...body,
        acl: { r: [parseUserName('bob'), parseUserName('carol')], w: [parseUserName('carol')] },
      }),
    ).toEqual([
      { user: 'carol', right: 'w' },
      { user: 'bob', right: 'r' },
    ]);
  });

  it('refuses an untrusted signer', () => {
    expectKind('integrity', () =>
      openDirEntry(signDirEntry(owner, body), [SigningKeyPair.generate().publicKey]),
    );
  });

  it('refuses bodies with missing, extra or mistyped fields, even when properly signed', () => {
    const wire = { ...body, acl: { r: ['bob'], w: ['carol'] }, keys: { ...body.keys } } as Record<
      string,
      unknown
    >;
    const variants: Record<string, unknown>[] = [
      { ...wire, extra: 1 },
      (({ time: _t, ...rest }) => rest)(wire),
      { ...wire, version: 0 },
      { ...wire, kind: 'symlink' },
      { ...wire, owner: 'Not A User' },
      { ...wire, id: 'short' },
      { ...wire, tag: new Uint8Array(31) },
      { ...wire, acl: { r: ['bob', 'bob'], w: [] } },
      { ...wire, name: new Uint8Array(10_000) },
      { ...wire, label: new Uint8Array(10_000) },
      { ...wire, label: 'a name' },
      (({ label: _l, ...rest }) => rest)(wire),
      { ...wire, aclCert: new Uint8Array(33 * 1024) },
      { ...wire, aclCert: null },
      (({ aclCert: _c, ...rest }) => rest)(wire),
    ];
    for (const v of variants) {
      expectKind('integrity', () =>
        openDirEntry(signMessage(owner, 'dir-entry', v as never), [owner.publicKey]),
      );
    }
  });
});

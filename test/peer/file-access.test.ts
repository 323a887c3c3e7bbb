/**
 * Gate 3 of the block protocol (src/peer/file-access.ts) with real signed entries: who may
 * store and read a file's blocks, a block served only under its own file, files not (yet) at
 * the directory, entries the directory forged, ACLs that are not the owner's certificate, and
 * what happens when the directory is down.
 */
import { describe, expect, it } from 'vitest';
import { SigningKeyPair } from '../../src/crypto/keys.js';
import { newFileId } from '../../src/crypto/random.js';
import { FsError } from '../../src/interface/errors.js';
import type { BlockId, FileId } from '../../src/interface/ids.js';
import { parseUserName, type UserName } from '../../src/interface/names.js';
import { createFileAccess, fileAccessTtlMs } from '../../src/peer/file-access.js';
import type { BlockOp, Capability } from '../../src/wire/capability.js';
import { type DirEntryBody, signDirEntry } from '../../src/wire/dir-entry.js';
import { signEntryAcl } from '../../src/wire/entry-acl.js';
import { randomBlock } from '../helpers/block-network.js';
import { expectKindAsync } from '../helpers/expect-error.js';

const user = (name: string) => parseUserName(name);
const keys = new Map(
  ['alice', 'bob', 'carol', 'dave', 'mallory'].map((n) => [n, SigningKeyPair.generate()]),
);
const keyOf = (name: string) => keys.get(name)!;

/**
 * Alice's entry for `file` with `acl`, and her certificate of `cert` (the same ACL unless a test
 * makes them differ).
 */
function entry(
  file: FileId,
  acl: { r: string[]; w: string[] },
  cert: { r: string[]; w: string[] } = acl,
): DirEntryBody {
  const users = { r: acl.r.map(user), w: acl.w.map(user) };
  const certified = { r: cert.r.map(user), w: cert.w.map(user) };
  return {
    id: file,
    parent: newFileId(),
    owner: user('alice'),
    version: 1,
    kind: 'file',
    tag: new Uint8Array(32).fill(1),
    name: Uint8Array.of(1),
    label: Uint8Array.of(3),
    meta: Uint8Array.of(2),
    keys: Object.fromEntries(
      [user('alice'), ...users.r, ...users.w].map((u) => [u, Uint8Array.of(9)]),
    ),
    acl: users,
    aclCert: signEntryAcl(keyOf('alice'), {
      entry: file,
      owner: user('alice'),
      version: 1,
      ...certified,
    }),
    deleted: null,
    prev: new Uint8Array(32),
    time: 1,
  };
}

function world(options: { envelopes?: Map<FileId, Uint8Array> } = {}) {
  const envelopes = options.envelopes ?? new Map<FileId, Uint8Array>();
  const stored = new Map<BlockId, { user: UserName; file: FileId }>();
  let now = 1_000_000;
  let down = false;
  let fetches = 0;
  const check = createFileAccess({
    fetchEntry: (file) => {
      fetches += 1;
      if (down) return Promise.reject(new FsError('unavailable', 'directory down', { op: 't' }));
      const envelope = envelopes.get(file);
      return envelope
        ? Promise.resolve(envelope)
        : Promise.reject(new FsError('not-exist', 'no such file', { op: 't' }));
    },
    signingKey: (name) => {
      const key = keys.get(name);
      return key
        ? Promise.resolve(key.publicKey)
        : Promise.reject(new FsError('not-exist', 'no such user', { op: 't' }));
    },
    storedUnder: (block) => stored.get(block)?.file,
    storedBy: (block, by, file) =>
      stored.get(block)?.user === by && stored.get(block)?.file === file,
    now: () => now,
  });
  const cap = (issuer: string, file: FileId): Capability => ({
    issuer: user(issuer),
    file,
    ops: ['put', 'get', 'has', 'challenge'],
    blocks: [],
    audience: new Uint8Array(32),
    issuedAt: now,
    expiresAt: now + 60_000,
  });
  return {
    envelopes,
    stored,
    may: (issuer: string, op: BlockOp, file: FileId, block: BlockId) =>
      check(cap(issuer, file), op, block),
    advance: (ms: number) => (now += ms),
    setDown: (value: boolean) => (down = value),
    fetches: () => fetches,
  };
}

describe('file access at a peer', () => {
  const file = newFileId();
  const shared = () => {
    const w = world();
    w.envelopes.set(file, signDirEntry(keyOf('alice'), entry(file, { r: ['bob'], w: ['carol'] })));
    return w;
  };

  it('lets the owner and writers store, and every grantee read, ask and prove', async () => {
    const w = shared();
    const { id } = randomBlock();
    for (const who of ['alice', 'carol']) await w.may(who, 'put', file, id);
    await expectKindAsync('permission', w.may('bob', 'put', file, id));
    await expectKindAsync('permission', w.may('mallory', 'put', file, id));
    for (const op of ['get', 'has', 'challenge'] as const) {
      for (const who of ['alice', 'bob', 'carol']) await w.may(who, op, file, id);
      await expectKindAsync('permission', w.may('mallory', op, file, id));
    }
  });

  it('serves a block only under the file it was stored under', async () => {
    const w = shared();
    const { id } = randomBlock();
    const other = newFileId();
    w.envelopes.set(other, signDirEntry(keyOf('alice'), entry(other, { r: ['mallory'], w: [] })));
    w.stored.set(id, { user: user('alice'), file });
    // Mallory may read `other`, but the block is one of `file`'s.
    await expectKindAsync('permission', w.may('mallory', 'get', other, id));
    await w.may('bob', 'get', file, id);
  });

  it('lets anyone store under a file the directory does not know, and only the storer read back', async () => {
    const w = world();
    const fresh = newFileId();
    const { id } = randomBlock();
    await w.may('mallory', 'put', fresh, id);
    w.stored.set(id, { user: user('alice'), file: fresh });
    await w.may('alice', 'get', fresh, id);
    await expectKindAsync('permission', w.may('mallory', 'get', fresh, id));
    await expectKindAsync('permission', w.may('alice', 'get', newFileId(), id));
  });

  it('refuses an entry that is not signed by its owner or a writer (forged by the directory)', async () => {
    const w = world();
    const forged = newFileId();
    w.envelopes.set(
      forged,
      signDirEntry(keyOf('mallory'), entry(forged, { r: ['mallory'], w: [] })),
    );
    await expectKindAsync('integrity', w.may('mallory', 'get', forged, randomBlock().id));
  });

  it('takes readers and writers from the owner-signed certificate, not from the ACL field', async () => {
    const w = world();
    const { id } = randomBlock();
    // The directory (or a writer) lists mallory in the ACL; alice's certificate does not.
    const inflated = newFileId();
    w.envelopes.set(
      inflated,
      signDirEntry(
        keyOf('alice'),
        entry(inflated, { r: ['bob', 'mallory'], w: [] }, { r: ['bob'], w: [] }),
      ),
    );
    await expectKindAsync('integrity', w.may('mallory', 'get', inflated, id));
    // A certificate signed by anyone but the owner is no certificate.
    const forged = newFileId();
    const body = entry(forged, { r: ['mallory'], w: [] });
    w.envelopes.set(
      forged,
      signDirEntry(keyOf('alice'), {
        ...body,
        aclCert: signEntryAcl(keyOf('mallory'), {
          entry: forged,
          owner: user('alice'),
          version: 1,
          r: [user('mallory')],
          w: [],
        }),
      }),
    );
    await expectKindAsync('integrity', w.may('mallory', 'get', forged, id));
  });

  it('refuses a version signed by a user the certificate does not let write', async () => {
    const w = world();
    const { id } = randomBlock();
    const file2 = newFileId();
    // Carol signs, and the ACL field names her a writer; the owner's certificate makes her a reader.
    const body = entry(file2, { r: [], w: ['carol'] }, { r: ['carol'], w: [] });
    w.envelopes.set(file2, signDirEntry(keyOf('carol'), body));
    await expectKindAsync('integrity', w.may('carol', 'put', file2, id));
    // Signed with a matching ACL by a reader: carol is no writer, so her key is not even tried.
    const file3 = newFileId();
    w.envelopes.set(file3, signDirEntry(keyOf('carol'), entry(file3, { r: ['carol'], w: [] })));
    await expectKindAsync('integrity', w.may('carol', 'get', file3, id));
    // Signed by a writer the certificate names: accepted, and a reader may still only read.
    const file4 = newFileId();
    w.envelopes.set(
      file4,
      signDirEntry(keyOf('carol'), entry(file4, { r: ['bob'], w: ['carol'] })),
    );
    await w.may('carol', 'put', file4, id);
    await w.may('bob', 'get', file4, id);
    await expectKindAsync('permission', w.may('bob', 'put', file4, id));
  });

  it('caches answers for a while, and keeps serving on the last one while the directory is down', async () => {
    const w = shared();
    const { id } = randomBlock();
    await w.may('bob', 'get', file, id);
    const fetched = w.fetches();
    // Bob's grant is withdrawn: peers learn it when the cached answer expires.
    w.envelopes.set(file, signDirEntry(keyOf('alice'), entry(file, { r: [], w: [] })));
    await w.may('bob', 'get', file, id);
    expect(w.fetches()).toBe(fetched);
    w.advance(fileAccessTtlMs + 1);
    await expectKindAsync('permission', w.may('bob', 'get', file, id));

    w.setDown(true);
    w.advance(fileAccessTtlMs + 1);
    await w.may('alice', 'get', file, id);
    await expectKindAsync('unavailable', w.may('alice', 'get', newFileId(), id));
  });

  it('decides a refusal on a fresh answer: a file created or shared a moment ago works at once', async () => {
    const w = world();
    const fresh = newFileId();
    const { id } = randomBlock();
    // The owner's blocks go out before the entry: the peer learns "no such file".
    await w.may('alice', 'put', fresh, id);
    w.stored.set(id, { user: user('alice'), file: fresh });
    // The entry appears, shared with bob; bob's read is not refused on the cached answer.
    w.envelopes.set(fresh, signDirEntry(keyOf('alice'), entry(fresh, { r: ['bob'], w: [] })));
    await w.may('bob', 'get', fresh, id);
    // A later grant works at once too, and a stranger is still refused after a fresh look.
    w.envelopes.set(
      fresh,
      signDirEntry(keyOf('alice'), entry(fresh, { r: ['bob', 'dave'], w: [] })),
    );
    await w.may('dave', 'get', fresh, id);
    const before = w.fetches();
    await expectKindAsync('permission', w.may('mallory', 'get', fresh, id));
    expect(w.fetches()).toBe(before + 1);
  });
});

/**
 * Gate 3 of the block protocol (src/peer/file-access.ts) with real signed entries: who may
 * store and read a file's blocks, a block served only under its own file, files not (yet) at
 * the directory, entries the directory forged, and what happens when the directory is down.
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
import { randomBlock } from '../helpers/block-network.js';
import { expectKindAsync } from '../helpers/expect-error.js';

const user = (name: string) => parseUserName(name);
const keys = new Map(
  ['alice', 'bob', 'carol', 'mallory'].map((n) => [n, SigningKeyPair.generate()]),
);
const keyOf = (name: string) => keys.get(name)!;

function entry(file: FileId, acl: { r: string[]; w: string[] }): DirEntryBody {
  return {
    id: file,
    parent: newFileId(),
    owner: user('alice'),
    version: 1,
    kind: 'file',
    tag: new Uint8Array(32).fill(1),
    name: Uint8Array.of(1),
    meta: Uint8Array.of(2),
    keys: {},
    acl: { r: acl.r.map(user), w: acl.w.map(user) },
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
});

/**
 * The peer's half of garbage collection: real signed releases, a memory block store and a real
 * block record. Only the owner's releases, for the file the block was stored under, delete
 * anything; forged or misdirected ones delete nothing; progress survives a restart; a failing
 * directory is tried again.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { blockIdOf } from '../../src/crypto/block-id.js';
import { SigningKeyPair } from '../../src/crypto/keys.js';
import { newFileId } from '../../src/crypto/random.js';
import type { BlockStore } from '../../src/interface/block-store.js';
import { FsError } from '../../src/interface/errors.js';
import type { BlockId, FileId } from '../../src/interface/ids.js';
import { parseUserName, type UserName } from '../../src/interface/names.js';
import { type BlockRefs, createBlockRefs } from '../../src/peer/block-refs.js';
import { createMemoryBlockStore } from '../../src/peer/blockstore/memory-store.js';
import {
  type LoggedRelease,
  type ReleasePage,
  type ReleaseSweeper,
  type ReleaseSweeperInit,
  releasePageOf,
  startReleaseSweeper,
} from '../../src/peer/release-sweeper.js';
import { toBase64url } from '../../src/wire/base64.js';
import { signBlockRelease } from '../../src/wire/block-release.js';
import { expectKindAsync, flipByte } from '../helpers/expect-error.js';

const alice = parseUserName('alice');
const bob = parseUserName('bob');
const carol = parseUserName('carol'); // unknown to the directory
const keys = new Map<UserName, SigningKeyPair>([
  [alice, SigningKeyPair.generate()],
  [bob, SigningKeyPair.generate()],
]);
const keyOf = (user: UserName): SigningKeyPair => keys.get(user)!;
const mallory = SigningKeyPair.generate();

let dir: string;
let store: BlockStore;
let refs: BlockRefs;
/** The directory's release log. */
let log: LoggedRelease[];
let events: Record<string, unknown>[];
const sweepers: ReleaseSweeper[] = [];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pv-sweep-'));
  store = createMemoryBlockStore({ capacity: 64 * 1024 * 1024 });
  refs = await createBlockRefs({ path: join(dir, 'block-refs.log') });
  log = [];
  events = [];
});
afterEach(async () => {
  await Promise.all(sweepers.splice(0).map((s) => s.stop()));
  await refs.close();
  await store.close();
  await rm(dir, { recursive: true, force: true });
});

/** Stores `count` blocks as `user` under `file`, as the block routes would. */
async function stored(user: UserName, file: FileId, count = 3): Promise<BlockId[]> {
  const ids: BlockId[] = [];
  for (let i = 0; i < count; i++) {
    const bytes = new Uint8Array(randomBytes(256));
    const id = blockIdOf(bytes);
    await store.put(id, bytes);
    refs.record(id, user, file);
    ids.push(id);
  }
  return ids;
}

/** Appends a release to the directory's log, signed by `signer` (the user's key by default). */
function post(
  user: UserName,
  file: FileId,
  blocks: readonly BlockId[],
  signer: SigningKeyPair = keyOf(user),
): number {
  const seq = (log.at(-1)?.seq ?? 0) + 1 + (log.length % 2); // gaps are allowed
  log.push({ seq, envelope: signBlockRelease(signer, { user, file, blocks, time: Date.now() }) });
  return seq;
}

/** The directory's GET /v1/releases over `log`, `limit` per page. */
const directoryPages =
  (limit = 2) =>
  (after: number): Promise<ReleasePage> => {
    const releases = log.filter((r) => r.seq > after).slice(0, limit);
    return Promise.resolve({ releases, next: releases.at(-1)?.seq ?? after });
  };

function start(overrides: Partial<ReleaseSweeperInit> = {}): ReleaseSweeper {
  const sweeper = startReleaseSweeper({
    fetchPage: directoryPages(),
    userKey: (user) => {
      const key = keys.get(user);
      return key === undefined
        ? Promise.reject(new FsError('not-exist', 'no such user', { op: 'keys' }))
        : Promise.resolve(key.publicKey);
    },
    refs,
    store,
    statePath: join(dir, 'release-sweep.json'),
    intervalMs: 60_000,
    log: (event) => events.push(event),
    ...overrides,
  });
  sweepers.push(sweeper);
  return sweeper;
}

const present = async (ids: readonly BlockId[]): Promise<boolean[]> =>
  Promise.all(ids.map((id) => store.has(id)));

describe('the release sweeper', () => {
  it('deletes the blocks its owner released, and forgets them; leaves the rest', async () => {
    const file = newFileId();
    const released = await stored(alice, file, 5);
    const keptSameFile = await stored(alice, file, 2);
    const othersFile = await stored(bob, newFileId(), 2);
    const seq = post(alice, file, released);
    const summary = await start().sweepNow();
    expect(summary).toEqual({ released: 5, refused: 0 });
    expect(await present(released)).toEqual(released.map(() => false));
    expect(await present([...keptSameFile, ...othersFile])).toEqual([true, true, true, true]);
    for (const id of released) expect(refs.matches(id, alice, file)).toBe(false);
    expect(events).toContainEqual({
      event: 'block.released',
      seq,
      user: alice,
      released: 5,
      kept: 0,
    });
    // The log names no block, and certainly no contents.
    const text = JSON.stringify(events);
    for (const id of released) expect(text).not.toContain(id);
  });

  it('deletes nothing for a release by another user, even validly signed by them', async () => {
    const file = newFileId();
    const blocks = await stored(alice, file);
    post(bob, file, blocks);
    expect(await start().sweepNow()).toEqual({ released: 0, refused: 0 });
    expect(await present(blocks)).toEqual([true, true, true]);
    for (const id of blocks) expect(refs.matches(id, alice, file)).toBe(true);
    expect(events).toContainEqual(
      expect.objectContaining({ event: 'block.released', released: 0, kept: 3 }),
    );
  });

  it('deletes nothing for a release by the owner under another file id', async () => {
    const file = newFileId();
    const blocks = await stored(alice, file);
    post(alice, newFileId(), blocks);
    expect(await start().sweepNow()).toEqual({ released: 0, refused: 0 });
    expect(await present(blocks)).toEqual([true, true, true]);
  });

  it('deletes nothing for a forged or tampered release, and says so', async () => {
    const file = newFileId();
    const blocks = await stored(alice, file);
    const forged = post(alice, file, blocks, mallory); // claims alice, signed by mallory
    const tamperedSeq = post(alice, file, blocks);
    const tampered = log.at(-1)!;
    tampered.envelope = flipByte(tampered.envelope, tampered.envelope.length - 5);
    const garbageSeq = (log.at(-1)?.seq ?? 0) + 1;
    log.push({ seq: garbageSeq, envelope: new Uint8Array(randomBytes(120)) });
    const unknown = post(carol, file, blocks, SigningKeyPair.generate());
    expect(await start().sweepNow()).toEqual({ released: 0, refused: 4 });
    expect(await present(blocks)).toEqual([true, true, true]);
    expect(events.filter((e) => e['event'] === 'release.refused').map((e) => e['seq'])).toEqual([
      forged,
      tamperedSeq,
      garbageSeq,
      unknown,
    ]);
    // Refused releases are not read again.
    expect(await sweepers[0]!.sweepNow()).toEqual({ released: 0, refused: 0 });
  });

  it('keeps its place across a restart: nothing is read twice', async () => {
    const file = newFileId();
    const first = await stored(alice, file);
    post(alice, file, first);
    post(bob, newFileId(), await stored(bob, newFileId(), 1)); // bob's, of his own blocks
    const fetched: number[] = [];
    const fetchPage = (after: number) => {
      fetched.push(after);
      return directoryPages()(after);
    };
    const before = start({ fetchPage });
    await before.sweepNow();
    await before.stop();
    const last = log.at(-1)!.seq;
    expect(JSON.parse(await readFile(join(dir, 'release-sweep.json'), 'utf8'))).toEqual({
      v: 1,
      after: last,
    });

    const second = await stored(alice, file, 2);
    const secondSeq = post(alice, file, second);
    fetched.length = 0;
    events.length = 0;
    const after = start({ fetchPage });
    expect(await after.sweepNow()).toEqual({ released: 2, refused: 0 });
    expect(fetched[0]).toBe(last);
    expect(events.filter((e) => e['event'] === 'block.released').map((e) => e['seq'])).toEqual([
      secondSeq,
    ]);
  });

  it('reads every page, saving its place after each', async () => {
    const file = newFileId();
    const all: BlockId[] = [];
    for (let i = 0; i < 7; i++) {
      const blocks = await stored(alice, file, 1);
      all.push(...blocks);
      post(alice, file, blocks);
    }
    const saved: number[] = [];
    const fetchPage = async (after: number) => {
      saved.push(
        (
          JSON.parse(await readFile(join(dir, 'release-sweep.json'), 'utf8').catch(() => '{}')) as {
            after?: number;
          }
        ).after ?? 0,
      );
      return directoryPages(3)(after);
    };
    expect(await start({ fetchPage }).sweepNow()).toEqual({ released: 7, refused: 0 });
    expect(await present(all)).toEqual(all.map(() => false));
    expect(saved).toEqual([0, log[2]!.seq, log[5]!.seq, log[6]!.seq]);
  });

  it('tries a failing directory again: at once by hand, and at the next interval', async () => {
    const file = newFileId();
    const blocks = await stored(alice, file);
    post(alice, file, blocks);
    let failures = 2;
    const fetchPage = (after: number) => {
      if (failures > 0) {
        failures -= 1;
        return Promise.reject(new FsError('unavailable', 'directory down', { op: 'test' }));
      }
      return directoryPages()(after);
    };
    const sweeper = start({ fetchPage, intervalMs: 20 });
    await expectKindAsync('unavailable', sweeper.sweepNow());
    expect(events).toContainEqual({ event: 'release.sweep-failed', kind: 'unavailable' });
    expect(await present(blocks)).toEqual([true, true, true]);
    // The interval's sweeps fail once more, then succeed.
    await vi.waitFor(async () => expect(await present(blocks)).toEqual([false, false, false]), {
      timeout: 2_000,
    });
    expect(failures).toBe(0);
  });

  it('stops at a key it cannot fetch, without skipping the release, and resumes later', async () => {
    const file = newFileId();
    const blocks = await stored(alice, file);
    post(alice, file, blocks);
    let down = true;
    const sweeper = start({
      userKey: (user) =>
        down
          ? Promise.reject(new FsError('unavailable', 'directory down', { op: 'test' }))
          : Promise.resolve(keyOf(user).publicKey),
    });
    await expectKindAsync('unavailable', sweeper.sweepNow());
    expect(await present(blocks)).toEqual([true, true, true]);
    down = false;
    expect(await sweeper.sweepNow()).toEqual({ released: 3, refused: 0 });
  });

  it('never runs two sweeps at once', async () => {
    const file = newFileId();
    post(alice, file, await stored(alice, file));
    let inFlight = 0;
    let most = 0;
    const fetchPage = async (after: number) => {
      inFlight += 1;
      most = Math.max(most, inFlight);
      await new Promise((resolve) => setTimeout(resolve, 10));
      inFlight -= 1;
      return directoryPages()(after);
    };
    const sweeper = start({ fetchPage });
    const [a, b] = await Promise.all([sweeper.sweepNow(), sweeper.sweepNow()]);
    expect(a).toEqual({ released: 3, refused: 0 });
    expect(b).toBe(a);
    expect(most).toBe(1);
  });

  it('starts from the beginning on an unreadable state (harmless), and refuses sweeps once stopped', async () => {
    await writeFile(join(dir, 'release-sweep.json'), 'garbage');
    const file = newFileId();
    const blocks = await stored(alice, file);
    post(alice, file, blocks);
    const sweeper = start();
    expect(events).toContainEqual(expect.objectContaining({ event: 'release.state-unreadable' }));
    expect(await sweeper.sweepNow()).toEqual({ released: 3, refused: 0 });
    await sweeper.stop();
    await sweeper.stop();
    await expectKindAsync('unavailable', sweeper.sweepNow());
  });
});

describe('releasePageOf', () => {
  it('decodes envelopes, and turns a malformed one into a release that will be refused', () => {
    const envelope = signBlockRelease(keyOf(alice), {
      user: alice,
      file: newFileId(),
      blocks: [blockIdOf(new Uint8Array(1))],
      time: 1,
    });
    const page = releasePageOf({
      releases: [
        { seq: 1, envelope: toBase64url(envelope) },
        { seq: 2, envelope: '!!not base64url' },
      ],
      next: 2,
    });
    expect(page.next).toBe(2);
    expect(Buffer.from(page.releases[0]!.envelope)).toEqual(Buffer.from(envelope));
    expect(page.releases[1]!.envelope.length).toBe(0);
  });

  it('refuses an answer that is not a page', () => {
    for (const answer of [
      null,
      {},
      { releases: [], next: '1' },
      { releases: [{ envelope: '' }], next: 1 },
    ]) {
      expect(() => releasePageOf(answer as never)).toThrow(FsError);
    }
  });
});

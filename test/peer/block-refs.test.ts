/**
 * The record of who stored each block: persistence across reopening, first record wins,
 * forgetting, compaction of dead lines, and what a crash can leave behind (a torn last line).
 */
import { randomBytes } from 'node:crypto';
import { appendFile, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type BlockId, blockIdFromBytes, fileIdFromBytes } from '../../src/interface/ids.js';
import { parseUserName } from '../../src/interface/names.js';
import {
  type BlockRefs,
  compactAfterDeadLines,
  createBlockRefs,
} from '../../src/peer/block-refs.js';
import { expectKind } from '../helpers/expect-error.js';

const alice = parseUserName('alice');
const bob = parseUserName('bob');
const fileA = fileIdFromBytes(randomBytes(16));
const fileB = fileIdFromBytes(randomBytes(16));
const newBlockId = (): BlockId => blockIdFromBytes(randomBytes(32));

let dir: string;
let path: string;
const opened: BlockRefs[] = [];
const open = async (): Promise<BlockRefs> => {
  const refs = await createBlockRefs({ path });
  opened.push(refs);
  return refs;
};
const lineCount = async (): Promise<number> =>
  (await readFile(path, 'utf8')).split('\n').filter((l) => l.length > 0).length;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pv-refs-'));
  path = join(dir, 'block-refs.log');
});
afterEach(async () => {
  await Promise.all(opened.splice(0).map((refs) => refs.close()));
  await rm(dir, { recursive: true, force: true });
});

describe('block refs', () => {
  it('starts empty without a log, and creates it private (0600)', async () => {
    const refs = await open();
    const id = newBlockId();
    expect(refs.matches(id, alice, fileA)).toBe(false);
    expect(refs.size).toBe(0);
    refs.record(id, alice, fileA);
    expect((await stat(path)).mode & 0o777).toBe(0o600);
  });

  it('matches only the user and the file that stored the block', async () => {
    const refs = await open();
    const id = newBlockId();
    refs.record(id, alice, fileA);
    expect(refs.matches(id, alice, fileA)).toBe(true);
    expect(refs.matches(id, bob, fileA)).toBe(false);
    expect(refs.matches(id, alice, fileB)).toBe(false);
    expect(refs.matches(newBlockId(), alice, fileA)).toBe(false);
  });

  it('survives reopening', async () => {
    const first = await open();
    const ids = Array.from({ length: 20 }, newBlockId);
    for (const id of ids) first.record(id, alice, fileA);
    await first.close();
    const again = await open();
    expect(again.size).toBe(20);
    for (const id of ids) expect(again.matches(id, alice, fileA)).toBe(true);
  });

  it('keeps the first record: a later put by someone else takes nothing over', async () => {
    const refs = await open();
    const id = newBlockId();
    refs.record(id, alice, fileA);
    refs.record(id, bob, fileB);
    refs.record(id, alice, fileB);
    expect(refs.matches(id, alice, fileA)).toBe(true);
    expect(refs.matches(id, bob, fileB)).toBe(false);
    expect(refs.matches(id, alice, fileB)).toBe(false);
    expect(await lineCount()).toBe(1); // repeated puts do not grow the log
    await refs.close();
    const again = await open();
    expect(again.matches(id, alice, fileA)).toBe(true);
    expect(again.matches(id, bob, fileB)).toBe(false);
  });

  it('forgets, durably, and a forgotten block can be recorded anew', async () => {
    const refs = await open();
    const gone = newBlockId();
    const kept = newBlockId();
    refs.record(gone, alice, fileA);
    refs.record(kept, alice, fileA);
    refs.forget(gone);
    refs.forget(newBlockId()); // absent: fine, and writes nothing
    expect(refs.matches(gone, alice, fileA)).toBe(false);
    expect(await lineCount()).toBe(3);
    await refs.close();
    const again = await open();
    expect(again.matches(gone, alice, fileA)).toBe(false);
    expect(again.matches(kept, alice, fileA)).toBe(true);
    again.record(gone, bob, fileB);
    expect(again.matches(gone, bob, fileB)).toBe(true);
  });

  it('compacts a log with many dead lines at load, atomically, keeping every live record', async () => {
    const refs = await open();
    const live = Array.from({ length: 10 }, newBlockId);
    for (const id of live) refs.record(id, bob, fileB);
    for (let i = 0; i < compactAfterDeadLines; i++) {
      const id = newBlockId();
      refs.record(id, alice, fileA);
      refs.forget(id);
    }
    await refs.close();
    expect(await lineCount()).toBe(10 + 2 * compactAfterDeadLines);
    const again = await open();
    expect(await lineCount()).toBe(10);
    expect(again.size).toBe(10);
    for (const id of live) expect(again.matches(id, bob, fileB)).toBe(true);
    expect((await readdir(dir)).sort()).toEqual(['block-refs.log']); // no temporary file left
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    // It goes on appending after the rewrite.
    const more = newBlockId();
    again.record(more, alice, fileA);
    await again.close();
    expect((await open()).matches(more, alice, fileA)).toBe(true);
  });

  it('leaves a log with few dead lines as it is', async () => {
    const refs = await open();
    for (let i = 0; i < 10; i++) {
      const id = newBlockId();
      refs.record(id, alice, fileA);
      refs.forget(id);
    }
    await refs.close();
    const before = await readFile(path, 'utf8');
    await open();
    expect(await readFile(path, 'utf8')).toBe(before);
  });

  it('ignores a torn last line from a crash, and appends on a fresh line after it', async () => {
    const refs = await open();
    const kept = newBlockId();
    refs.record(kept, alice, fileA);
    await refs.close();
    const torn = newBlockId();
    const whole = JSON.stringify({ op: 'put', id: torn, user: 'bob', file: fileB });
    await appendFile(path, whole.slice(0, whole.length - 9)); // no newline: cut mid-write
    const again = await open();
    expect(again.matches(kept, alice, fileA)).toBe(true);
    expect(again.matches(torn, bob, fileB)).toBe(false);
    expect(again.size).toBe(1);
    const next = newBlockId();
    again.record(next, bob, fileB);
    await again.close();
    const third = await open();
    expect(third.matches(kept, alice, fileA)).toBe(true);
    expect(third.matches(next, bob, fileB)).toBe(true);
  });

  it('skips lines that do not parse or name invalid ids', async () => {
    const good = newBlockId();
    await writeFile(
      path,
      [
        'not json',
        JSON.stringify({ op: 'put', id: 'short', user: 'alice', file: fileA }),
        JSON.stringify({ op: 'put', id: newBlockId(), user: 'Not A User', file: fileA }),
        JSON.stringify({ op: 'put', id: newBlockId(), user: 'alice' }),
        JSON.stringify({ op: 'move', id: newBlockId() }),
        '[]',
        JSON.stringify({ op: 'put', id: good, user: 'alice', file: fileA }),
        '',
      ].join('\n'),
      { mode: 0o600 },
    );
    const refs = await open();
    expect(refs.size).toBe(1);
    expect(refs.matches(good, alice, fileA)).toBe(true);
  });

  it('refuses writes once closed (unavailable); close is idempotent', async () => {
    const refs = await open();
    await refs.close();
    await refs.close();
    expectKind('unavailable', () => refs.record(newBlockId(), alice, fileA));
  });
});

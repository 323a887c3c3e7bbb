/**
 * Garbage collection's owner side against a real directory: a retention value that is missing
 * or nonsensical (as a misbehaving directory could announce) purges nothing; a valid one
 * purges only what has been in the trash long enough.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collectGarbage } from '../../src/client/garbage.js';
import { type AgentContext, mkdir, rmdir } from '../../src/client/namespace.js';
import { parseUserName } from '../../src/interface/names.js';
import { parsePath } from '../../src/interface/paths.js';
import { routes } from '../../src/wire/directory-api.js';
import { goodPassword, startTestDirectory, type TestDirectory } from '../helpers/directory.js';
import { expectKindAsync } from '../helpers/expect-error.js';

describe('collectGarbage', () => {
  let dir: TestDirectory;
  let alice: AgentContext;
  const p = (text: string) => parsePath(text, parseUserName('alice'));
  const trashSize = async () =>
    (
      await alice.directory.call<{ entries: unknown[] }>(
        'GET',
        routes.trash,
        undefined,
        alice.session,
      )
    ).entries.length;

  beforeAll(async () => {
    dir = await startTestDirectory('sqlite');
    const client = await dir.client();
    await client.register('alice', goodPassword('alice'));
    alice = { directory: client, session: await client.login('alice', goodPassword('alice')) };
    await mkdir(alice, p('/alice/old'));
    await rmdir(alice, p('/alice/old'));
  }, 60_000);
  afterAll(async () => dir?.stop());

  it('purges nothing when the retention is missing, negative or not a number', async () => {
    for (const retentionMs of [undefined, -1, Number.NaN, '0'] as unknown as number[]) {
      await expectKindAsync('unavailable', collectGarbage(alice, { retentionMs, now: Date.now() }));
    }
    expect(await trashSize()).toBe(1);
  });

  it('keeps what is younger than the retention and purges what is older', async () => {
    const now = Date.now();
    expect(await collectGarbage(alice, { retentionMs: 3_600_000, now })).toEqual({
      purged: 0,
      releasedBlocks: 0,
      kept: 1,
    });
    expect(await collectGarbage(alice, { retentionMs: 0, now: now + 1 })).toEqual({
      purged: 1,
      releasedBlocks: 0,
      kept: 0,
    });
    expect(await trashSize()).toBe(0);
  });
});

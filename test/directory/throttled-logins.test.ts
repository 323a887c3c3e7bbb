/**
 * The coalescing of throttled login attempts (src/directory/throttled-logins.ts) over a real
 * store: a flood of refusals becomes one record per account and address and flush, carrying
 * their number; an unknown account is named by nobody; the pair table is bounded.
 */
import { afterAll, describe, expect, it } from 'vitest';
import {
  createThrottledLogins,
  maxThrottledPairs,
  overflowSource,
} from '../../src/directory/throttled-logins.js';
import type { AuditRecord } from '../../src/interface/audit.js';
import type { DirectoryStore } from '../../src/interface/directory-store.js';
import { parseUserName } from '../../src/interface/names.js';
import { storeHarness } from '../helpers/stores.js';

const alice = parseUserName('alice');
const nobody = parseUserName('nobody-here');

describe('throttled login records', () => {
  const harness = storeHarness('sqlite');
  afterAll(() => harness.cleanup());

  async function world(flushMs = 3_600_000) {
    const store: DirectoryStore = await harness.fresh().open();
    await store.createUser(
      {
        name: alice,
        createdAt: 1,
        opaqueRecord: 'r',
        sealedKeys: new Uint8Array(8),
        role: 'user',
      },
      { user: alice, seq: 0, envelope: new Uint8Array(50), hash: new Uint8Array(32) },
    );
    const errors: unknown[] = [];
    const log = createThrottledLogins({
      store,
      now: () => 1_700_000_000_000,
      flushMs,
      onError: (err) => errors.push(err),
    });
    const records = async (): Promise<AuditRecord[]> =>
      (await store.listAudit(0, 100_000)).filter((r) => r.event === 'login.throttled');
    return { store, log, errors, records };
  }

  it('writes one record per account and address with how many were refused', async () => {
    const { log, records } = await world();
    for (let i = 0; i < 5_000; i++) log.note(alice, '198.51.100.7');
    for (let i = 0; i < 3; i++) log.note(alice, '198.51.100.8');
    expect(await records()).toEqual([]); // nothing until the flush
    await log.flush();
    const got = await records();
    expect(got.map((r) => [r.source, r.subjects, JSON.parse(r.details) as unknown])).toEqual([
      ['198.51.100.7', ['alice'], { count: 5_000 }],
      ['198.51.100.8', ['alice'], { count: 3 }],
    ]);
    // The next flush starts from zero; an empty one writes nothing.
    log.note(alice, '198.51.100.7');
    await log.flush();
    await log.flush();
    expect((await records()).map((r) => JSON.parse(r.details) as unknown)).toEqual([
      { count: 5_000 },
      { count: 3 },
      { count: 1 },
    ]);
  });

  it('names nobody for an unknown account', async () => {
    const { log, records } = await world();
    log.note(nobody, '198.51.100.9');
    await log.close();
    const [record] = await records();
    expect(record?.subjects).toEqual([]);
    expect(record?.details).not.toContain('nobody-here');
    expect(JSON.parse(record!.details)).toEqual({ count: 1, unknownAccount: true });
  });

  it('flushes by itself after flushMs', async () => {
    const { log, records } = await world(50);
    log.note(alice, '198.51.100.7');
    log.note(alice, '198.51.100.7');
    for (let i = 0; i < 40 && (await records()).length === 0; i++) {
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    expect((await records()).map((r) => JSON.parse(r.details) as unknown)).toEqual([{ count: 2 }]);
    await log.close();
  });

  it('counts together, naming nobody, once the pair table is full', async () => {
    const { log, records } = await world();
    for (let i = 0; i < maxThrottledPairs; i++) {
      log.note(parseUserName(`u${i}`), '203.0.113.5');
    }
    // More names from more addresses: one count, however many there are.
    for (let i = 0; i < 50; i++) log.note(parseUserName(`late${i}`), `203.0.113.${i + 10}`);
    log.note(alice, '203.0.113.5');
    await log.flush();
    const got = await records();
    expect(got).toHaveLength(maxThrottledPairs + 1);
    expect(got.at(-1)).toMatchObject({ source: overflowSource, subjects: [] });
    expect(JSON.parse(got.at(-1)!.details)).toEqual({ count: 51, unknownAccount: true });
  }, 60_000);
});

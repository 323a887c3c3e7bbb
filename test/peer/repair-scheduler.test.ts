/**
 * The repair scheduler's triggers, with a live list the test controls: a joining peer starts
 * a pass at once; a departure only after the grace period, and not at all if the peer comes
 * back in time; passes never overlap. Scheduled audits: one each interval, never two at once;
 * a pass over a sample checks about that share of the blocks.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { newFileId } from '../../src/crypto/random.js';
import { blockIdFromBytes } from '../../src/interface/ids.js';
import { repairPass, startAuditSchedule, startRepairScheduler } from '../../src/peer/repair.js';
import type { Replicator } from '../../src/peer/replication.js';
import { expectKindAsync } from '../helpers/expect-error.js';

const wait = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('startRepairScheduler', () => {
  let stop: (() => void) | undefined;
  afterEach(() => stop?.());

  function scheduler(initial: string[], graceMs: number, passMs = 0) {
    const live = new Set(initial);
    let passes = 0;
    let running = 0;
    let overlapped = false;
    const errors: unknown[] = [];
    const started = startRepairScheduler({
      livePeers: () => Promise.resolve([...live]),
      runPasses: async () => {
        running += 1;
        if (running > 1) overlapped = true;
        passes += 1;
        await wait(passMs);
        running -= 1;
      },
      graceMs,
      intervalMs: 20,
      onError: (error) => errors.push(error),
    });
    stop = () => started.stop();
    return { live, passes: () => passes, overlapped: () => overlapped, errors };
  }

  it('runs nothing while the live set stays the same', async () => {
    const s = scheduler(['a', 'b', 'c'], 100);
    await wait(200);
    expect(s.passes()).toBe(0);
  });

  it('runs a pass soon after a peer joins', async () => {
    const s = scheduler(['a', 'b'], 10_000);
    await wait(60);
    s.live.add('d');
    await wait(400);
    expect(s.passes()).toBe(1);
    await wait(100);
    expect(s.passes()).toBe(1);
  });

  it('waits out the grace period before repairing for a peer that left', async () => {
    const s = scheduler(['a', 'b', 'c'], 300);
    await wait(60);
    s.live.delete('c');
    await wait(150);
    expect(s.passes()).toBe(0);
    await wait(700);
    expect(s.passes()).toBe(1);
    await wait(150);
    expect(s.passes()).toBe(1);
  });

  it('does nothing for a peer that comes back within the grace period', async () => {
    const s = scheduler(['a', 'b', 'c'], 300);
    await wait(60);
    s.live.delete('c');
    await wait(100);
    s.live.add('c');
    await wait(400);
    expect(s.passes()).toBe(0);
  });

  it('never runs two passes at once', async () => {
    const s = scheduler(['a'], 10_000, 150);
    await wait(60);
    s.live.add('b');
    await wait(40);
    s.live.add('c');
    await wait(900);
    expect(s.passes()).toBe(2);
    expect(s.overlapped()).toBe(false);
    expect(s.errors).toEqual([]);
  });
});

describe('startAuditSchedule', () => {
  it('audits every interval, the first within one, never two at once; 0 schedules nothing', async () => {
    let runs = 0;
    let running = 0;
    let overlapped = false;
    const audits = startAuditSchedule({ everyMs: 40 }, async () => {
      running += 1;
      if (running > 1) overlapped = true;
      runs += 1;
      await wait(100); // longer than the interval: the next ticks find it still running
      running -= 1;
    });
    await wait(400);
    audits.stop();
    expect(runs).toBeGreaterThanOrEqual(2);
    expect(overlapped).toBe(false);
    const after = runs;
    await wait(150);
    expect(runs).toBe(after);

    let never = 0;
    const off = startAuditSchedule({ everyMs: 0 }, () => {
      never += 1;
      return Promise.resolve();
    });
    await wait(100);
    off.stop();
    expect(never).toBe(0);
  });
});

describe('repairPass with a sample', () => {
  const blocks = Array.from({ length: 1000 }, (_, i) =>
    blockIdFromBytes(Uint8Array.from({ length: 32 }, (_, j) => (j < 2 ? (i >> (8 * j)) & 255 : 7))),
  );

  async function audited(sample: number | undefined): Promise<number> {
    let asked = 0;
    const summary = await repairPass({
      files: (async function* () {
        await Promise.resolve(); // an inventory walk is asynchronous
        yield { file: newFileId(), blocks, unreadable: 0 };
      })(),
      replicatorFor: () =>
        ({
          repairBlock: () => {
            asked += 1;
            return Promise.resolve({ holders: [], copied: [], bad: [] });
          },
        }) as unknown as Replicator,
      live: () => Promise.resolve([]),
      replicas: 0,
      audit: true,
      ...(sample === undefined ? {} : { sample }),
    });
    expect(summary.blocks).toBe(asked);
    return asked;
  }

  it('checks every block by default, and about the share asked for, drawn afresh each pass', async () => {
    expect(await audited(undefined)).toBe(1000);
    expect(await audited(1)).toBe(1000);
    const tenth = await audited(0.1);
    expect(tenth).toBeGreaterThan(40);
    expect(tenth).toBeLessThan(170);
  });

  it('refuses a share that is not above 0 and at most 1', async () => {
    for (const sample of [0, -1, 1.5, Number.NaN]) {
      await expectKindAsync('invalid', audited(sample));
    }
  });
});

/**
 * The repair scheduler's triggers, with a live list the test controls: a joining peer starts
 * a pass at once; a departure only after the grace period, and not at all if the peer comes
 * back in time; passes never overlap.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { startRepairScheduler } from '../../src/peer/repair.js';

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

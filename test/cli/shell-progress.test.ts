/**
 * The progress bar: silent off a terminal, throttled and informative on one.
 */
import { Writable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createProgress, formatBytes } from '../../src/cli/progress.js';

/** A stream that records what is written, claiming to be a terminal or not. */
function stream(isTTY: boolean): { stream: NodeJS.WriteStream; text: () => string } {
  let text = '';
  const writable = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      text += chunk.toString();
      callback();
    },
  });
  Object.assign(writable, { isTTY, columns: 100 });
  return { stream: writable as unknown as NodeJS.WriteStream, text: () => text };
}

describe('progress', () => {
  beforeEach(() => {
    vi.useFakeTimers();
    vi.setSystemTime(0);
  });
  afterEach(() => vi.useRealTimers());

  it('writes nothing when the stream is not a terminal', () => {
    const out = stream(false);
    const bar = createProgress('put big.bin', 10 * 1024 * 1024, out.stream);
    for (let i = 0; i < 10; i++) {
      vi.advanceTimersByTime(500);
      bar.advance(1024 * 1024);
    }
    bar.done();
    expect(out.text()).toBe('');
  });

  it('draws bytes, total, percent and speed on a terminal, and ends the line', () => {
    const out = stream(true);
    const bar = createProgress('put big.bin', 4 * 1024 * 1024, out.stream);
    vi.advanceTimersByTime(1000);
    bar.advance(2 * 1024 * 1024);
    expect(out.text()).toContain('50%');
    expect(out.text()).toContain('2.0 MiB / 4.0 MiB');
    expect(out.text()).toContain('2.0 MiB/s');
    bar.done();
    expect(out.text().endsWith('\n')).toBe(true);
  });

  it('redraws at most every 100 ms', () => {
    const out = stream(true);
    const bar = createProgress('get x', 1000, out.stream);
    vi.advanceTimersByTime(400);
    for (let i = 0; i < 50; i++) bar.advance(1);
    expect(out.text().split('\r').length - 1).toBe(1);
  });

  it('shows nothing for a transfer too short to need it', () => {
    const out = stream(true);
    const bar = createProgress('put small', 10, out.stream);
    bar.advance(10);
    bar.done();
    expect(out.text()).toBe('');
  });

  it('works without a total', () => {
    const out = stream(true);
    const bar = createProgress('get stream', undefined, out.stream);
    vi.advanceTimersByTime(1000);
    bar.advance(1536);
    expect(out.text()).toContain('1.5 KiB');
    expect(out.text()).not.toContain('%');
  });

  it('formats sizes in binary units', () => {
    expect(formatBytes(0)).toBe('0 B');
    expect(formatBytes(1023)).toBe('1023 B');
    expect(formatBytes(3 * 1024 * 1024)).toBe('3.0 MiB');
    expect(formatBytes(1.5 * 1024 ** 3)).toBe('1.5 GiB');
  });
});

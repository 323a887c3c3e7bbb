/**
 * `peervault directory --monitor NAME=VALUE,…`: names people type, counts and durations, and
 * clear refusals (a typo never leaves a default in place unnoticed).
 */
import { describe, expect, it } from 'vitest';
import { monitorSettingNames, parseMonitorSettings } from '../../src/cli/monitor-settings.js';
import { expectKind } from '../helpers/expect-error.js';

describe('--monitor', () => {
  it('sets counts and windows by their names', () => {
    expect(parseMonitorSettings('guessFailures=50, burstWindow=10m,scan=30s')).toEqual({
      guessFailures: 50,
      burstWindowMs: 600_000,
      scanMs: 30_000,
    });
    expect(monitorSettingNames).toContain('burstOverwrites');
  });

  it('refuses unknown names, bad values, repeats and windows under a second', () => {
    for (const text of [
      'guesFailures=5',
      'guessFailures=0',
      'guessFailures=1.5',
      'guessFailures',
      'burstWindow=10',
      'burstWindow=500ms',
      'guessFailures=5,guessFailures=6',
      '',
      '__proto__=1',
      'constructor=1',
    ]) {
      const error = expectKind('invalid', () => parseMonitorSettings(text));
      expect(error.message).toMatch(/^--monitor/);
    }
  });
});

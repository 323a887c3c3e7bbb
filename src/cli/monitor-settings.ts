/**
 * `peervault directory --monitor NAME=VALUE,…`: the security monitor's thresholds
 * (docs/monitor.md gives each one's rationale). Counts are whole numbers of at least 1; windows
 * (names ending in `Window`, and `scan`) are durations such as 10m. Unknown names, bad values
 * and repeated names are refused with the list of names, so a typo never leaves a default in
 * place unnoticed.
 */
import { FsError } from '../interface/errors.js';
import type { MonitorPolicy } from '../directory/config.js';
import { parseDuration } from './args.js';

/** The names people type, and the policy field each sets. */
const names = {
  guessFailures: 'guessFailures',
  guessWindow: 'guessWindowMs',
  sourceAccounts: 'sourceAccounts',
  sourceWindow: 'sourceWindowMs',
  probeRefusals: 'probeRefusals',
  probeWindow: 'probeWindowMs',
  burstDeletions: 'burstDeletions',
  burstOverwrites: 'burstOverwrites',
  burstWindow: 'burstWindowMs',
  authRefusals: 'authRefusals',
  authWindow: 'authWindowMs',
  scan: 'scanMs',
} as const satisfies Record<string, keyof MonitorPolicy>;

type Name = keyof typeof names;

/** Every name `--monitor` takes, for help and errors. */
export const monitorSettingNames: readonly string[] = Object.keys(names);

const isName = (word: string): word is Name => Object.hasOwn(names, word);

/**
 * Parses `text` (`NAME=VALUE,NAME=VALUE`) into the policy fields it sets.
 * @throws FsError `invalid`, naming what is wrong and the names allowed
 */
export function parseMonitorSettings(text: string): Partial<MonitorPolicy> {
  const op = '--monitor';
  const bad = (why: string) =>
    new FsError('invalid', `--monitor: ${why}; names: ${monitorSettingNames.join(', ')}`, { op });
  const settings: Partial<Record<keyof MonitorPolicy, number>> = {};
  for (const part of text.split(',')) {
    const match = /^\s*([A-Za-z]+)\s*=\s*(\S+)\s*$/.exec(part);
    if (match === null) throw bad(`"${part.trim()}" is not NAME=VALUE`);
    const [, word, value] = match as unknown as [string, string, string];
    if (!isName(word)) throw bad(`unknown name "${word}"`);
    const field = names[word];
    if (settings[field] !== undefined) throw bad(`${word} is given twice`);
    if (field.endsWith('Ms')) {
      const ms = parseDuration(value, `--monitor ${word}`);
      if (ms < 1000) throw bad(`${word} is at least 1s`);
      settings[field] = ms;
    } else {
      const count = Number(value);
      if (!/^\d+$/.test(value) || !Number.isSafeInteger(count) || count < 1) {
        throw bad(`${word} is a whole number of at least 1, not "${value}"`);
      }
      settings[field] = count;
    }
  }
  return settings;
}

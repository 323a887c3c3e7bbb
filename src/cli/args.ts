/**
 * A small, strict flag parser for subcommands: `--name value` and `--name=value`, booleans,
 * positional arguments; unknown flags are an `invalid` error that names them.
 */
import { parseArgs } from 'node:util';
import { FsError } from '../interface/errors.js';

/** Flag declarations: name → kind. */
export type FlagSpec = Record<string, { type: 'string' | 'boolean'; short?: string }>;

/** Parses `args` against `spec`. @throws FsError `invalid` on an unknown or malformed flag */
export function parseFlags<S extends FlagSpec>(
  args: readonly string[],
  spec: S,
  op: string,
): {
  flags: { [K in keyof S]?: S[K]['type'] extends 'string' ? string : boolean };
  positionals: string[];
} {
  try {
    const { values, positionals } = parseArgs({
      args: [...args],
      options: spec,
      allowPositionals: true,
      strict: true,
    });
    return { flags: values, positionals };
  } catch (err) {
    throw new FsError('invalid', (err as Error).message.replace(/\. To specify.*$/, ''), { op });
  }
}

const durationUnits: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

/** Parses durations such as 500ms, 30s, 10m, 2h or 30d. @throws FsError `invalid` */
export function parseDuration(text: string, flag: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/.exec(text.trim());
  const value = match ? Number(match[1]) * durationUnits[match[2]!]! : NaN;
  if (!Number.isFinite(value) || value > 3650 * 86_400_000) {
    throw new FsError(
      'invalid',
      `${flag} wants a duration such as 30s, 10m, 2h or 30d, not "${text}"`,
      {
        op: flag,
      },
    );
  }
  return Math.round(value);
}

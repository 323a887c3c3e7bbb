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

/**
 * The CLI entry: help, version, unknown commands and the exit-code table.
 */
import { describe, expect, it } from 'vitest';
import type { CommandIo } from '../../src/cli/command.js';
import { exitCodes, usageExitCode } from '../../src/cli/exit-codes.js';
import { commands, main } from '../../src/cli/main.js';
import { errorKinds } from '../../src/interface/errors.js';

function capture(): { io: CommandIo; out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { out: (t) => out.push(t), err: (t) => err.push(t) }, out, err };
}

describe('peervault CLI', () => {
  it('lists every command in --help', async () => {
    const c = capture();
    expect(await main(['--help'], c.io)).toBe(0);
    for (const command of commands) expect(c.out.join('\n')).toContain(command.name);
  });

  it('prints the package version', async () => {
    const c = capture();
    expect(await main(['--version'], c.io)).toBe(0);
    expect(c.out[0]).toMatch(/^\d+\.\d+\.\d+/);
  });

  it('names an unknown command and says what to do, with the usage exit code', async () => {
    const c = capture();
    expect(await main(['frobnicate'], c.io)).toBe(usageExitCode);
    expect(c.err.join('\n')).toContain('frobnicate');
    expect(c.err.join('\n')).toContain('--help');
  });

  it('gives every command its own --help', async () => {
    for (const command of commands) {
      const c = capture();
      expect(await main([command.name, '--help'], c.io)).toBe(0);
      expect(c.out.join('\n')).toMatch(new RegExp(`Usage:\\s+peervault ${command.name}`));
    }
  });

  it('has a distinct exit code for every error kind', () => {
    const codes = errorKinds.map((k) => exitCodes[k]);
    expect(new Set(codes).size).toBe(codes.length);
    expect(codes).not.toContain(0);
  });
});

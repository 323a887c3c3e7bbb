/**
 * The real `peervault` binary in a child process: help, version, exit codes, and no stack trace
 * for a user error.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const bin = fileURLToPath(new URL('../../bin/peervault.js', import.meta.url));

function peervault(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', timeout: 20_000 });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe('peervault binary', () => {
  it('prints help and exits 0', () => {
    const run = peervault('--help');
    expect(run.status).toBe(0);
    expect(run.stdout).toContain('Usage: peervault <command>');
  });

  it('prints its version', () => {
    const run = peervault('--version');
    expect(run.status).toBe(0);
    expect(run.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });

  it('refuses an unknown command with exit code 2, a hint, and no stack trace', () => {
    const run = peervault('frobnicate');
    expect(run.status).toBe(2);
    expect(run.stderr).toContain('peervault --help');
    expect(run.stderr).not.toMatch(/\n\s+at /);
  });

  it('documents the demo network, including --no-shell for scripts', () => {
    const run = peervault('demo', '--help');
    expect(run.status).toBe(0);
    expect(run.stdout).toContain('Usage: peervault demo');
    expect(run.stdout).toContain('--no-shell');
    expect(run.stdout).not.toContain('not yet');
  });
});

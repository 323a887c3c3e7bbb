/**
 * The seed's restore, with a writer in the way (issue 7, "Must hold"), through real processes:
 * `peervault demo --no-shell` with alice, bob and carol, every step in `peervault shell` or a
 * one-shot command found through ./.peervault/demo. Alice creates `touch team5.txt bob r carol w`
 * and writes it; carol, who may write, deletes it; carol's `restore` is refused; alice restores
 * it; bob reads the restored bytes, byte for byte, and the grants are as they were.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningProcess, startPeervault } from '../helpers/processes.js';

const bin = fileURLToPath(new URL('../../bin/peervault.js', import.meta.url));

interface Run {
  code: number | null;
  stdout: Buffer;
  out: string;
  stderr: string;
}

/** Runs `peervault ...args` in `cwd` with `input` on standard input; stdout kept as bytes. */
function pv(cwd: string, args: readonly string[], input = ''): Promise<Run> {
  const child = spawn(process.execPath, [bin, ...args], {
    cwd,
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, PEERVAULT_DEBUG: '' },
  });
  const out: Buffer[] = [];
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  child.stdin.end(input);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`peervault ${args.join(' ')} did not finish: ${stderr}`));
    }, 60_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      const stdout = Buffer.concat(out);
      resolve({ code, stdout, out: stdout.toString('utf8'), stderr });
    });
  });
}

describe("the seed's restore with a writer, on the demo network", () => {
  let cwd: string;
  let demo: RunningProcess<{ accounts: string }>;
  const passwords: Record<string, string> = {};
  /** What alice writes: 64 KiB of random bytes, then every byte value. */
  const content = Buffer.concat([randomBytes(64 * 1024), Buffer.from([...Array(256).keys()])]);

  /** The shell as `user` over a pipe: the password, then `lines`. */
  const shell = (user: string, lines: readonly string[]) =>
    pv(
      cwd,
      ['shell', '--user', user, '--password-stdin'],
      [passwords[user]!, ...lines].map((line) => `${line}\n`).join(''),
    );

  /** A one-shot command as `user`, logged in for that command only. */
  const as = (user: string, args: readonly string[]) =>
    pv(cwd, [...args, '--user', user, '--password-stdin'], `${passwords[user]!}\n`);

  beforeAll(async () => {
    cwd = mkdtempSync(join(tmpdir(), 'pv-restore-'));
    demo = await startPeervault(['demo', '--no-shell'], 30_000, {}, cwd);
    const accounts = JSON.parse(readFileSync(demo.ready.accounts, 'utf8')) as {
      accounts: { user: string; password: string }[];
    };
    for (const { user, password } of accounts.accounts) passwords[user] = password;
    writeFileSync(join(cwd, 'team5.bin'), content);
  }, 90_000);

  afterAll(async () => {
    await demo?.stop();
    if (cwd) rmSync(cwd, { recursive: true, force: true });
  });

  it('alice creates team5.txt for bob (r) and carol (w) and writes it', async () => {
    const run = await shell('alice', [
      'touch team5.txt bob r carol w',
      `put ${join(cwd, 'team5.bin')} team5.txt`,
    ]);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const bob = await as('bob', ['read', '/alice/team5.txt']);
    expect(bob.code, bob.stderr).toBe(0);
    expect(bob.stdout.equals(content)).toBe(true);
  });

  it('carol (writer) deletes it, and her restore is refused', async () => {
    const run = await shell('carol', [
      'rm /alice/team5.txt',
      'ls /alice',
      'restore /alice/team5.txt',
      'restore /alice/team5.txt -v 2',
    ]);
    expect(run.out).toBe('');
    expect(run.stderr).toBe(
      'error: only alice can restore their files\nerror: only alice can restore their files\n',
    );
    expect(run.code).toBe(1);
    const oneShot = await as('carol', ['restore', '/alice/team5.txt', '--json']);
    expect(oneShot.code).toBe(3);
    expect(JSON.parse(oneShot.out)).toMatchObject({ error: { kind: 'permission' } });

    // Bob no longer finds it; alice's trash has it, deleted by carol.
    expect((await as('bob', ['read', '/alice/team5.txt'])).code).toBe(5);
    const trash = await as('alice', ['trash', '--json']);
    expect(trash.code, trash.stderr).toBe(0);
    expect(JSON.parse(trash.out)).toEqual([
      expect.objectContaining({ path: '/alice/team5.txt', kind: 'file', deletedBy: 'carol' }),
    ]);
  });

  it('alice restores it; bob reads the restored bytes, byte-identical, and the grants are back', async () => {
    const run = await shell('alice', ['restore team5.txt', 'perms team5.txt']);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.out).toMatch(/^grants\s+bob \(read\), carol \(write\)$/m);

    const bob = await as('bob', ['read', '/alice/team5.txt']);
    expect(bob.code, bob.stderr).toBe(0);
    expect(bob.stdout.equals(content)).toBe(true);
    const got = await as('bob', ['get', '/alice/team5.txt', join(cwd, 'bob.bin')]);
    expect(got.code, got.stderr).toBe(0);
    expect(readFileSync(join(cwd, 'bob.bin')).equals(content)).toBe(true);

    // Carol may write again, and bob still may not.
    const carol = await shell('carol', ['cat -a /alice/team5.txt carol was here']);
    expect(carol).toMatchObject({ code: 0, stderr: '' });
    const refused = await shell('bob', ['rm /alice/team5.txt']);
    expect(refused.code).toBe(1);
    const after = await as('bob', ['read', '/alice/team5.txt']);
    expect(after.stdout.equals(Buffer.concat([content, Buffer.from('carol was here\n')]))).toBe(
      true,
    );
    expect((await as('alice', ['trash', '--json'])).out).toBe('[]\n');
  });
});

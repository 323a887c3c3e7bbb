/**
 * `peervault shell` as a user runs it, over a pipe: the real binary against a real directory
 * and three peers. The seed's session, a wrong password, two users who cannot see each other's
 * files, a 3 MiB file in and out byte for byte, and errors that do not stop the script.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { goodPassword } from '../helpers/directory.js';
import { type ProcessNetwork, startProcessNetwork } from '../helpers/process-network.js';

const bin = fileURLToPath(new URL('../../bin/peervault.js', import.meta.url));

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `peervault shell ...args` with `stdin` as its whole input. */
function peervault(args: string[], stdin: string): Promise<Run> {
  const child = spawn(process.execPath, [bin, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  child.stdin.end(stdin);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`peervault ${args.join(' ')} did not finish: ${stdout}\n${stderr}`));
    }, 60_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe('peervault shell', () => {
  let net: ProcessNetwork;
  let local: string;

  /** The shell at peer `peer` as `user`, password on the first line, then `lines`. */
  const shell = (user: string, lines: string[], peer = 0, password = goodPassword(user)) =>
    peervault(
      ['shell', '--peer', net.peers[peer]!.data, '--user', user, '--password-stdin'],
      [password, ...lines].map((l) => `${l}\n`).join(''),
    );

  beforeAll(async () => {
    net = await startProcessNetwork({ peers: 3 });
    await net.register('alice', goodPassword('alice'));
    await net.register('bob', goodPassword('bob'));
    local = mkdtempSync(join(tmpdir(), 'pv-shell-'));
  }, 120_000);

  afterAll(async () => {
    await net?.close();
    if (local) rmSync(local, { recursive: true, force: true });
  });

  it("runs the seed's session: touch, cat, read, ls, mkdir, rmdir, rm, restore", async () => {
    const run = await shell('alice', [
      'touch team5.txt',
      'cat team5.txt',
      'Hello from team 5',
      'second line',
      '.',
      'read team5.txt',
      'ls',
      'mkdir pcs',
      'touch pcs/notes.txt',
      'ls',
      'rmdir pcs',
      'rm pcs/notes.txt',
      'rmdir pcs',
      'rm team5.txt',
      'ls',
      'restore team5.txt',
      'read team5.txt',
      'restore team5.txt',
      'quit',
      'ls',
    ]);
    expect(run.stdout).toBe(
      'Hello from team 5\nsecond line\nteam5.txt\npcs/\nteam5.txt\nHello from team 5\nsecond line\n',
    );
    expect(run.stderr).toBe(
      'error: /alice/pcs is not empty; use `rmdir -r pcs` to delete it with everything in it\n' +
        'error: /alice/team5.txt is not in your trash (only its owner can restore a file)\n',
    );
    expect(run.code).toBe(1);
  });

  it('says only "Login failed" for a wrong password, and exits non-zero', async () => {
    const run = await shell('alice', ['ls'], 0, 'not the password at all');
    expect(run.stderr).toBe('Login failed\n');
    expect(run.stdout).toBe('');
    expect(run.code).toBe(3);
  });

  it("keeps alice's files from bob: ls /alice shows him nothing, and he can neither read, remove nor write them", async () => {
    const write = await shell('alice', ['cat diary.txt dear diary', 'mkdir private'], 1);
    expect(write).toMatchObject({ code: 0, stderr: '' });
    const run = await shell(
      'bob',
      [
        'ls /alice',
        'read /alice/diary.txt',
        'rm /alice/diary.txt',
        'ls /alice/private',
        'rmdir /alice/private',
        'cat /alice/diary.txt overwritten',
        'ls',
      ],
      2,
    );
    // `ls /alice` lists only what alice shares with bob: nothing, and no error.
    const errors = run.stderr.trim().split('\n');
    expect(errors).toHaveLength(5);
    for (const line of errors)
      expect(line).toMatch(/^error: (this entry is not shared|no such|you may not write)/);
    expect(run.stdout).toBe('');
    expect(run.code).toBe(1);
    const check = await shell('alice', ['read diary.txt', 'ls'], 0);
    expect(check.stdout).toBe('dear diary\ndiary.txt\nprivate/\nteam5.txt\n');
  });

  it('puts and gets a 3 MiB file byte for byte, and refuses to overwrite a local file', async () => {
    const original = randomBytes(3 * 1024 * 1024 + 17);
    writeFileSync(join(local, 'big.bin'), original);
    const run = await shell('alice', [
      'mkdir transfers',
      `put ${join(local, 'big.bin')} transfers`,
      `get transfers/big.bin ${join(local, 'back.bin')}`,
      `get transfers/big.bin ${join(local, 'back.bin')}`,
      'ls -l transfers',
    ]);
    expect(run.stdout).toContain('stored /alice/transfers/big.bin (3.0 MiB, version 1)');
    expect(run.stdout).toContain(`saved ${join(local, 'back.bin')}`);
    expect(run.stdout).toContain('file  v1  alice  alice  big.bin');
    expect(run.stderr).toBe(
      `error: ${join(local, 'back.bin')} already exists locally; choose another name\n`,
    );
    expect(Buffer.compare(readFileSync(join(local, 'back.bin')), original)).toBe(0);
  });

  it('goes on after errors: unknown command, missing argument, missing file; exit code 1', async () => {
    const run = await shell('alice', [
      'frobnicate',
      'read',
      'read no-such-file',
      'mkdir made-after-errors',
      'cd made-after-errors',
      'pwd',
    ]);
    expect(run.stderr).toBe(
      'error: unknown command "frobnicate"; type help for the list\n' +
        'error: usage: read FILE[@N]\n' +
        'error: no such file or directory: /alice/no-such-file\n',
    );
    expect(run.stdout).toBe('/alice/made-after-errors\n');
    expect(run.stderr).not.toMatch(/\n\s+at /);
    expect(run.code).toBe(1);
  });

  it("explains the grant grammar and the sharing commands' usage, creating nothing", async () => {
    const run = await shell('alice', [
      'touch g.txt bob',
      'touch g.txt bob x',
      'touch g.txt Bob r',
      'mkdir g bob r carol',
      'share',
      'share g.txt',
      'share g.txt bob',
      'unshare g.txt',
      'unshare g.txt Bob',
      'perms',
      'perms a b',
      'shared extra',
      'read g.txt',
    ]);
    const pairs = 'error: grants come in pairs: USER r|w|rw, for example `bob r carol w`';
    const shareUsage = 'error: usage: share FILE USER r|w|rw [USER RIGHT ...]';
    expect(run.stderr.split('\n')).toEqual([
      pairs,
      'error: unknown right "x": use r (read), w or rw (write and read)',
      'error: "Bob" is not a user name (a-z, 0-9, _ or -, starting with a letter): grants are USER r|w|rw pairs, for example `bob r carol w`',
      pairs,
      shareUsage,
      shareUsage,
      pairs,
      'error: usage: unshare FILE USER [USER ...]',
      'error: "Bob" is not a user name (a-z, 0-9, _ or -, starting with a letter); usage: unshare FILE USER [USER ...]',
      'error: usage: perms FILE',
      'error: usage: perms FILE',
      'error: usage: shared',
      'error: no such file or directory: /alice/g.txt',
      '',
    ]);
    expect(run.stdout).toBe('');
    expect(run.code).toBe(1);
  });

  it('help lists the sharing commands and explains each', async () => {
    const run = await shell('alice', ['help', 'help share', 'help touch', 'help shared']);
    expect(run).toMatchObject({ code: 0, stderr: '' });
    for (const usage of [
      'touch FILE [USER r|w|rw ...]',
      'mkdir [-p] DIR [USER r|w|rw ...]',
      'share FILE USER r|w|rw [USER RIGHT ...]',
      'unshare FILE USER [USER ...]',
      'perms FILE',
      'shared',
    ]) {
      expect(run.stdout).toContain(`  ${usage}  `);
    }
    expect(run.stdout).toContain('usage: share FILE USER r|w|rw [USER RIGHT ...]\n');
    expect(run.stdout).toContain('r reads; w (or rw) writes and reads');
    expect(run.stdout).toContain('usage: touch FILE [USER r|w|rw ...]\n');
    expect(run.stdout).toContain('usage: shared\n');
  });

  it('says what to do when the local peer is not answering', async () => {
    const run = await peervault(
      [
        'shell',
        '--peer',
        net.peers[0]!.data,
        '--api',
        'http://127.0.0.1:9',
        '--user',
        'alice',
        '--password-stdin',
      ],
      `${goodPassword('alice')}\nls\n`,
    );
    expect(run.stderr).toContain('is not answering; start it with');
    expect(run.code).toBe(13);
  });

  // Last, so that what these make does not show in the listings of the tests above.
  it('restores a chosen version: -v N on a live file, --version N from the trash', async () => {
    const run = await shell('alice', [
      'cat r.txt one',
      'cat r.txt two',
      'cat r.txt three',
      'restore r.txt -v 1',
      'read r.txt',
      'rm r.txt',
      'restore r.txt --version 2',
      'read r.txt',
      'restore r.txt -v 9',
      'restore r.txt -v x',
      'restore r.txt -v',
    ]);
    expect(run.stdout).toBe(
      [
        '/alice/r.txt: version 1 is now the newest (version 4)',
        'one',
        'restored r.txt from version 2 (now version 6)',
        'two',
        '',
      ].join('\n'),
    );
    expect(run.stderr).toBe(
      [
        'error: /alice/r.txt has no readable version 9; see `versions`',
        'error: -v is a version number such as 3, not "x"',
        'error: usage: restore FILE [--as NEWNAME] [-v N]',
        '',
      ].join('\n'),
    );
    expect(run.code).toBe(1);
  });

  it('shows and sets how long deleted files stay in the trash (retention)', async () => {
    const run = await shell('bob', [
      'retention',
      'retention 90d',
      'retention 1h',
      'retention default',
    ]);
    expect(run.stdout).toBe(
      [
        "deleted files stay in your trash for 30d (the directory's default; you may choose 1d to 3650d)",
        "deleted files stay in your trash for 90d (your setting; the directory's default is 30d; you may choose 1d to 3650d)",
        "deleted files stay in your trash for 30d (the directory's default; you may choose 1d to 3650d)",
        '',
      ].join('\n'),
    );
    expect(run.stderr).toBe(
      'error: a retention is between 1d and 3650d at this directory, not 1h\n',
    );
  });
});

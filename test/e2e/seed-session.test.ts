/**
 * The seed's own example, as a new user meets it: `peervault demo --no-shell` starts the
 * network, and `peervault shell` (found through ./.peervault/demo, no flags but the login)
 * runs the seed's commands on standard input. Every line of output is checked.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningProcess, startPeervault } from '../helpers/processes.js';

const bin = fileURLToPath(new URL('../../bin/peervault.js', import.meta.url));

function shell(cwd: string, user: string, password: string, lines: string[]) {
  const child = spawn(process.execPath, [bin, 'shell', '--user', user, '--password-stdin'], {
    cwd,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  child.stdin.end([password, ...lines].map((line) => `${line}\n`).join(''));
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) =>
    child.once('exit', (code) => resolve({ code, stdout, stderr })),
  );
}

/** Runs one one-shot command in `cwd`, logged in as `user` for it. */
function oneShot(cwd: string, user: string, password: string, args: string[]) {
  const child = spawn(process.execPath, [bin, ...args, '--user', user, '--password-stdin'], {
    cwd,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  child.stdin.end(`${password}\n`);
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) =>
    child.once('exit', (code) => resolve({ code, stdout, stderr })),
  );
}

describe("the seed's example session against the demo network", () => {
  let cwd: string;
  let demo: RunningProcess<{ accounts: string }>;
  let passwords: Record<string, string>;

  beforeAll(async () => {
    cwd = mkdtempSync(join(tmpdir(), 'pv-seed-'));
    demo = await startPeervault(['demo', '--no-shell'], 30_000, {}, cwd);
    const accounts = JSON.parse(readFileSync(demo.ready.accounts, 'utf8')) as {
      accounts: { user: string; password: string }[];
    };
    passwords = Object.fromEntries(accounts.accounts.map((a) => [a.user, a.password]));
  }, 60_000);

  afterAll(async () => {
    await demo?.stop();
    if (cwd) rmSync(cwd, { recursive: true, force: true });
  });

  it('touch, cat, read, rm, mkdir, rmdir, restore, revocate, quit', async () => {
    const run = await shell(cwd, 'alice', passwords['alice']!, [
      'touch team5.txt bob r carol w',
      'touch team5.txt',
      'cat team5.txt',
      'Team 5 meets on Thursday.',
      'Bring the laptops.',
      '.',
      'read team5.txt',
      'ls',
      'rm team5.txt',
      'ls',
      'mkdir pcs.txt',
      'ls',
      'rmdir pcs.txt',
      'ls',
      'restore team5.txt',
      'read team5.txt',
      'ls',
      'revocate',
      'quit',
    ]);
    const content = ['Team 5 meets on Thursday.', 'Bring the laptops.'];
    const [before, revocation] = run.stdout.split(/(?=Keys replaced for alice)/);
    expect(before).toBe(
      [...content, 'team5.txt', 'pcs.txt/', ...content, 'team5.txt', ''].join('\n'),
    );
    // revocate: new keys; team5.txt (shared with bob and carol) gets a new file key.
    expect(revocation).toMatch(/^Keys replaced for alice \(key log event 1\)/);
    expect(revocation).toContain('(1 file with a new file key)');
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
  });

  it('keeps what alice wrote from bob, through the same network', async () => {
    const wrote = await shell(cwd, 'alice', passwords['alice']!, ['cat notes.txt private']);
    expect(wrote).toMatchObject({ code: 0, stderr: '' });
    const run = await shell(cwd, 'bob', passwords['bob']!, [
      'ls /alice',
      'read /alice/notes.txt',
      'rm /alice/notes.txt',
    ]);
    // bob sees what alice shared with him (the seed's team5.txt), and nothing else of hers.
    expect(run.stdout).toBe('team5.txt\n');
    expect(run.stderr.trim().split('\n')).toHaveLength(2);
    expect(run.code).toBe(1);

    // Only the owner restores: alice deletes, bob's restore is refused, alice's works.
    expect(await shell(cwd, 'alice', passwords['alice']!, ['rm notes.txt'])).toMatchObject({
      code: 0,
    });
    const bobs = await shell(cwd, 'bob', passwords['bob']!, ['restore /alice/notes.txt']);
    expect(bobs.stderr).toBe('error: only alice can restore their files\n');
    expect(bobs.code).toBe(1);
    const back = await shell(cwd, 'alice', passwords['alice']!, [
      'restore notes.txt',
      'read notes.txt',
    ]);
    expect(back).toMatchObject({ code: 0, stdout: 'private\n', stderr: '' });
  });

  it('brings a deleted folder back with everything in it, and restores under another name', async () => {
    const run = await shell(cwd, 'alice', passwords['alice']!, [
      'mkdir box',
      'cat box/a.txt apples',
      'mkdir box/inner',
      'cat box/inner/b.txt bananas',
      'rmdir -r box',
      'restore box',
      'read box/a.txt',
      'read box/inner/b.txt',
      'cat c.txt first',
      'rm c.txt',
      'cat c.txt second',
      'restore c.txt',
      'restore c.txt --as c-old.txt',
      'read c-old.txt',
      'read c.txt',
    ]);
    expect(run.stdout).toBe('restored 4 entries\napples\nbananas\nfirst\nsecond\n');
    expect(run.stderr).toBe(
      'error: /alice/c.txt exists; restore under another name with --as NEWNAME\n',
    );
  });

  it('keeps every version: each reads back exactly, and versions lists them', async () => {
    const writes = Array.from({ length: 12 }, (_, n) => `cat v.txt version ${n + 1}`);
    const reads = Array.from({ length: 12 }, (_, n) => `read v.txt@${n + 1}`);
    const run = await shell(cwd, 'alice', passwords['alice']!, [
      ...writes,
      ...reads,
      'read v.txt',
      'versions v.txt',
      'read v.txt@99',
    ]);
    const lines = run.stdout.trim().split('\n');
    expect(lines.slice(0, 12)).toEqual(Array.from({ length: 12 }, (_, n) => `version ${n + 1}`));
    expect(lines[12]).toBe('version 12');
    const listed = lines.slice(13);
    expect(listed).toHaveLength(12);
    expect(listed[0]).toMatch(/^\s+1 {2}\d{4}-\d\d-\d\d \d\d:\d\d:\d\d {2}alice {2}10 bytes$/);
    expect(run.stderr).toBe('error: /alice/v.txt has no readable version 99; see `versions`\n');
  });

  it('purges from the trash for good, only when confirmed', async () => {
    const run = await shell(cwd, 'alice', passwords['alice']!, [
      'cat p.txt purge me',
      'rm p.txt',
      'trash purge p.txt',
      'trash purge -y p.txt',
      'restore p.txt',
    ]);
    expect(run.stdout).toBe('purged /alice/p.txt\n');
    expect(run.stderr).toBe(
      'error: purging cannot be undone; confirm with `trash purge -y p.txt`\n' +
        'error: /alice/p.txt is not in your trash (only its owner can restore a file)\n',
    );
  });

  it('raises no security alert for anyone in the whole session (no false alarms)', async () => {
    for (const user of ['alice', 'bob', 'carol']) {
      const run = await oneShot(cwd, user, passwords[user]!, ['alerts', '--json']);
      expect(run.code, run.stderr).toBe(0);
      expect(JSON.parse(run.stdout)).toEqual({ alerts: [], scope: 'own' });
    }
  }, 60_000);
});

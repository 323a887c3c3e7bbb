/**
 * The audit log with real processes: a `peervault directory` and a `peervault peer`, users who
 * register and log in through the one-shot commands, `peervault audit` showing each user the
 * events about them (and an admin, named with `peervault directory admin add`, all of them),
 * and `peervault audit verify` next to the directory, before and after the test edits the
 * directory's SQLite database by hand: it must fail at the record edited, and notice a tail cut
 * off after a checkpoint.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import SqliteDatabase from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { goodPassword } from '../helpers/directory.js';
import { type RunningProcess, startPeervault } from '../helpers/processes.js';

const bin = fileURLToPath(new URL('../../bin/peervault.js', import.meta.url));

interface Run {
  status: number | null;
  out: string;
  err: string;
}

/** Runs `peervault ...args` with `input` on standard input. */
function pv(args: readonly string[], input = ''): Promise<Run> {
  return new Promise<Run>((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...args], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, PEERVAULT_DEBUG: '' },
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.once('error', reject);
    child.once('close', (status) => {
      clearTimeout(timer);
      resolve({ status, out, err });
    });
    child.stdin.end(input);
  });
}

interface Verification {
  ok: boolean;
  records: number;
  lastCheckpoint: number;
  problems: { kind: string; seq: number; message: string }[];
}

describe('the audit log with real processes', () => {
  let root: string;
  let data: string;
  let peerData: string;
  let directory: RunningProcess<{ url: string; fingerprint: string }>;
  let peer: RunningProcess<{ api: string }>;

  const asUser = (user: string) => ['--user', user, '--password-stdin', '--peer', peerData];

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'pv-audit-'));
    data = join(root, 'directory');
    peerData = join(root, 'peer');
    directory = await startPeervault([
      'directory',
      '--data',
      data,
      '--listen',
      '127.0.0.1:0',
      '--json',
    ]);
    peer = await startPeervault([
      'peer',
      '--directory',
      `${directory.ready.url}#${directory.ready.fingerprint}`,
      '--data',
      peerData,
      '--listen',
      '127.0.0.1:0',
      '--api',
      '127.0.0.1:0',
      '--capacity',
      '1G',
      '--json',
    ]);
    for (const user of ['alice', 'bob']) {
      const reg = await pv(['register', ...asUser(user)], `${goodPassword(user)}\n`);
      expect(reg.status, reg.err).toBe(0);
    }
  }, 120_000);

  afterAll(async () => {
    await peer?.stop();
    await directory?.stop();
    rmSync(root, { recursive: true, force: true });
  });

  it('shows each user the events about them, and an admin all of them', async () => {
    const mine = await pv(['audit', '--json', ...asUser('alice')], `${goodPassword('alice')}\n`);
    expect(mine.status, mine.err).toBe(0);
    const page = JSON.parse(mine.out) as {
      records: { event: string; subjects: string[] }[];
      scope: string;
    };
    expect(page.scope).toBe('own');
    expect(page.records.map((r) => r.event)).toEqual(['register', 'login.ok']);

    const text = await pv(['audit', ...asUser('alice')], `${goodPassword('alice')}\n`);
    expect(text.status, text.err).toBe(0);
    expect(text.out).toMatch(/^SEQ\s+TIME\s+EVENT\s+BY\s+ENTRY\s+DETAILS/);
    // The key event's hash is cut short in text; --json has it whole.
    expect(text.out).toMatch(
      /register\s+alice\s+-\s+head=[A-Za-z0-9_-]{12}… invite=false {2}from 127\.0\.0\.1/,
    );

    const admin = await pv(['directory', 'admin', 'add', 'bob', '--data', data]);
    expect(admin.status, admin.err).toBe(0);
    expect(admin.out).toContain('bob is now an admin');
    const all = await pv(['audit', '--json', ...asUser('bob')], `${goodPassword('bob')}\n`);
    expect(all.status, all.err).toBe(0);
    const everything = JSON.parse(all.out) as { records: { event: string }[]; scope: string };
    expect(everything.scope).toBe('all');
    expect(everything.records.map((r) => r.event)).toEqual(
      expect.arrayContaining(['register', 'login.ok', 'role.changed']),
    );
    expect(everything.records.filter((r) => r.event === 'register')).toHaveLength(2);

    const nobody = await pv(['directory', 'admin', 'add', 'zed', '--data', data]);
    expect(nobody.status).toBe(5);
    expect(nobody.err).not.toMatch(/\n\s+at /);
  });

  it('verifies the log, then fails at the record edited in the database, and at a cut tail', async () => {
    // Stopping signs the head: everything so far is under a checkpoint.
    await peer.stop();
    await directory.stop();
    const intact = await pv(['audit', 'verify', '--data', data]);
    expect(intact.status, intact.err).toBe(0);
    expect(intact.out).toMatch(/^audit log intact: \d+ records, 1 of 1 checkpoints valid/);
    const before = JSON.parse(
      (await pv(['audit', 'verify', '--data', data, '--json'])).out,
    ) as Verification;
    expect(before).toMatchObject({ ok: true, problems: [] });
    expect(before.lastCheckpoint).toBe(before.records);

    const db = new SqliteDatabase(join(data, 'directory.db'));
    try {
      db.prepare("update audit_log set actor = 'mallory' where seq = 3").run();
    } finally {
      db.close();
    }
    const edited = await pv(['audit', 'verify', '--data', data]);
    expect(edited.status).toBe(10);
    expect(edited.out).toContain('audit log BROKEN: 1 problem');
    expect(edited.out).toContain('record 3: hash does not match its contents');
    const json = JSON.parse(
      (await pv(['audit', 'verify', '--data', data, '--json'])).out,
    ) as Verification;
    expect(json.ok).toBe(false);
    expect(json.problems.map(({ kind, seq }) => ({ kind, seq }))).toEqual([
      { kind: 'hash', seq: 3 },
    ]);

    const cut = new SqliteDatabase(join(data, 'directory.db'));
    try {
      cut.prepare('delete from audit_log where seq > 4').run();
    } finally {
      cut.close();
    }
    const truncated = JSON.parse(
      (await pv(['audit', 'verify', '--data', data, '--json'])).out,
    ) as Verification;
    expect(truncated.problems.map(({ kind, seq }) => ({ kind, seq }))).toEqual([
      { kind: 'hash', seq: 3 },
      { kind: 'truncated', seq: 5 },
    ]);
    expect(truncated.problems[1]!.message).toContain('records after 4 were removed');
  });

  it('refuses to check with a key that is not there, or not the one pinned', async () => {
    const none = await pv(['audit', 'verify', '--data', join(root, 'nowhere')]);
    expect(none.status).toBe(5);
    expect(none.err).toContain('holds no directory identity key');
    const wrong = await pv([
      'audit',
      'verify',
      '--data',
      data,
      '--fingerprint',
      'AAAA-BBBB',
      '--json',
    ]);
    expect(wrong.status).toBe(10);
    expect(JSON.parse(wrong.out)).toMatchObject({ error: { kind: 'integrity' } });
  });
});

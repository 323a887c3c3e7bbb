/**
 * `peervault audit` and `audit verify` as commands: help, usage errors before any call, a data
 * directory without a directory key, and what the text output says about records and breaks.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { auditPageLines, auditVerificationLines } from '../../src/cli/audit-output.js';
import type { CommandIo } from '../../src/cli/command.js';
import type { ApiAuditRecord } from '../../src/cli/local-api.js';
import { main } from '../../src/cli/main.js';

function capture(): { io: CommandIo; out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { out: (t) => out.push(t), err: (t) => err.push(t) }, out, err };
}

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

const record = (seq: number, fields: Partial<ApiAuditRecord> = {}): ApiAuditRecord => ({
  seq,
  time: Date.UTC(2025, 0, 31, 14, 5, 9),
  event: 'access.refused',
  actor: 'bob',
  subjects: ['alice'],
  entry: 'AAAAAAAAAAAAAAAAAAAAAA',
  source: null,
  details: { op: 'entry.get', kind: 'not-exist' },
  prev: '',
  hash: '',
  ...fields,
});

describe('peervault audit', () => {
  it('has a help that shows both forms', async () => {
    const c = capture();
    expect(await main(['audit', '--help'], c.io)).toBe(0);
    const help = c.out.join('\n');
    expect(help).toMatch(/^Usage: peervault audit \[--after SEQ\] \[--limit N\]/);
    expect(help).toContain('peervault audit verify [--data DIR]');
    expect(help).toContain('--json');
  });

  it('refuses a bad page before calling anything (exit 2)', async () => {
    for (const args of [
      ['--limit', '0'],
      ['--limit', '1001'],
      ['--after', '-3'],
      ['--after', 'x'],
      ['extra'],
    ]) {
      const c = capture();
      expect(await main(['audit', ...args], c.io)).toBe(2);
    }
  });

  it('verify refuses a data directory with no directory key (exit 5), in JSON too', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'pv-audit-cli-'));
    dirs.push(empty);
    const c = capture();
    expect(await main(['audit', 'verify', '--data', empty, '--json'], c.io)).toBe(5);
    expect(JSON.parse(c.out.join(''))).toMatchObject({ error: { kind: 'not-exist' } });
    expect(c.err.join('\n')).toContain('holds no directory identity key');
  });

  it('prints records as a table, the address only when shown, and how to read on', () => {
    const page = {
      records: [
        record(7),
        record(9, {
          event: 'login.failed',
          actor: null,
          entry: null,
          source: '10.0.0.2',
          details: { reason: 'unfinished' },
        }),
      ],
      next: 9,
      scope: 'own' as const,
    };
    const lines = auditPageLines(page, 2, 'peervault audit --after');
    expect(lines[0]).toMatch(/^SEQ\s+TIME\s+EVENT\s+BY\s+ENTRY\s+DETAILS$/);
    expect(lines[1]).toMatch(
      /^7\s+2025-01-31 14:05:09 UTC\s+access\.refused\s+bob\s+AAAAAAAAAAAAAAAAAAAAAA\s+op=entry\.get kind=not-exist$/,
    );
    expect(lines[2]).toMatch(/login\.failed\s+-\s+-\s+reason=unfinished {2}from 10\.0\.0\.2$/);
    expect(lines[3]).toBe('more: peervault audit --after 9');
    expect(auditPageLines({ records: [], next: 0, scope: 'own' }, 100, 'audit')).toEqual([
      'no events about you',
    ]);
  });

  it('says where the log breaks, and what is not signed yet', () => {
    const base = {
      records: 12,
      head: 12,
      checkpoints: 1,
      validCheckpoints: 1,
      lastCheckpoint: 10,
      unsigned: 2,
    };
    expect(auditVerificationLines({ ...base, ok: true, problems: [] })).toEqual([
      'audit log intact: 12 records, 1 of 1 checkpoints valid (last at 10).',
      '2 records after the last checkpoint are not signed yet: cutting them off would not be noticed.',
    ]);
    const broken = auditVerificationLines({
      ...base,
      ok: false,
      unsigned: 0,
      problems: [
        { kind: 'hash', seq: 4, message: 'record 4: hash does not match its contents' },
        { kind: 'prev', seq: 9, message: 'record 9: prev does not match record 8' },
      ],
    });
    expect(broken).toEqual([
      'audit log BROKEN: 2 problems',
      '  record 4: hash does not match its contents',
      '  record 9: prev does not match record 8',
      '12 records, 1 of 1 checkpoints valid (last at 10).',
    ]);
  });
});

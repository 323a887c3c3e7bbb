/**
 * The device's memory of entry versions and its own alerts (seen-versions.ts): kept across a
 * restart in a 0600 file, the last 16 versions of an entry, alerts counted up rather than
 * repeated, and a damaged or newer file refused rather than silently reset.
 */
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import {
  openSeenVersions,
  type SeenVersion,
  versionsKept,
} from '../../src/client/seen-versions.js';
import { newFileId } from '../../src/crypto/random.js';
import { parseUserName } from '../../src/interface/names.js';
import { expectKind } from '../helpers/expect-error.js';

const alice = parseUserName('alice');
const dir = mkdtempSync(join(tmpdir(), 'pv-seen-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const version = (entry: ReturnType<typeof newFileId>, n: number): SeenVersion => ({
  entry,
  version: n,
  hash: new Uint8Array(32).fill(n),
  envelope: new Uint8Array([n]),
  user: alice,
  at: n,
});

describe('seen versions', () => {
  it('remembers across a restart, in a file only its owner can read', () => {
    const path = join(dir, 'restart.sqlite');
    const entry = newFileId();
    const first = openSeenVersions(path);
    first.record([version(entry, 1), version(entry, 2)]);
    first.close();
    expect(statSync(path).mode & 0o777).toBe(0o600);
    const again = openSeenVersions(path);
    try {
      expect(again.latest(entry)).toMatchObject({ version: 2, user: 'alice' });
      expect(again.at(entry, 1)!.hash).toEqual(new Uint8Array(32).fill(1));
      // A version already recorded is never changed.
      again.record([{ ...version(entry, 2), hash: new Uint8Array(32) }]);
      expect(again.at(entry, 2)!.hash).toEqual(new Uint8Array(32).fill(2));
    } finally {
      again.close();
    }
  });

  it(`keeps the last ${versionsKept} versions of an entry, and lists what it recorded in order`, () => {
    const seen = openSeenVersions(':memory:');
    const entry = newFileId();
    for (let n = 1; n <= 40; n++) seen.record([version(entry, n)]);
    expect(seen.at(entry, 40 - versionsKept)).toBeUndefined();
    expect(seen.at(entry, 41 - versionsKept)).toBeDefined();
    const page = seen.since(0, 1000);
    expect(page.heads.map((h) => h.version)).toEqual(
      Array.from({ length: versionsKept }, (_, i) => 41 - versionsKept + i),
    );
    expect(seen.since(page.cursor, 10).heads).toEqual([]);
    seen.close();
  });

  it('counts an unread alert up, and does not raise acknowledged evidence again', () => {
    const seen = openSeenVersions(':memory:');
    const alert = {
      user: alice,
      rule: 'entry-rollback' as const,
      subject: 'e1',
      severity: 'critical' as const,
      summary: 's',
      action: 'a',
      evidence: 'directory 2, seen 3',
      at: 10,
    };
    const first = seen.raise(alert);
    expect(seen.raise({ ...alert, at: 20 })).toMatchObject({ id: first.id, count: 2, lastAt: 20 });
    seen.ack(alice, first.id, 30);
    expect(seen.raise({ ...alert, at: 40 })).toMatchObject({ id: first.id, ackedAt: 30 });
    const other = seen.raise({ ...alert, evidence: 'directory 1, seen 3', at: 50 });
    expect(other.id).not.toBe(first.id);
    expect(seen.alerts(alice).map((a) => a.id)).toEqual([other.id, first.id]);
    expectKind('not-exist', () => seen.ack(parseUserName('bob'), other.id, 60));
    seen.close();
  });

  it('refuses a damaged file, and one written by a newer version, instead of starting over', () => {
    const junk = join(dir, 'junk.sqlite');
    writeFileSync(junk, 'this is not a database, but long enough to look like a file header..');
    expectKind('integrity', () => openSeenVersions(junk));
    const newer = join(dir, 'newer.sqlite');
    const db = new Database(newer);
    db.pragma('user_version = 99');
    db.close();
    expectKind('integrity', () => openSeenVersions(newer));
  });
});

/**
 * The directory's own check of its audit log (src/directory/self-check.ts), on both engines:
 * quiet while the log is honest; a record edited or a key swapped behind the directory's back
 * (by SQL, as an intruder with the database would) raises one admin-only `audit-log-broken`
 * alert within a check or two, counted up after that, naming where it broke.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DirectoryClient } from '../../src/client/directory-client.js';
import {
  editDatabase,
  engines,
  goodPassword,
  startTestDirectory,
  type TestDirectory,
} from '../helpers/directory.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe.each(engines)('the self-check on %s', (engine) => {
  let dir: TestDirectory;
  let client: DirectoryClient;

  const broken = async () =>
    (await dir.running.store.listAlerts()).filter((a) => a.rule === 'audit-log-broken');

  beforeAll(async () => {
    // Checks every 200 ms; the test breaks the log on purpose.
    dir = await startTestDirectory(
      engine,
      { selfCheckMs: 200 },
      { allowAlerts: ['audit-log-broken'] },
    );
    client = await dir.client();
    for (const user of ['alice', 'bob']) await client.register(user, goodPassword(user));
    await client.login('alice', goodPassword('alice'));
  }, 60_000);
  afterAll(async () => dir?.stop());

  it('stays quiet while the log is honest', async () => {
    await sleep(700); // three checks or more
    expect(await broken()).toEqual([]);
  });

  it('tells the admins of a record edited and a key swapped behind its back, once', async () => {
    await editDatabase(dir, "UPDATE audit_log SET source = '10.6.6.6' WHERE seq = 2");
    await editDatabase(
      dir,
      "UPDATE key_log SET envelope = (SELECT envelope FROM key_log WHERE user_name = 'bob' AND seq = 0) WHERE user_name = 'alice' AND seq = 0",
    );
    let alerts = await broken();
    for (let i = 0; i < 50 && alerts.length === 0; i++) {
      await sleep(100);
      alerts = await broken();
    }
    expect(alerts).toHaveLength(1);
    expect(alerts[0]).toMatchObject({ audience: null, admin: true, severity: 'critical' });
    expect(alerts[0]!.summary).toMatch(/found 2 problems: record 1: alice's key event 0 is not/);
    expect(alerts[0]!.summary).toMatch(/record 2: hash does not match its contents/);
    expect(alerts[0]!.action).toMatch(/peervault audit verify/);
    // Later checks count it up; they raise no second alert.
    for (let i = 0; i < 50 && (await broken())[0]!.count < 2; i++) await sleep(100);
    const later = await broken();
    expect(later).toHaveLength(1);
    expect(later[0]!.count).toBeGreaterThanOrEqual(2);
  });
});

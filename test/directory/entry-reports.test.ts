/**
 * `POST /v1/reports/entry` on both engines (docs/monitor.md `entry-integrity`): a client that
 * found a forged, rolled-back or forked version of an entry it may read tells the directory,
 * which records it and raises a critical alert for the owner (and admins) and for the reporter
 * when that is someone else, one per (audience, entry) within the hour. Whoever may not read
 * the entry learns nothing (`not-exist`, as the entries routes answer) and alerts nobody. The
 * client's `reportEntryIntegrity` never throws.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DirectoryClient, DirectorySession } from '../../src/client/directory-client.js';
import { reportEntryIntegrity } from '../../src/client/integrity-report.js';
import { newFileId } from '../../src/crypto/random.js';
import type { FileId } from '../../src/interface/ids.js';
import type { UserName } from '../../src/interface/names.js';
import { toBase64url } from '../../src/wire/base64.js';
import { type DirEntryBody, signDirEntry } from '../../src/wire/dir-entry.js';
import {
  type AlertsResponse,
  type EntryReportResponse,
  maxEntryReportDetail,
  routes,
} from '../../src/wire/directory-api.js';
import { signEntryAcl } from '../../src/wire/entry-acl.js';
import {
  engines,
  goodPassword,
  startTestDirectory,
  type TestDirectory,
} from '../helpers/directory.js';
import { expectKindAsync } from '../helpers/expect-error.js';

interface Acl {
  r: UserName[];
  w: UserName[];
}

describe.each(engines)('entry integrity reports on %s', (engine) => {
  let dir: TestDirectory;
  let client: DirectoryClient;
  let alice: DirectorySession;
  let bob: DirectorySession;
  let carol: DirectorySession;
  let admin: DirectorySession;
  let root: FileId;

  /** A fresh user, registered and logged in. */
  async function user(): Promise<DirectorySession> {
    const name = `u${randomBytes(4).toString('hex')}`;
    await client.register(name, goodPassword(name));
    return client.login(name, goodPassword(name));
  }

  /** Creates `owner`'s first version of `id` under `parent`, readable by `acl`. */
  async function create(
    owner: DirectorySession,
    id: FileId,
    parent: FileId | null,
    acl: Acl,
  ): Promise<void> {
    const body: DirEntryBody = {
      id,
      parent,
      owner: owner.user,
      version: 1,
      kind: parent === null ? 'dir' : 'file',
      tag: parent === null ? new Uint8Array(32) : Uint8Array.from(Buffer.from(id.padEnd(32, 'x'))),
      name: new Uint8Array(0),
      label: new Uint8Array(0),
      meta: new Uint8Array(0),
      keys: Object.fromEntries([owner.user, ...acl.r, ...acl.w].map((u) => [u, Uint8Array.of(1)])),
      acl,
      aclCert: signEntryAcl(owner.identity.signing, {
        entry: id,
        owner: owner.user,
        version: 1,
        ...acl,
      }),
      deleted: null,
      prev: new Uint8Array(32),
      time: Date.now(),
    };
    const envelope = signDirEntry(owner.identity.signing, body);
    await client.call('POST', routes.entries, { envelope: toBase64url(envelope) }, owner);
  }

  /** A file of alice's that bob may read. */
  async function sharedFile(): Promise<FileId> {
    const id = newFileId();
    await create(alice, id, root, { r: [bob.user], w: [] });
    return id;
  }

  const report = (session: DirectorySession | undefined, body: Record<string, unknown>) =>
    client.call<EntryReportResponse>('POST', routes.entryReport, body, session);

  const integrityAlerts = async (session: DirectorySession) =>
    (await client.call<AlertsResponse>('GET', routes.alerts, undefined, session)).alerts.filter(
      (a) => a.rule === 'entry-integrity',
    );

  const reportsOf = async (entry: FileId) =>
    (await dir.running.store.listAudit(0, 10_000)).filter(
      (r) => r.event === 'integrity.reported' && r.entry === entry,
    );

  beforeAll(async () => {
    dir = await startTestDirectory(engine, {}, { allowAlerts: ['entry-integrity'] });
    client = await dir.client();
    alice = await user();
    bob = await user();
    carol = await user();
    admin = await user();
    await dir.running.store.setRole(admin.user, 'admin');
    root = newFileId();
    await create(alice, root, null, { r: [], w: [] });
  }, 60_000);
  afterAll(async () => dir?.stop());

  it("alerts the owner and the grantee who found a rollback, and records bob's report", async () => {
    const file = await sharedFile();
    const detail = 'served version 3 after version 5 was seen';
    const { alerts } = await report(bob, { entry: file, kind: 'rollback', detail });
    expect(alerts).toHaveLength(2);

    const [forAlice, ...otherAlice] = await integrityAlerts(alice);
    expect(otherAlice).toEqual([]);
    expect(forAlice).toMatchObject({
      id: alerts[0],
      audience: alice.user,
      admin: true,
      severity: 'critical',
      count: 1,
    });
    expect(forAlice?.summary).toContain(bob.user);
    expect(forAlice?.summary).toContain(file);
    expect(forAlice?.summary).toMatch(/rolled-back/);
    // The reporter's free text stays out of the owner's alert.
    expect(`${forAlice?.summary} ${forAlice?.action}`).not.toContain(detail);
    expect(forAlice?.action).toMatch(/audit verify/);

    const [forBob, ...otherBob] = await integrityAlerts(bob);
    expect(otherBob).toEqual([]);
    expect(forBob).toMatchObject({ id: alerts[1], audience: bob.user, severity: 'critical' });
    // Admins read both.
    expect((await integrityAlerts(admin)).map((a) => a.id)).toEqual(expect.arrayContaining(alerts));

    const [record, ...more] = await reportsOf(file);
    expect(more).toEqual([]);
    expect(record).toMatchObject({ actor: bob.user, entry: file });
    expect([...record!.subjects].sort()).toEqual([alice.user, bob.user].sort());
    expect(JSON.parse(record!.details)).toEqual({ kind: 'rollback', detail });
    // Alice reads the record among her own.
    const own = await dir.running.store.listAudit(0, 10_000, alice.user);
    expect(own.some((r) => r.event === 'integrity.reported' && r.entry === file)).toBe(true);
  });

  it("alerts only the owner when the owner's own device reports, and dedupes per entry", async () => {
    const owned = newFileId();
    await create(alice, owned, root, { r: [], w: [] });
    const before = (await integrityAlerts(alice)).length;
    const first = await report(alice, { entry: owned, kind: 'forged', detail: 'bad signature' });
    expect(first.alerts).toHaveLength(1);
    for (let i = 0; i < 4; i++) {
      expect(await report(alice, { entry: owned, kind: 'fork', detail: '' })).toEqual(first);
    }
    const mine = (await integrityAlerts(alice)).filter((a) => a.id === first.alerts[0]);
    expect(mine).toHaveLength(1);
    expect(mine[0]).toMatchObject({ count: 5, admin: true });
    expect(mine[0]?.summary).toMatch(/a device of yours/);
    expect(await integrityAlerts(alice)).toHaveLength(before + 1);
    // Every report is recorded, even when the alert only counts up.
    expect(await reportsOf(owned)).toHaveLength(5);
    // Another entry is another alert.
    const other = newFileId();
    await create(alice, other, root, { r: [], w: [] });
    const second = await report(alice, { entry: other, kind: 'fork', detail: 'two heads' });
    expect(second.alerts[0]).not.toBe(first.alerts[0]);
  });

  it('refuses a user who may not read the entry exactly as a missing one, and alerts nobody', async () => {
    const file = await sharedFile();
    const before = (await dir.running.store.listAlerts()).length;
    const refused = await expectKindAsync(
      'not-exist',
      report(carol, { entry: file, kind: 'forged', detail: 'made up' }),
    );
    const missing = await expectKindAsync(
      'not-exist',
      report(carol, { entry: newFileId(), kind: 'forged', detail: 'made up' }),
    );
    expect(refused.message).toBe(missing.message);
    expect(await reportsOf(file)).toEqual([]);
    expect(await dir.running.store.listAlerts()).toHaveLength(before);
    // The refusal is recorded about the owner, as the entries routes record theirs.
    const refusals = (await dir.running.store.listAudit(0, 10_000, alice.user)).filter(
      (r) => r.event === 'access.refused' && r.entry === file,
    );
    expect(refusals).toHaveLength(1);
    expect(refusals[0]?.actor).toBe(carol.user);
  });

  it('refuses an unauthenticated or malformed report', async () => {
    const file = await sharedFile();
    await expectKindAsync(
      'permission',
      report(undefined, { entry: file, kind: 'fork', detail: '' }),
    );
    for (const bad of [
      { entry: file, kind: 'bored', detail: '' },
      { entry: file, kind: 'fork', detail: 'x'.repeat(maxEntryReportDetail + 1) },
      { entry: file, kind: 'fork', detail: 'line one\nline two' },
      { entry: file, kind: 'fork', detail: 'hidden \u202e direction' },
      { entry: file, kind: 'fork' },
      { entry: 'short', kind: 'fork', detail: '' },
      { entry: file, kind: 'fork', detail: '', extra: 1 },
    ]) {
      await expectKindAsync('invalid', report(bob, bad));
    }
    expect(await reportsOf(file)).toEqual([]);
  });

  it('reportEntryIntegrity posts a report, cleans its detail, and never throws', async () => {
    const file = await sharedFile();
    const messy = `fork seen\nby gossip\u0000 ${'y'.repeat(400)}`;
    await reportEntryIntegrity({ directory: client, session: bob }, file, 'fork', messy);
    const [record] = await reportsOf(file);
    const detail = (JSON.parse(record!.details) as { detail: string }).detail;
    expect(detail.startsWith('fork seen by gossip  y')).toBe(true);
    expect(detail).toHaveLength(maxEntryReportDetail);
    // Refused (carol may not read it): silently nothing.
    const before = (await dir.running.store.listAlerts()).length;
    await expect(
      reportEntryIntegrity({ directory: client, session: carol }, file, 'forged', 'x'),
    ).resolves.toBeUndefined();
    expect(await dir.running.store.listAlerts()).toHaveLength(before);
  });
});

/**
 * `POST /v1/reports/audit-log` on both engines (docs/monitor.md `audit-log-rewritten`): a peer
 * whose witness no longer matches the log sends the checkpoints in question. They are the
 * directory's own signatures, so it checks them against its log and raises one admin alert
 * only when the log disagrees (a record gone, another hash, edited contents, two heads signed
 * for one record). A checkpoint it did not sign is refused; a caller that is not a registered
 * peer is refused; an honest log raises nothing, whoever reports it.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DirectoryClient } from '../../src/client/directory-client.js';
import { SigningKeyPair } from '../../src/crypto/keys.js';
import { loadOrCreateDirectoryKeys } from '../../src/directory/keys.js';
import { signAuditCheckpoint } from '../../src/wire/audit-log.js';
import { toBase64url } from '../../src/wire/base64.js';
import {
  type AuditReportResponse,
  peerRecordHeader,
  routes,
} from '../../src/wire/directory-api.js';
import { signPeerRecord } from '../../src/wire/peer-record.js';
import {
  editDatabase,
  engines,
  goodPassword,
  startTestDirectory,
  type TestDirectory,
} from '../helpers/directory.js';
import { expectKindAsync } from '../helpers/expect-error.js';

describe.each(engines)('audit-log rewrite reports on %s', (engine) => {
  let dir: TestDirectory;
  let client: DirectoryClient;
  let directoryKey: SigningKeyPair;
  const peer = SigningKeyPair.generate();

  const peerHeaders = (key = peer) => ({
    [peerRecordHeader]: toBase64url(
      signPeerRecord(key, { address: '127.0.0.1:7700', capacity: 1 << 20, time: Date.now() }),
    ),
  });

  const report = (checkpoints: Uint8Array[], key = peer) =>
    client.call<AuditReportResponse>(
      'POST',
      routes.auditReport,
      { checkpoints: checkpoints.map(toBase64url) },
      undefined,
      { headers: peerHeaders(key) },
    );

  const rewriteAlerts = async () =>
    (await dir.running.store.listAlerts()).filter((a) => a.rule === 'audit-log-rewritten');

  /** A checkpoint the directory's own key signs for a head of the caller's choosing. */
  const signed = (seq: number, hash: Uint8Array = randomBytes(32)) =>
    signAuditCheckpoint(directoryKey, { seq, hash, time: Date.now() });

  /** The checkpoints the directory really signed (one per record: `auditCheckpointRecords` 1). */
  const realCheckpoints = async () => dir.running.store.listAuditCheckpoints(0, 1000);

  beforeAll(async () => {
    // Reported rewrites raise `audit-log-rewritten` on purpose.
    dir = await startTestDirectory(
      engine,
      { auditCheckpointRecords: 1 },
      { allowAlerts: ['audit-log-rewritten'] },
    );
    directoryKey = (await loadOrCreateDirectoryKeys(dir.dataDir)).keys.identity;
    client = await dir.client();
    await client.call('POST', routes.heartbeat, {
      record: toBase64url(
        signPeerRecord(peer, { address: '127.0.0.1:7700', capacity: 1 << 20, time: Date.now() }),
      ),
    });
    for (const user of ['alice', 'bob']) await client.register(user, goodPassword(user));
    await client.login('alice', goodPassword('alice'));
    // The directory signs the head after a request's records are appended.
    for (let i = 0; i < 50 && (await realCheckpoints()).length < 3; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect((await realCheckpoints()).length).toBeGreaterThanOrEqual(3);
  }, 60_000);
  afterAll(async () => dir?.stop());

  it('raises nothing for checkpoints the log agrees with', async () => {
    const real = await realCheckpoints();
    const answer = await report([real[0]!.envelope, real.at(-1)!.envelope]);
    expect(answer).toEqual({ rewritten: false, alert: null, findings: [] });
    expect(await rewriteAlerts()).toEqual([]);
  });

  it('refuses a checkpoint it did not sign, and a caller that is not a registered peer', async () => {
    const forged = signAuditCheckpoint(SigningKeyPair.generate(), {
      seq: 1,
      hash: randomBytes(32),
      time: Date.now(),
    });
    await expectKindAsync('integrity', report([forged]));
    await expectKindAsync('permission', report([signed(1)], SigningKeyPair.generate()));
    await expectKindAsync(
      'permission',
      client.call('POST', routes.auditReport, { checkpoints: [toBase64url(signed(1))] }),
    );
    expect(await rewriteAlerts()).toEqual([]);
  });

  it('alerts the admins, once, when the log no longer holds what it signed', async () => {
    const head = (await dir.running.store.auditHead()).seq;
    const gone = await report([signed(head + 100)]);
    expect(gone.rewritten).toBe(true);
    expect(gone.findings).toEqual([
      `record ${head + 100}, signed in a checkpoint, is gone (cut back)`,
    ]);
    const other = await report([signed(1)]);
    expect(other.findings).toEqual(['record 1 has another hash than the one signed']);
    const twice = await report([signed(2), signed(2)]);
    expect(twice.findings).toEqual([
      'two different heads were signed for record 2',
      'record 2 has another hash than the one signed',
    ]);
    // One alert, admin-only, counted up; it names the peer and what was found first.
    const alerts = await rewriteAlerts();
    expect(alerts).toHaveLength(1);
    expect(alerts[0]).toMatchObject({
      id: gone.alert,
      audience: null,
      admin: true,
      severity: 'critical',
      count: 3,
    });
    expect(alerts[0]!.summary).toContain('is gone (cut back)');
    expect(alerts[0]!.action).toMatch(/audit verify --witness/);
  });

  it('finds a record edited in the database behind a checkpoint that still matches its hash', async () => {
    const [first] = await realCheckpoints();
    await editDatabase(dir, `UPDATE audit_log SET actor = 'mallory' WHERE seq = ${first!.seq}`);
    const answer = await report([first!.envelope]);
    expect(answer.findings).toEqual([
      `record ${first!.seq} was edited (its contents no longer give its hash)`,
    ]);
  });
});

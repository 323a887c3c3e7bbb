/**
 * `GET /v1/audit/checkpoint`: registered peers get the newest signed checkpoint of the audit
 * log (which they keep as witnesses, src/peer/head-gossip.ts); users and strangers get nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DirectoryClient } from '../../src/client/directory-client.js';
import { SigningKeyPair } from '../../src/crypto/keys.js';
import { loadDirectoryPublicKey } from '../../src/directory/keys.js';
import { openAuditCheckpoint } from '../../src/wire/audit-log.js';
import { fromBase64url, toBase64url } from '../../src/wire/base64.js';
import {
  type AuditCheckpointResponse,
  peerRecordHeader,
  routes,
} from '../../src/wire/directory-api.js';
import { signPeerRecord } from '../../src/wire/peer-record.js';
import { goodPassword, startTestDirectory, type TestDirectory } from '../helpers/directory.js';
import { expectKindAsync } from '../helpers/expect-error.js';

describe('the audit checkpoint for peers', () => {
  let dir: TestDirectory;
  let client: DirectoryClient;
  const peer = SigningKeyPair.generate();
  const record = () =>
    toBase64url(signPeerRecord(peer, { address: '127.0.0.1:7650', capacity: 1, time: Date.now() }));

  beforeAll(async () => {
    dir = await startTestDirectory('sqlite', { auditCheckpointRecords: 2 });
    client = await dir.client();
    await client.register('alice', goodPassword('alice'));
    await client.register('bob', goodPassword('bob'));
    await client.login('alice', goodPassword('alice'));
    await client.call('POST', routes.heartbeat, { record: record() });
  });
  afterAll(async () => {
    await client?.close();
    await dir?.stop();
  });

  it('hands a registered peer the newest checkpoint, signed by the directory key', async () => {
    const { envelope } = await client.call<AuditCheckpointResponse>(
      'GET',
      routes.auditCheckpoint,
      undefined,
      undefined,
      { headers: { [peerRecordHeader]: record() } },
    );
    expect(envelope).not.toBeNull();
    const key = await loadDirectoryPublicKey(dir.dataDir);
    const checkpoint = openAuditCheckpoint(fromBase64url(envelope!, 'checkpoint'), key.publicKey);
    const head = await dir.running.store.auditHead();
    expect(checkpoint.seq).toBe(head.checkpoint);
    expect(checkpoint.seq).toBeGreaterThanOrEqual(2);
  });

  it('answers nobody else: no record, a user session, an unregistered peer', async () => {
    await expectKindAsync('permission', client.call('GET', routes.auditCheckpoint));
    const alice = await client.login('alice', goodPassword('alice'));
    await expectKindAsync(
      'permission',
      client.call('GET', routes.auditCheckpoint, undefined, alice),
    );
    const stranger = SigningKeyPair.generate();
    const strangerRecord = toBase64url(
      signPeerRecord(stranger, { address: '127.0.0.1:7651', capacity: 1, time: Date.now() }),
    );
    await expectKindAsync(
      'permission',
      client.call('GET', routes.auditCheckpoint, undefined, undefined, {
        headers: { [peerRecordHeader]: strangerRecord },
      }),
    );
  });
});

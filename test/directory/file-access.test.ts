/**
 * `GET /v1/files/:id/access`, the directory's answer to a peer that must check who may use a
 * file's blocks: the file's current signed entry, for registered peers only.
 */
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DirectoryClient, DirectorySession } from '../../src/client/directory-client.js';
import { ensureRoot } from '../../src/client/namespace.js';
import { SigningKeyPair } from '../../src/crypto/keys.js';
import { newFileId } from '../../src/crypto/random.js';
import { fromBase64url, toBase64url } from '../../src/wire/base64.js';
import { openDirEntry } from '../../src/wire/dir-entry.js';
import { type EntryResponse, peerRecordHeader, routes } from '../../src/wire/directory-api.js';
import { signPeerRecord } from '../../src/wire/peer-record.js';
import { createPinnedAgent } from '../../src/wire/pinned-tls.js';
import {
  engines,
  goodPassword,
  startTestDirectory,
  type TestDirectory,
} from '../helpers/directory.js';

const record = (key: SigningKeyPair, time = Date.now()) =>
  toBase64url(signPeerRecord(key, { address: '127.0.0.1:7600', capacity: 1e9, time }));

describe.each(engines)('file access for peers on %s', (engine) => {
  let dir: TestDirectory;
  let client: DirectoryClient;
  let alice: DirectorySession;
  const peer = SigningKeyPair.generate();

  beforeAll(async () => {
    dir = await startTestDirectory(engine);
    client = await dir.client();
    await client.register('alice', goodPassword('alice'));
    alice = await client.login('alice', goodPassword('alice'));
    await client.call('POST', routes.heartbeat, { record: record(peer) });
  }, 60_000);
  afterAll(async () => dir?.stop());

  async function ask(id: string, header: string | null) {
    const agent = createPinnedAgent({ fingerprint: dir.endpoint.fingerprint });
    try {
      const response = await request(`${dir.endpoint.url}${routes.fileAccess.replace(':id', id)}`, {
        headers: header === null ? {} : { [peerRecordHeader]: header },
        dispatcher: agent,
      });
      return {
        status: response.statusCode,
        body: (await response.body.json()) as EntryResponse & { kind?: string },
      };
    } finally {
      await agent.close();
    }
  }

  it('gives a registered peer the current entry, signed by its owner', async () => {
    const root = await ensureRoot({ directory: client, session: alice });
    const { status, body } = await ask(root.body.id, record(peer));
    expect(status).toBe(200);
    const { body: entry } = openDirEntry(fromBase64url(body.envelope, 'envelope'), [
      alice.identity.signing.publicKey,
    ]);
    expect(entry).toMatchObject({ id: root.body.id, owner: 'alice' });
  });

  it('refuses anyone but a registered peer with a fresh record, and says not-exist for an unknown file', async () => {
    const root = await ensureRoot({ directory: client, session: alice });
    for (const header of [
      null,
      record(SigningKeyPair.generate()),
      record(peer, Date.now() - 10 * 60_000),
    ]) {
      const { status, body } = await ask(root.body.id, header);
      expect(status).toBe(403);
      expect(body.kind).toBe('permission');
    }
    const unknown = await ask(newFileId(), record(peer));
    expect(unknown.body.kind).toBe('not-exist');
  });
});

/**
 * The directory logs every refused access for the monitor (`event: 'access.refused'`): reads
 * answered `not-exist` because the caller may not read, writes refused, forged certificates;
 * never a genuine miss, and never an envelope, a certificate, a key or a password.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DirectoryClient, type DirectorySession } from '../../src/client/directory-client.js';
import { newFileId } from '../../src/crypto/random.js';
import { buildDirectoryApp } from '../../src/directory/app.js';
import { defaultConfig } from '../../src/directory/config.js';
import { loadOrCreateDirectoryKeys } from '../../src/directory/keys.js';
import { openSqliteStore } from '../../src/directory/store/open-store.js';
import type { FileId } from '../../src/interface/ids.js';
import type { UserName } from '../../src/interface/names.js';
import { toBase64url } from '../../src/wire/base64.js';
import { type DirEntryBody, signDirEntry } from '../../src/wire/dir-entry.js';
import { routes } from '../../src/wire/directory-api.js';
import { signEntryAcl } from '../../src/wire/entry-acl.js';
import { chainHash } from '../../src/wire/key-log.js';
import { createSelfSignedCertificate } from '../../src/wire/tls-certificate.js';
import { AlertAllowance, throwFirst } from '../helpers/alerts.js';
import { goodPassword } from '../helpers/directory.js';
import { expectKindAsync } from '../helpers/expect-error.js';

interface Acl {
  r: UserName[];
  w: UserName[];
}

describe('refusal log', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'pv-refusals-'));
  const lines: string[] = [];
  let close: () => Promise<void> = () => Promise.resolve();
  let client: DirectoryClient;
  let alice: DirectorySession;
  let bob: DirectorySession;
  let carol: DirectorySession;
  let root: FileId;
  const secrets: string[] = [];

  const body = (id: FileId, parent: FileId | null, acl: Acl): DirEntryBody => ({
    id,
    parent,
    owner: alice.user,
    version: 1,
    kind: parent === null ? 'dir' : 'file',
    tag: parent === null ? new Uint8Array(32) : Uint8Array.from(Buffer.from(id.padEnd(32, 'x'))),
    name: new Uint8Array(0),
    label: new Uint8Array(0),
    meta: new Uint8Array(0),
    keys: Object.fromEntries([alice.user, ...acl.r, ...acl.w].map((u) => [u, Uint8Array.of(1)])),
    acl,
    aclCert: signEntryAcl(alice.identity.signing, {
      entry: id,
      owner: alice.user,
      version: 1,
      ...acl,
    }),
    deleted: null,
    prev: new Uint8Array(32),
    time: Date.now(),
  });
  const create = async (session: DirectorySession, entry: DirEntryBody) => {
    const envelope = signDirEntry(session.identity.signing, entry);
    secrets.push(toBase64url(envelope), toBase64url(entry.aclCert));
    await client.call('POST', routes.entries, { envelope: toBase64url(envelope) }, session);
    return envelope;
  };
  const refusals = () =>
    lines
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .filter((line) => line['event'] === 'access.refused');

  beforeAll(async () => {
    const store = await openSqliteStore(join(dataDir, 'directory.db'));
    const { keys } = await loadOrCreateDirectoryKeys(dataDir);
    const tls = createSelfSignedCertificate(keys.identity, { commonName: 'peervault-directory' });
    const app = buildDirectoryApp(
      { store, keys, config: defaultConfig, now: Date.now },
      { key: tls.privateKeyPem, cert: tls.certificatePem },
      { logStream: { write: (line) => void lines.push(line) } },
    );
    await app.listen({ host: '127.0.0.1', port: 0 });
    close = async () => {
      // Quiet by default (test/helpers/alerts.ts): these few refusals must raise no alert.
      const undeclared = await new AlertAllowance().check(store, 'the directory');
      await app.close();
      await store.close();
      throwFirst(undeclared);
    };
    const address = app.server.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    client = await DirectoryClient.connect({
      url: `https://127.0.0.1:${port}`,
      fingerprint: keys.fingerprint,
    });
    for (const user of ['alice', 'bob', 'carol']) await client.register(user, goodPassword(user));
    alice = await client.login('alice', goodPassword('alice'));
    bob = await client.login('bob', goodPassword('bob'));
    carol = await client.login('carol', goodPassword('carol'));
    root = newFileId();
    await create(alice, body(root, null, { r: [], w: [] }));
  }, 60_000);

  afterAll(async () => {
    await client?.close();
    await close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('logs refused reads and writes with who, what and which entry, and nothing secret', async () => {
    const secret = newFileId();
    await create(alice, body(secret, root, { r: [], w: [] }));
    const shared = newFileId();
    const sharedBody = body(shared, root, { r: [bob.user], w: [carol.user] });
    const sharedEnvelope = await create(alice, sharedBody);
    lines.length = 0;

    // A genuine miss is no refusal.
    await expectKindAsync(
      'not-exist',
      client.call('GET', routes.entry.replace(':id', newFileId()), undefined, bob),
    );
    expect(refusals()).toEqual([]);

    // Bob probes alice's private file: not-exist to him, a refusal in the log.
    await expectKindAsync(
      'not-exist',
      client.call('GET', routes.entry.replace(':id', secret), undefined, bob),
    );
    // Bob, a reader, writes.
    const next = (changes: Partial<DirEntryBody>): DirEntryBody => ({
      ...sharedBody,
      version: 2,
      prev: chainHash(sharedEnvelope),
      ...changes,
    });
    const put = (session: DirectorySession, entry: DirEntryBody) =>
      client.call(
        'PUT',
        routes.entry.replace(':id', shared),
        {
          envelope: toBase64url(signDirEntry(session.identity.signing, entry)),
          expectedVersion: 1,
        },
        session,
      );
    await expectKindAsync('permission', put(bob, next({ meta: Uint8Array.of(1) })));
    // Carol, a writer, makes bob a writer with a certificate she signed.
    const grown = { r: [], w: [bob.user, carol.user] };
    const forged = signEntryAcl(carol.identity.signing, {
      entry: shared,
      owner: alice.user,
      version: 2,
      ...grown,
    });
    secrets.push(toBase64url(forged));
    await expectKindAsync('permission', put(carol, next({ acl: grown, aclCert: forged })));
    // Alice's own entry with a certificate carol signed.
    const stray = newFileId();
    await expectKindAsync(
      'integrity',
      create(alice, { ...body(stray, root, grown), aclCert: forged }),
    );

    const logged = refusals();
    expect(logged.map(({ user, op, entry, kind }) => ({ user, op, entry, kind }))).toEqual([
      { user: 'bob', op: 'entry.get', entry: secret, kind: 'not-exist' },
      { user: 'bob', op: 'entry.update', entry: shared, kind: 'permission' },
      { user: 'carol', op: 'entry.update', entry: shared, kind: 'permission' },
      { user: 'alice', op: 'entry.create', entry: stray, kind: 'integrity' },
    ]);
    expect(logged.every((line) => line['msg'] === 'refused' && line['level'] === 40)).toBe(true);
    const text = lines.join('\n');
    for (const s of secrets) expect(text).not.toContain(s);
    for (const user of ['alice', 'bob', 'carol']) expect(text).not.toContain(goodPassword(user));
  });
});

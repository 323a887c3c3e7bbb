/**
 * The directory under load, on SQLite and on PostgreSQL, through real HTTPS: entry creates per
 * second (8 concurrent writers, each create's signature and access certificate verified,
 * CAS-checked and committed durably), the latency of listing a 10,000-entry directory, and
 * the time to check a 20,000-record audit log as `audit verify` and the hourly self-check do.
 */
import type { DirectorySession } from '../src/client/directory-client.js';
import { newFileId, newSymmetricKey } from '../src/crypto/random.js';
import { encryptName, lookupTag } from '../src/crypto/names.js';
import type { FileId } from '../src/interface/ids.js';
import { parseEntryName } from '../src/interface/names.js';
import { toBase64url } from '../src/wire/base64.js';
import { type DirEntryBody, signDirEntry } from '../src/wire/dir-entry.js';
import { routes } from '../src/wire/directory-api.js';
import { signEntryAcl } from '../src/wire/entry-acl.js';
import { loadDirectoryPublicKey } from '../src/directory/keys.js';
import { verifyAuditLog } from '../src/directory/audit.js';
import { startTestDirectory } from '../test/helpers/directory.js';
import { type Figure, figure } from './harness.js';

function body(
  session: DirectorySession,
  id: FileId,
  parent: FileId | null,
  name: string,
  nameKey: ReturnType<typeof newSymmetricKey>,
): DirEntryBody {
  const isRoot = parent === null;
  return {
    id,
    parent,
    owner: session.user,
    version: 1,
    kind: isRoot ? 'dir' : 'file',
    tag: isRoot ? new Uint8Array(32) : lookupTag(nameKey, parseEntryName(name)),
    name: isRoot ? new Uint8Array(0) : encryptName(nameKey, id, parseEntryName(name)),
    // Sized like the real thing: a name sealed under the entry's own key, a wrapped key.
    label: isRoot ? new Uint8Array(0) : encryptName(nameKey, id, parseEntryName(name)),
    meta: new Uint8Array(256),
    keys: { [session.user]: new Uint8Array(120) },
    acl: { r: [], w: [] },
    aclCert: signEntryAcl(session.identity.signing, {
      entry: id,
      owner: session.user,
      version: 1,
      r: [],
      w: [],
    }),
    deleted: null,
    prev: new Uint8Array(32),
    time: Date.now(),
  };
}

/** Measures one engine; `entries` is 10,000 in a full run. */
async function measureEngine(
  engine: 'sqlite' | 'postgres',
  entries: number,
  listRuns: number,
  auditRecords: number,
): Promise<Figure[]> {
  const dir = await startTestDirectory(engine, { requestsPerSecond: 1_000_000 });
  const client = await dir.client();
  try {
    await client.register('bench', 'bench user rides a purple tandem');
    const session = await client.login('bench', 'bench user rides a purple tandem');
    const nameKey = newSymmetricKey();
    const root = newFileId();
    await client.call(
      'POST',
      routes.entries,
      {
        envelope: toBase64url(
          signDirEntry(session.identity.signing, body(session, root, null, '', nameKey)),
        ),
      },
      session,
    );
    // Sign everything first, so the figure is the directory's rate, not the client's signing.
    const envelopes = Array.from({ length: entries }, (_, i) =>
      toBase64url(
        signDirEntry(
          session.identity.signing,
          body(session, newFileId(), root, `file-${i}.txt`, nameKey),
        ),
      ),
    );
    let next = 0;
    const started = process.hrtime.bigint();
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (next < envelopes.length) {
          const envelope = envelopes[next++]!;
          await client.call('POST', routes.entries, { envelope }, session);
        }
      }),
    );
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const rate = entries / seconds;
    const lists: number[] = [];
    for (let i = 0; i < listRuns; i++) {
      const t = process.hrtime.bigint();
      const { entries: listed } = await client.call<{ entries: unknown[] }>(
        'GET',
        routes.children.replace(':id', root),
        undefined,
        session,
      );
      lists.push(Number(process.hrtime.bigint() - t) / 1e6);
      if (listed.length !== entries) throw new Error(`listed ${listed.length} of ${entries}`);
    }
    // A log of logins, appended in batches straight to the store (the routes would take
    // minutes of OPAQUE), then checked whole: the chain, every record's subjects, key logs.
    for (let done = 0; done < auditRecords; done += 1000) {
      await dir.running.store.appendAudit(
        Array.from({ length: Math.min(1000, auditRecords - done) }, (_, i) => ({
          time: Date.now(),
          event: 'login.ok' as const,
          actor: session.user,
          subjects: [session.user],
          entry: null,
          source: '127.0.0.1',
          details: { n: done + i },
        })),
      );
    }
    const key = (await loadDirectoryPublicKey(dir.dataDir)).publicKey;
    const verifies: number[] = [];
    for (let i = 0; i < Math.min(listRuns, 3); i++) {
      const t = process.hrtime.bigint();
      const result = await verifyAuditLog(dir.running.store, key);
      verifies.push(Number(process.hrtime.bigint() - t) / 1e6);
      if (!result.ok || result.records < auditRecords) throw new Error('the audit log broke');
    }
    return [
      figure(`directory ${engine}: entry creates (8 writers, HTTPS)`, 'ops/s', [rate]),
      figure(`directory ${engine}: list ${entries} entries`, 'ms', lists),
      figure(`directory ${engine}: audit verify ${auditRecords} records`, 'ms', verifies),
    ];
  } finally {
    await dir.stop();
  }
}

/** Directory figures for both engines. */
export async function directoryFigures(quick: boolean): Promise<Figure[]> {
  const entries = quick ? 200 : 10_000;
  const listRuns = quick ? 3 : 7;
  const auditRecords = quick ? 2_000 : 20_000;
  return [
    ...(await measureEngine('sqlite', entries, listRuns, auditRecords)),
    ...(await measureEngine('postgres', entries, listRuns, auditRecords)),
  ];
}

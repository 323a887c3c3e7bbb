/**
 * The directory as real processes, on both engines: a SIGKILL mid-write loses no acknowledged
 * write; the database holds no plaintext password, file name, content or private key; two
 * processes over one PostgreSQL database behave as one directory (a request replayed to the
 * other process is refused).
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { DirectoryClient, type DirectorySession } from '../../src/client/directory-client.js';
import { toHex, utf8 } from '../../src/crypto/bytes.js';
import { encodePrivateIdentity } from '../../src/crypto/identity.js';
import { encryptName, lookupTag } from '../../src/crypto/names.js';
import { newFileId, newSymmetricKey } from '../../src/crypto/random.js';
import type { FileId } from '../../src/interface/ids.js';
import { parseEntryName } from '../../src/interface/names.js';
import { toBase64url } from '../../src/wire/base64.js';
import { type DirEntryBody, signDirEntry } from '../../src/wire/dir-entry.js';
import { routes } from '../../src/wire/directory-api.js';
import { signEntryAcl } from '../../src/wire/entry-acl.js';
import { authHeader, signRequest } from '../../src/wire/request-auth.js';
import { request } from 'undici';
import { createPinnedAgent } from '../../src/wire/pinned-tls.js';
import { type Engine, engines, goodPassword } from '../helpers/directory.js';
import {
  freshPostgresDatabase,
  type RunningProcess,
  startPeervault,
} from '../helpers/processes.js';

interface Ready {
  url: string;
  fingerprint: string;
}

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  // Every cleanup runs even when one fails (a directory's stop fails on an undeclared alert).
  const failures: unknown[] = [];
  for (const cleanup of cleanups.splice(0).reverse()) {
    try {
      await cleanup();
    } catch (err) {
      failures.push(err);
    }
  }
  if (failures.length > 0) throw failures[0];
});

async function directoryProcess(
  engine: Engine,
  dataDir?: string,
  database?: string,
): Promise<{ proc: RunningProcess<Ready>; dataDir: string; database?: string }> {
  const dir = dataDir ?? mkdtempSync(join(tmpdir(), 'pv-e2e-'));
  if (!dataDir) cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  let db = database;
  if (engine === 'postgres' && db === undefined) {
    const fresh = await freshPostgresDatabase();
    cleanups.push(fresh.drop);
    db = fresh.url;
  }
  const proc = await startPeervault<Ready>([
    'directory',
    '--data',
    dir,
    '--listen',
    '127.0.0.1:0',
    '--json',
    ...(db ? ['--database', db] : []),
  ]);
  cleanups.push(async () => void (await proc.stop()));
  return { proc, dataDir: dir, ...(db ? { database: db } : {}) };
}

/**
 * A version 1 entry of the session's user, private to them: a file unless `fields` say
 * otherwise, with the owner's certificate of its (empty) ACL for its final id.
 */
function fileEntry(
  session: DirectorySession,
  parent: FileId,
  name: string,
  fields: Partial<DirEntryBody> = {},
): DirEntryBody {
  const id = fields.id ?? newFileId();
  const nameKey = newSymmetricKey();
  const body: DirEntryBody = {
    parent,
    owner: session.user,
    version: 1,
    kind: 'file',
    tag: lookupTag(nameKey, parseEntryName(name)),
    name: encryptName(nameKey, id, parseEntryName(name)),
    label: encryptName(newSymmetricKey(), id, parseEntryName(name)),
    meta: new Uint8Array(64),
    keys: { [session.user]: new Uint8Array(48) },
    acl: { r: [], w: [] },
    aclCert: new Uint8Array(0),
    deleted: null,
    prev: new Uint8Array(32),
    time: Date.now(),
    ...fields,
    id,
  };
  const aclCert = signEntryAcl(session.identity.signing, {
    entry: id,
    owner: session.user,
    version: 1,
    ...body.acl,
  });
  return { ...body, aclCert };
}

async function setUpUser(
  ready: Ready,
  user: string,
): Promise<{ client: DirectoryClient; session: DirectorySession; root: FileId }> {
  const client = await DirectoryClient.connect(ready);
  cleanups.push(() => client.close());
  await client.register(user, goodPassword(user));
  const session = await client.login(user, goodPassword(user));
  const root = newFileId();
  const body = fileEntry(session, root, 'x', {
    id: root,
    parent: null,
    kind: 'dir',
    tag: new Uint8Array(32),
    name: new Uint8Array(0),
    label: new Uint8Array(0),
    meta: new Uint8Array(0),
  });
  await client.call(
    'POST',
    routes.entries,
    { envelope: toBase64url(signDirEntry(session.identity.signing, body)) },
    session,
  );
  return { client, session, root };
}

describe.each(engines)('directory process on %s', (engine) => {
  it('loses no acknowledged write when killed with SIGKILL mid-write', async () => {
    const first = await directoryProcess(engine);
    const { client, session, root } = await setUpUser(first.proc.ready, 'alice');
    const acknowledged: FileId[] = [];
    let stop = false;
    const writers = Array.from({ length: 4 }, async (_, w) => {
      for (let i = 0; !stop; i++) {
        const entry = fileEntry(session, root, `w${w}-${i}.txt`);
        try {
          await client.call(
            'POST',
            routes.entries,
            { envelope: toBase64url(signDirEntry(session.identity.signing, entry)) },
            session,
          );
          acknowledged.push(entry.id);
        } catch {
          return; // the directory died under us: this write was never acknowledged
        }
      }
    });
    while (acknowledged.length < 40) await new Promise((r) => setTimeout(r, 5));
    await first.proc.kill();
    stop = true;
    await Promise.all(writers);
    await client.close();

    const second = await directoryProcess(engine, first.dataDir, first.database);
    const again = await DirectoryClient.connect(second.proc.ready);
    cleanups.push(() => again.close());
    const relogged = await again.login('alice', goodPassword('alice'));
    const { entries } = await again.call<{ entries: { envelope: string }[] }>(
      'GET',
      routes.children.replace(':id', root),
      undefined,
      relogged,
    );
    expect(entries.length).toBeGreaterThanOrEqual(acknowledged.length);
    for (const id of acknowledged) {
      await again.call('GET', routes.entry.replace(':id', id), undefined, relogged);
    }
  });

  it('stores no plaintext password, file name, content or private key', async () => {
    const { proc, dataDir, database } = await directoryProcess(engine);
    const password = goodPassword('mallory-target');
    const client = await DirectoryClient.connect(proc.ready);
    cleanups.push(() => client.close());
    const identity = await client.register('victim', password);
    const session = await client.login('victim', password);
    const root = newFileId();
    const rootBody = fileEntry(session, root, 'r', {
      id: root,
      parent: null,
      kind: 'dir',
      tag: new Uint8Array(32),
      name: new Uint8Array(0),
      label: new Uint8Array(0),
    });
    await client.call(
      'POST',
      routes.entries,
      { envelope: toBase64url(signDirEntry(session.identity.signing, rootBody)) },
      session,
    );
    const secretName = 'Quarterly-Layoff-Plan-ZQX.txt';
    const entry = fileEntry(session, root, secretName);
    await client.call(
      'POST',
      routes.entries,
      { envelope: toBase64url(signDirEntry(session.identity.signing, entry)) },
      session,
    );

    const privateBlob = encodePrivateIdentity(identity).expose();
    const seed = identity.signing.seed().expose();
    const encKey = identity.encryption.privateKey().expose();
    const needles: { what: string; text: string[]; bytes: Uint8Array[] }[] = [
      { what: 'password', text: [password], bytes: [utf8(password)] },
      { what: 'file name', text: [secretName], bytes: [utf8(secretName)] },
      {
        what: 'private keys',
        text: [toHex(seed), toHex(encKey), toHex(privateBlob)],
        bytes: [seed, encKey],
      },
    ];

    let haystack: Buffer;
    if (engine === 'sqlite') {
      const files = readdirSync(dataDir).filter((f) => f.startsWith('directory.db'));
      haystack = Buffer.concat(files.map((f) => readFileSync(join(dataDir, f))));
      expect(haystack.length).toBeGreaterThan(0);
    } else {
      const db = new pg.Client({ connectionString: database });
      await db.connect();
      const tables = await db.query<{ tablename: string }>(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public'",
      );
      let dump = '';
      for (const { tablename } of tables.rows) {
        const rows = await db.query(`SELECT row_to_json(t)::text AS j FROM "${tablename}" t`);
        dump += rows.rows.map((r: { j: string }) => r.j).join('\n');
      }
      await db.end();
      expect(dump).toContain('victim'); // the dump did read the data
      haystack = Buffer.from(dump);
    }
    const asText = haystack.toString('latin1');
    for (const needle of needles) {
      for (const t of needle.text)
        expect(asText.includes(t), `${needle.what} found as text`).toBe(false);
      for (const b of needle.bytes)
        expect(haystack.includes(Buffer.from(b)), `${needle.what} found as bytes`).toBe(false);
    }
  });
});

describe('two directory processes over one PostgreSQL database', () => {
  it('behave as one directory, and a request replayed to the other process is refused', async () => {
    const a = await directoryProcess('postgres');
    const b = await directoryProcess('postgres', a.dataDir, a.database);
    expect(b.proc.ready.fingerprint).toBe(a.proc.ready.fingerprint);
    const { session } = await setUpUser(a.proc.ready, 'alice');
    const onB = await DirectoryClient.connect(b.proc.ready);
    cleanups.push(() => onB.close());
    // A session made on A works on B.
    await onB.call('GET', routes.trash, undefined, session);
    // One signed request, sent to A then replayed to B.
    const header = signRequest(session.deviceKey, {
      session: session.id,
      method: 'GET',
      path: routes.trash,
      body: new Uint8Array(0),
      time: Date.now(),
    });
    const send = async (url: string) => {
      const agent = createPinnedAgent({ fingerprint: a.proc.ready.fingerprint });
      try {
        const res = await request(url + routes.trash, {
          headers: { [authHeader]: header },
          dispatcher: agent,
        });
        return { status: res.statusCode, body: (await res.body.json()) as { kind?: string } };
      } finally {
        await agent.close();
      }
    };
    expect((await send(a.proc.ready.url)).status).toBe(200);
    const replay = await send(b.proc.ready.url);
    expect(replay.status).toBe(403);
    expect(replay.body.kind).toBe('permission');
  });
});

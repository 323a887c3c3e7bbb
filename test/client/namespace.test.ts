/**
 * The agent's directory verbs against a real directory over HTTPS: names are encrypted and
 * verified end to end, other users see nothing, and the verbs fail with the right kinds.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DirectoryClient } from '../../src/client/directory-client.js';
import {
  type AgentContext,
  ensureRoot,
  list,
  mkdir,
  resolve,
  rmdir,
} from '../../src/client/namespace.js';
import { parseUserName } from '../../src/interface/names.js';
import { parsePath } from '../../src/interface/paths.js';
import { routes } from '../../src/wire/directory-api.js';
import { goodPassword, startTestDirectory, type TestDirectory } from '../helpers/directory.js';
import { expectKindAsync } from '../helpers/expect-error.js';

describe('namespace verbs', () => {
  let dir: TestDirectory;
  let client: DirectoryClient;
  let alice: AgentContext;
  let bob: AgentContext;
  const a = parseUserName('alice');
  const p = (text: string) => parsePath(text, a);

  beforeAll(async () => {
    dir = await startTestDirectory('sqlite');
    client = await dir.client();
    await client.register('alice', goodPassword('alice'));
    await client.register('bob', goodPassword('bob'));
    alice = { directory: client, session: await client.login('alice', goodPassword('alice')) };
    bob = { directory: client, session: await client.login('bob', goodPassword('bob')) };
  }, 60_000);
  afterAll(async () => dir?.stop());

  it('creates the root once, even when asked twice', async () => {
    const first = await ensureRoot(alice);
    const second = await ensureRoot(alice);
    expect(second.body.id).toBe(first.body.id);
  });

  it('makes nested directories and lists them by their decrypted names', async () => {
    await mkdir(alice, p('/alice/pcs'));
    await mkdir(alice, p('/alice/pcs/reports'));
    await mkdir(alice, p('/alice/Relevé 2026'));
    expect((await list(alice, p('/alice'))).map((e) => e.name)).toEqual(['Relevé 2026', 'pcs']);
    expect((await list(alice, p('/alice/pcs'))).map((e) => [e.name, e.kind, e.writer])).toEqual([
      ['reports', 'dir', 'alice'],
    ]);
    expect((await resolve(alice, p('/alice/pcs/reports'))).body.kind).toBe('dir');
  });

  it('never sends a plaintext name to the directory', async () => {
    await mkdir(alice, p('/alice/top-secret-project-x'));
    const { entries } = await client.call<{ entries: { envelope: string }[] }>(
      'GET',
      routes.children.replace(':id', (await ensureRoot(alice)).body.id),
      undefined,
      alice.session,
    );
    const raw = entries
      .map((e) => Buffer.from(e.envelope, 'base64url').toString('latin1'))
      .join('');
    expect(raw).not.toContain('top-secret-project-x');
  });

  it('refuses a duplicate, a missing parent, and removing a non-empty directory', async () => {
    await expectKindAsync('exist', mkdir(alice, p('/alice/pcs')));
    await expectKindAsync('not-exist', mkdir(alice, p('/alice/nope/child')));
    await expectKindAsync('not-empty', rmdir(alice, p('/alice/pcs')));
    await expectKindAsync('not-exist', resolve(alice, p('/alice/nope')));
  });

  it('removes an empty directory into the trash, freeing its name', async () => {
    await mkdir(alice, p('/alice/tmp'));
    await rmdir(alice, p('/alice/tmp'));
    await expectKindAsync('not-exist', resolve(alice, p('/alice/tmp')));
    const { entries } = await client.call<{ entries: unknown[] }>(
      'GET',
      routes.trash,
      undefined,
      alice.session,
    );
    expect(entries.length).toBeGreaterThan(0);
    await mkdir(alice, p('/alice/tmp'));
  });

  it("shows bob nothing of alice's tree: her root exists (key logs are public) but he holds no key to it", async () => {
    await expectKindAsync('not-exist', resolve(bob, parsePath('/alice/pcs', bob.session.user)));
    await expectKindAsync('permission', resolve(bob, parsePath('/alice', bob.session.user)));
    expect(await list(bob, parsePath('/alice', bob.session.user))).toEqual([]);
  });
});

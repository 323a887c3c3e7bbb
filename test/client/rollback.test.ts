/**
 * Rollback and fork detection by the device that saw a newer version (seen-check.ts), from the
 * attacker's side: the directory's SQLite database is edited as an intruder (or a malicious
 * operator) would, and the device that saw the newer history refuses what it is shown and
 * raises its own alert. A real directory over HTTPS and real block peers.
 */
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FileContext, readFile, writeFile } from '../../src/client/files.js';
import { resolve, verifyEntry } from '../../src/client/namespace.js';
import { parseGrantWords } from '../../src/interface/grants.js';
import { parseUserName } from '../../src/interface/names.js';
import { parsePath } from '../../src/interface/paths.js';
import { type EntryResponse, routes } from '../../src/wire/directory-api.js';
import { type Agents, bytesOf, startAgents, textOf } from '../helpers/agents.js';
import { goodPassword } from '../helpers/directory.js';
import { expectKindAsync } from '../helpers/expect-error.js';

const p = (text: string) => parsePath(text, parseUserName('alice'));

describe('rollback and fork detection on the device', () => {
  let agents: Agents<'alice' | 'bob'>;

  beforeAll(async () => {
    // Every test here is an attack that devices report to the directory's monitor.
    agents = await startAgents(['alice', 'bob'], { peers: 2, allowAlerts: ['entry-integrity'] });
  });
  afterAll(async () => {
    await agents.close();
  });

  /** Another device of `user`: its own directory client, so its own memory of versions. */
  const device = async (user: 'alice' | 'bob'): Promise<FileContext> => {
    const client = await agents.dir.client();
    return {
      directory: client,
      session: await client.login(user, goodPassword(user)),
      blocks: agents.ctx[user].blocks,
    };
  };

  /** Rolls entry `id` back to `version` in the directory's database, as an intruder would. */
  const rollBack = (id: string, version: number) => {
    const db = new Database(join(agents.dir.dataDir, 'directory.db'));
    try {
      const row = db
        .prepare<[string, number], { envelope: Buffer; writer: string }>(
          'SELECT envelope, writer FROM entry_versions WHERE id = ? AND version = ?',
        )
        .get(id, version)!;
      db.prepare('UPDATE entries SET envelope = ?, version = ?, writer = ? WHERE id = ?').run(
        row.envelope,
        version,
        row.writer,
        id,
      );
      db.prepare('DELETE FROM entry_versions WHERE id = ? AND version > ?').run(id, version);
    } finally {
      db.close();
    }
  };

  it('catches a rollback below a version the device saw; a device that never saw it cannot tell', async () => {
    const { alice } = agents.ctx;
    const path = p('/alice/ledger.txt');
    await writeFile(alice, path, bytesOf('one'), { mode: 'create' });
    await writeFile(alice, path, bytesOf('two'));
    await writeFile(alice, path, bytesOf('three'));
    expect(await textOf(alice, path)).toBe('three');
    const { body } = await resolve(alice, path);

    rollBack(body.id, 2);

    const error = await expectKindAsync('integrity', readFile(alice, path));
    expect(error.message).toMatch(/version 2 of this entry, but this device saw version 3/);
    expect(error.message).toMatch(/rolled it back/);
    await expectKindAsync('integrity', readFile(alice, path));
    const alerts = alice.directory.seen.alerts(alice.session.user);
    expect(alerts).toHaveLength(1);
    expect(alerts[0]).toMatchObject({
      rule: 'entry-rollback',
      subject: body.id,
      count: 2,
      ackedAt: null,
    });
    expect(alerts[0]!.evidence).toMatch(/directory 2, seen 3/);
    // Nobody else's memory is touched: bob has no alert, and a new device of alice's (which
    // never saw version 3) reads version 2. That is the limit of what one device knows; peers
    // gossiping what they saw close it (head-gossip.ts).
    expect(alice.directory.seen.alerts(agents.ctx.bob.session.user)).toHaveLength(0);
    const fresh = await device('alice');
    try {
      expect(await textOf(fresh, path)).toBe('two');
      expect(fresh.directory.seen.alerts(fresh.session.user)).toHaveLength(0);
    } finally {
      await fresh.directory.close();
    }
    // Acknowledging the alert is the user's; the entry stays refused (it is still rolled back).
    alice.directory.seen.ack(alice.session.user, alerts[0]!.id, Date.now());
    await expectKindAsync('integrity', readFile(alice, path));
  });

  it('catches a fork: another version under a number the device saw, and a history that does not descend from it', async () => {
    const { alice } = agents.ctx;
    const path = p('/alice/shared.txt');
    await writeFile(alice, path, bytesOf('v1'), {
      mode: 'create',
      grants: parseGrantWords(['bob', 'rw']),
    });
    await writeFile(alice, path, bytesOf('v2'));
    const { body } = await resolve(alice, path);
    // A second device of alice's sees version 2 too.
    const second = await device('alice');
    try {
      expect(await textOf(second, path)).toBe('v2');
      rollBack(body.id, 1);
      // bob, shown version 1, writes a version 2 of his own: the directory takes it.
      const bob = await device('bob');
      try {
        await writeFile(bob, path, bytesOf('bob-2'));
        const same = await expectKindAsync('integrity', readFile(second, path));
        expect(same.message).toMatch(/a fork/);
        // And a history that goes on from bob's version 2 does not descend from alice's.
        await writeFile(bob, path, bytesOf('bob-3'));
        const walked = await expectKindAsync('integrity', readFile(alice, path));
        expect(walked.message).toMatch(/a fork/);
      } finally {
        await bob.directory.close();
      }
      expect(second.directory.seen.alerts(second.session.user)).toMatchObject([
        { rule: 'entry-fork', subject: body.id },
      ]);
      expect(
        alice.directory.seen.alerts(alice.session.user).filter((a) => a.subject === body.id),
      ).toMatchObject([{ rule: 'entry-fork' }]);
    } finally {
      await second.directory.close();
    }
  });

  it('takes a stale answer (one in flight while the device wrote a newer version) without alarm', async () => {
    const { alice } = agents.ctx;
    const path = p('/alice/racy.txt');
    await writeFile(alice, path, bytesOf('first'), { mode: 'create' });
    const { body } = await resolve(alice, path);
    const stale = await alice.directory.call<EntryResponse>(
      'GET',
      routes.entry.replace(':id', body.id),
      undefined,
      alice.session,
    );
    await writeFile(alice, path, bytesOf('second'));
    const before = alice.directory.seen.alerts(alice.session.user).length;
    const used = await verifyEntry(alice, stale, { parent: body.parent, owner: body.owner });
    expect(used.body.version).toBe(2);
    expect(alice.directory.seen.alerts(alice.session.user)).toHaveLength(before);
    expect(await textOf(alice, path)).toBe('second');
  });

  it('remembers its own writes: a rollback of a version only written here is caught too', async () => {
    const { alice } = agents.ctx;
    const path = p('/alice/written.txt');
    await writeFile(alice, path, bytesOf('a'), { mode: 'create' });
    const { body } = await resolve(alice, path);
    await writeFile(alice, path, bytesOf('b')); // never read back
    rollBack(body.id, 1);
    await expectKindAsync('integrity', readFile(alice, path));
  });
});

/**
 * Sharing as the seed asks for it (`touch team5.txt peer_2 r peer_3 w`), through real
 * processes: `peervault demo --no-shell` with alice, bob and carol, a fourth user (dave)
 * registered with `peervault register`, and every step in `peervault shell` or a one-shot
 * command, found through ./.peervault/demo like a new user would.
 *
 * The steps build on one another, in order: alice shares team5.txt with bob (read) and carol
 * (write); bob reads and is refused a write; carol writes; dave sees nothing; alice withdraws
 * bob's right; then a shared folder whose grants pass to what is created in it.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DemoUsers, noStack, runPeervault, startDemoUsers } from '../helpers/demo-users.js';

describe('sharing between four users of the demo network', () => {
  let demo: DemoUsers;
  const shell = (user: string, lines: readonly string[]) => demo.shell(user, lines);
  const as = (user: string, args: readonly string[]) => demo.as(user, args);

  beforeAll(async () => {
    demo = await startDemoUsers('pv-sharing-');
  }, 90_000);

  afterAll(async () => {
    await demo?.stop();
  });

  it('alice: touch team5.txt bob r carol w, writes it, and perms shows the grants', async () => {
    const run = await shell('alice', [
      'touch team5.txt bob r carol w',
      'cat team5.txt Team 5 meets on Thursday.',
      'perms team5.txt',
    ]);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^path\s+\/alice\/team5\.txt$/m);
    expect(run.stdout).toMatch(/^kind\s+file$/m);
    expect(run.stdout).toMatch(/^owner\s+alice$/m);
    expect(run.stdout).toMatch(/^writer\s+alice \(version \d+\)$/m);
    expect(run.stdout).toMatch(/^grants\s+bob \(read\), carol \(write\)$/m);
    expect(run.stdout).toMatch(/^inherited\s+no$/m);
  });

  it('bob reads team5.txt; his write (cat) is refused with a permission error that says what to do', async () => {
    const run = await shell('bob', [
      'read /alice/team5.txt',
      'cat /alice/team5.txt',
      'bob was here',
      '.',
      'read /alice/team5.txt',
    ]);
    expect(run.stdout, run.stderr).toBe('Team 5 meets on Thursday.\n'.repeat(2));
    expect(run.stderr).toBe(
      'error: you may not write /alice/team5.txt; ask alice (the owner) to share it with you for writing (w)\n',
    );
    expect(run.code).toBe(1);

    // The one-shot write: exit 3 (permission), the same sentence, no generic hint, no stack.
    const file = join(demo.cwd, 'bob.pw');
    writeFileSync(file, `${demo.passwords['bob']!}\n`, { mode: 0o600 });
    const write = await runPeervault(
      demo.cwd,
      ['write', '/alice/team5.txt', '--user', 'bob', '--password-file', file],
      'overwritten\n',
    );
    expect(write.code).toBe(3);
    expect(write.stderr).toBe(
      'peervault write: you may not write /alice/team5.txt; ask alice (the owner) to share it with you for writing (w).\n',
    );
  });

  it('carol writes team5.txt; alice reads her version, and perms names carol as its writer', async () => {
    const carol = await shell('carol', [
      'cat /alice/team5.txt Moved to Friday.',
      'read /alice/team5.txt',
    ]);
    expect(carol).toMatchObject({ code: 0, stdout: 'Moved to Friday.\n', stderr: '' });

    const alice = await shell('alice', ['read team5.txt', 'perms team5.txt']);
    expect(alice.stderr).toBe('');
    expect(alice.stdout.startsWith('Moved to Friday.\n')).toBe(true);
    expect(alice.stdout).toMatch(/^writer\s+carol \(version \d+\)$/m);

    const json = await as('alice', ['perms', 'team5.txt', '--json']);
    expect(json.code, json.stderr).toBe(0);
    const perms = JSON.parse(json.stdout) as { grants: unknown[] };
    expect(perms).toMatchObject({
      path: '/alice/team5.txt',
      kind: 'file',
      owner: 'alice',
      writer: 'carol',
      inherited: false,
    });
    expect(perms.grants).toHaveLength(2);
    expect(perms.grants).toEqual(
      expect.arrayContaining([
        { user: 'bob', right: 'r' },
        { user: 'carol', right: 'w' },
      ]),
    );
  });

  it('dave, with nothing shared: ls /alice is empty, shared is empty, team5.txt does not exist', async () => {
    const run = await shell('dave', ['ls /alice', 'shared']);
    expect(run).toMatchObject({ code: 0, stdout: '', stderr: '' });

    const shared = await as('dave', ['shared', '--json']);
    expect(shared.code, shared.stderr).toBe(0);
    expect(JSON.parse(shared.stdout)).toEqual([]);

    const read = await as('dave', ['read', '/alice/team5.txt']);
    expect(read.code).toBe(5);
    expect(read.stdout).toBe('');
    noStack(read.stderr);
  });

  it("bob's shared lists team5.txt from alice, and ls /alice shows it", async () => {
    const run = await shell('bob', ['shared', 'ls /alice']);
    expect(run.stderr).toBe('');
    expect(run.stdout).toBe('from alice:\n  /alice/team5.txt  read  file\nteam5.txt\n');

    const json = await as('bob', ['shared', '--json']);
    expect(json.code, json.stderr).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual([
      expect.objectContaining({
        owner: 'alice',
        name: 'team5.txt',
        path: '/alice/team5.txt',
        kind: 'file',
        right: 'r',
      }),
    ]);
  });

  it('only alice shares and unshares: bob is told who may, in the shell and one-shot', async () => {
    const run = await shell('bob', [
      'share /alice/team5.txt dave r',
      'unshare /alice/team5.txt carol',
    ]);
    expect(run.stderr).toBe(
      'error: only alice (the owner) may share /alice/team5.txt; ask alice to do it\n' +
        'error: only alice (the owner) may unshare /alice/team5.txt; ask alice to do it\n',
    );
    expect(run.code).toBe(1);

    const json = await as('bob', ['share', '/alice/team5.txt', 'dave', 'r', '--json']);
    expect(json.code).toBe(3);
    expect(JSON.parse(json.stdout)).toEqual({
      error: {
        kind: 'permission',
        message: 'only alice (the owner) may share /alice/team5.txt; ask alice to do it',
      },
    });
    noStack(json.stderr);

    // Nothing changed: dave still sees nothing.
    expect((await as('dave', ['read', '/alice/team5.txt'])).code).toBe(5);
  });

  it('perms: bob, who may read team5.txt, sees who has access; dave, who may not, sees nothing', async () => {
    const bob = await shell('bob', ['perms /alice/team5.txt']);
    expect(bob.stderr).toBe('');
    expect(bob.stdout).toMatch(/^grants\s+bob \(read\), carol \(write\)$/m);
    const dave = await as('dave', ['perms', '/alice/team5.txt']);
    expect(dave.code).toBe(5);
    noStack(dave.stderr);
  });

  it('unshare team5.txt bob: bob can no longer read it, carol still can', async () => {
    const run = await shell('alice', ['unshare team5.txt bob']);
    expect(run).toMatchObject({
      code: 0,
      stdout: '/alice/team5.txt is shared with carol (write)\n',
      stderr: '',
    });

    const bob = await as('bob', ['read', '/alice/team5.txt']);
    expect([3, 5]).toContain(bob.code);
    expect(bob.stdout).toBe('');
    expect((await shell('bob', ['shared'])).stdout).toBe('');
    expect((await as('carol', ['read', '/alice/team5.txt'])).stdout).toBe('Moved to Friday.\n');
  });

  it('mkdir proj bob r: what alice writes in it, bob reads (inherited), and may not write there', async () => {
    const alice = await shell('alice', [
      'mkdir proj bob r',
      'cat proj/a.txt alpha',
      'perms proj/a.txt',
    ]);
    expect(alice.stderr).toBe('');
    expect(alice.stdout).toMatch(/^grants\s+bob \(read\)$/m);

    const bob = await shell('bob', [
      'ls /alice',
      'read /alice/proj/a.txt',
      'cat /alice/proj/a.txt changed',
    ]);
    expect(bob.stdout, bob.stderr).toBe('proj/\nalpha\n');
    expect(bob.stderr).toBe(
      'error: you may not write /alice/proj/a.txt; ask alice (the owner) to share it with you for writing (w)\n',
    );
  });

  it('share DIR reaches what is in it; unshare DIR takes it back from all; own grants stay', async () => {
    const share = await shell('alice', [
      'share proj carol w',
      'touch proj/own.txt dave r',
      'cat proj/own.txt for dave',
    ]);
    expect(share.stderr).toBe('');
    expect(share.stdout).toMatch(/^\/alice\/proj\/ is shared with bob \(read\), carol \(write\)/);

    const carol = await shell('carol', [
      'cat /alice/proj/a.txt from carol',
      'read /alice/proj/a.txt',
    ]);
    expect(carol).toMatchObject({ code: 0, stdout: 'from carol\n', stderr: '' });

    // own.txt's grant to dave is its own: dave reaches it at /alice/own.txt, not through proj.
    const dave = await shell('dave', ['shared', 'read /alice/own.txt']);
    expect(dave.stderr).toBe('');
    expect(dave.stdout).toBe('from alice:\n  /alice/own.txt  read  file\nfor dave\n');

    const unshare = await shell('alice', ['unshare proj bob carol', 'perms proj/own.txt']);
    expect(unshare.stderr).toBe('');
    expect(unshare.stdout).toMatch(/^\/alice\/proj\/ is shared with no one/m);
    expect(unshare.stdout).toMatch(/^grants\s+dave \(read\)$/m);

    expect([3, 5]).toContain((await as('bob', ['read', '/alice/proj/a.txt'])).code);
    expect([3, 5]).toContain((await as('carol', ['read', '/alice/proj/a.txt'])).code);
    expect((await as('dave', ['read', '/alice/own.txt'])).stdout).toBe('for dave\n');
  });

  it('refuses to grant the owner a right, and grants in the wrong shape, before anything is made', async () => {
    const run = await shell('alice', [
      'touch self.txt alice r',
      'touch pairs.txt bob',
      'touch right.txt bob x',
      'mkdir box bob r carol',
      'ls',
    ]);
    expect(run.stderr).toBe(
      'error: alice owns this and always has every right\n' +
        'error: grants come in pairs: USER r|w|rw, for example `bob r carol w`\n' +
        'error: unknown right "x": use r (read), w or rw (write and read)\n' +
        'error: grants come in pairs: USER r|w|rw, for example `bob r carol w`\n',
    );
    expect(run.stdout).toBe('proj/\nteam5.txt\n');
  });
});

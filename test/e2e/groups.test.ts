/**
 * Groups through real processes: `peervault demo --no-shell` with alice, bob and carol, and a
 * fourth user (dave) registered with `peervault register`; every step in `peervault shell` or a
 * one-shot `peervault group ...`, found through ./.peervault/demo like a new user would.
 *
 * The steps build on one another, in order: alice makes @team (bob, carol) and shares a file
 * with it; members read, dave does not; dave joins and reads at once; bob leaves and can no
 * longer read; unsharing a member's own grant says what the group still gives; a group in use
 * is deleted only with --force.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DemoUsers, noStack, runPeervault, startDemoUsers } from '../helpers/demo-users.js';

describe('groups between four users of the demo network', () => {
  let demo: DemoUsers;
  const shell = (user: string, lines: readonly string[]) => demo.shell(user, lines);
  const as = (user: string, args: readonly string[]) => demo.as(user, args);

  beforeAll(async () => {
    demo = await startDemoUsers('pv-groups-');
  }, 90_000);

  afterAll(async () => {
    await demo?.stop();
  });

  it('alice: group create team bob carol, touch notes.txt @team r, and perms shows the group', async () => {
    const run = await shell('alice', [
      'group create team bob carol',
      'group',
      'touch notes.txt @team r',
      'cat notes.txt Team notes.',
      'perms notes.txt',
    ]);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout.startsWith('created @team: bob, carol\n@team: bob, carol\n')).toBe(true);
    expect(run.stdout).toMatch(/^grants\s+@team \(read\): bob, carol$/m);
    expect(run.stdout).toMatch(/^users\s+bob \(read\), carol \(read\)$/m);
  });

  it('members read; dave, who is not one, sees nothing; bob sees the grant, not the members', async () => {
    const bob = await shell('bob', ['read /alice/notes.txt', 'perms /alice/notes.txt']);
    expect(bob.stderr).toBe('');
    expect(bob.stdout.startsWith('Team notes.\n')).toBe(true);
    expect(bob.stdout).toMatch(/^grants\s+@team \(read\)$/m);
    expect(bob.stdout).toMatch(/^users\s+bob \(read\), carol \(read\)$/m);
    expect((await as('carol', ['read', '/alice/notes.txt'])).stdout).toBe('Team notes.\n');
    const dave = await as('dave', ['read', '/alice/notes.txt']);
    expect(dave.code).toBe(5);
    noStack(dave.stderr);
    // Nobody else sees alice's groups.
    expect(await as('bob', ['group', '--json'])).toMatchObject({ code: 0, stdout: '[]\n' });
  });

  it('peervault group add team dave: dave reads at once', async () => {
    const add = await as('alice', ['group', 'add', 'team', 'dave', '--json']);
    expect(add.code, add.stderr).toBe(0);
    expect(JSON.parse(add.stdout)).toMatchObject({
      name: 'team',
      members: ['bob', 'carol', 'dave'],
      created: false,
      entries: 1,
    });
    expect((await as('dave', ['read', '/alice/notes.txt'])).stdout).toBe('Team notes.\n');
    expect((await shell('dave', ['shared'])).stdout).toBe(
      'from alice:\n  /alice/notes.txt  read  file\n',
    );
  });

  it('group remove team bob: bob can no longer read it', async () => {
    const run = await shell('alice', ['group remove team bob']);
    expect(run).toMatchObject({
      code: 0,
      stdout: '@team: carol, dave (1 entry shared with it updated)\n',
      stderr: '',
    });
    const bob = await as('bob', ['read', '/alice/notes.txt']);
    expect([3, 5]).toContain(bob.code);
    expect(bob.stdout).toBe('');
    expect((await shell('bob', ['shared'])).stdout).toBe('');
  });

  it('unshare of a user still in the group says so; unshare @team takes the group back', async () => {
    const run = await shell('alice', [
      'share notes.txt carol w',
      'unshare notes.txt carol',
      'touch plan.txt @team r',
      'unshare plan.txt @team',
    ]);
    expect(run.stderr).toBe('');
    expect(run.stdout).toBe(
      '/alice/notes.txt is shared with @team (read), carol (write)\n' +
        '/alice/notes.txt is shared with @team (read)\n' +
        'carol still has access through @team; `group remove team carol` takes it away\n' +
        '/alice/plan.txt is shared with no one\n',
    );
    expect((await as('carol', ['read', '/alice/notes.txt'])).stdout).toBe('Team notes.\n');
    expect((await as('dave', ['read', '/alice/plan.txt'])).code).toBe(5);

    const json = await as('alice', ['unshare', 'notes.txt', 'dave', '--json']);
    expect(json.code).toBe(2);
    const answer = JSON.parse(json.stdout) as { error: { kind: string; message: string } };
    expect(answer.error.kind).toBe('invalid');
    expect(answer.error.message).toContain('dave has access only through @team');
  });

  it('group delete refuses while the group is in use; --force takes it off first', async () => {
    const refused = await shell('alice', ['group delete team']);
    expect(refused.stderr).toBe(
      'error: 1 entry is shared with @team; unshare it first, or delete with --force to take @team off it\n',
    );
    expect(refused.code).toBe(1);
    expect((await as('carol', ['read', '/alice/notes.txt'])).stdout).toBe('Team notes.\n');

    const forced = await as('alice', ['group', 'delete', 'team', '--force', '--json']);
    expect(forced.code, forced.stderr).toBe(0);
    expect(JSON.parse(forced.stdout)).toEqual({ name: 'team', entries: 1 });
    expect([3, 5]).toContain((await as('carol', ['read', '/alice/notes.txt'])).code);
    const after = await shell('alice', ['group', 'perms notes.txt']);
    expect(after.stderr).toBe('');
    expect(after.stdout).toMatch(/^grants\s+none \(only alice\)$/m);
  });

  it('explains itself, and refuses words that do not fit', async () => {
    const help = await runPeervault(demo.cwd, ['group', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Usage: peervault group [create NAME [USER ...]');
    expect(help.stdout).toContain('stands where a user stands');

    const run = await shell('alice', [
      'help group',
      'group frobnicate team',
      'group add team',
      'group create Team bob',
      'touch x.txt @Team r',
      'share notes.txt @nope r',
      'group add team bob',
    ]);
    expect(run.stdout).toContain('usage: group [create NAME [USER ...]');
    expect(run.stderr.split('\n')).toEqual([
      'error: unknown group command "frobnicate": create, add, remove or delete (usage: group [create NAME [USER ...] | add NAME USER ... | remove NAME USER ... | delete [--force] NAME])',
      'error: usage: group [create NAME [USER ...] | add NAME USER ... | remove NAME USER ... | delete [--force] NAME]',
      'error: "Team" is not a group name (a-z, 0-9, _ or -, starting with a letter); usage: group [create NAME [USER ...] | add NAME USER ... | remove NAME USER ... | delete [--force] NAME]',
      'error: "@Team" is not a group (@ and a-z, 0-9, _ or -, starting with a letter): grants are USER r|w|rw pairs, for example `bob r carol w`',
      'error: you have no group @nope; make it with `group create nope USER ...`',
      'error: you have no group @team; make it with `group create team USER ...`',
      '',
    ]);
    noStack(run.stderr);
  });
});

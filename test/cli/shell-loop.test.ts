/**
 * The shell's loop over a pipe, against a small recording stand-in for the local API: output
 * and errors, going on after a failure, the exit code, login, and what reaches the API.
 * (The real peer is driven in test/e2e/shell.test.ts.)
 */
import { Readable, Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { LocalApi } from '../../src/cli/local-api.js';
import { readFirstLine } from '../../src/cli/shell/first-line.js';
import { runShell } from '../../src/cli/shell/shell.js';
import { FsError } from '../../src/interface/errors.js';

/** A local API over a map of paths, logging every write. */
function stubApi() {
  const files = new Map<string, string>([['/alice/team5.txt', 'hello\n']]);
  const dirs = new Set<string>(['/alice', '/alice/pcs']);
  const writes: { path: string; text: string; mode: string; grants?: unknown[] }[] = [];
  const calls: string[] = [];
  const notFound = (path: string) =>
    new FsError('not-exist', `no such file or directory: ${path}`, { op: 'stat' });
  const api = {
    session: undefined as unknown,
    login(user: string, password: string) {
      calls.push(`login ${user}`);
      if (password !== 'right')
        throw new FsError('permission', 'wrong user name or password', { op: 'login' });
      this.session = { token: 't', user, expiresAt: 0, fingerprint: 'F' };
      return Promise.resolve(this.session);
    },
    logout() {
      calls.push('logout');
      return Promise.resolve();
    },
    stat(path: string) {
      if (dirs.has(path))
        return Promise.resolve({
          path,
          kind: 'dir',
          version: 1,
          size: 0,
          mtime: 0,
          owner: 'alice',
        });
      const text = files.get(path);
      if (text === undefined) return Promise.reject(notFound(path));
      return Promise.resolve({
        path,
        kind: 'file',
        version: 1,
        size: text.length,
        mtime: 0,
        owner: 'alice',
      });
    },
    list(path: string) {
      if (!dirs.has(path)) return Promise.reject(notFound(path));
      const names = [...files.keys(), ...dirs]
        .filter((p) => p.startsWith(`${path}/`) && !p.slice(path.length + 1).includes('/'))
        .sort();
      return Promise.resolve(
        names.map((p) => ({
          name: p.slice(path.length + 1),
          kind: dirs.has(p) ? 'dir' : 'file',
          version: 1,
          owner: 'alice',
          writer: 'alice',
        })),
      );
    },
    writeFile(path: string, content: Uint8Array, mode: string, grants: unknown[] = []) {
      if (dirs.has(path))
        return Promise.reject(new FsError('is-dir', `${path} is a directory`, { op: 'write' }));
      if (mode === 'create' && files.has(path))
        return Promise.reject(new FsError('exist', `${path} already exists`, { op: 'create' }));
      const text = Buffer.from(content).toString('utf8');
      writes.push({ path, text, mode, ...(grants.length > 0 ? { grants } : {}) });
      files.set(path, mode === 'append' ? (files.get(path) ?? '') + text : text);
      return Promise.resolve({ version: 1, size: text.length });
    },
    readFile(path: string) {
      const text = files.get(path);
      if (text === undefined) return Promise.reject(notFound(path));
      return Promise.resolve({
        size: text.length,
        version: 1,
        body: Readable.from([Buffer.from(text)]),
      });
    },
    revocate(options: { resume?: boolean }) {
      calls.push(options.resume === true ? 'revocate --resume' : 'revocate');
      return Promise.resolve({
        seq: 1,
        ownRewritten: 3,
        filesRekeyed: 2,
        sharedRewritten: 0,
        sharedReadOnly: 0,
        skipped: 0,
        ms: 120,
        passwordChanged: false,
      });
    },
    mkdir(path: string) {
      dirs.add(path);
      return Promise.resolve();
    },
  };
  return { api: api as unknown as LocalApi, writes, calls, files };
}

/** Runs the shell over `lines` as a pipe. */
async function shell(
  lines: string[],
  options: { password?: string; stub?: ReturnType<typeof stubApi> } = {},
) {
  const stub = options.stub ?? stubApi();
  let out = '';
  let err = '';
  const sink = (add: (text: string) => void) =>
    new Writable({
      write(chunk: Buffer, _e, done) {
        add(chunk.toString());
        done();
      },
    });
  const code = await runShell({
    api: stub.api,
    input: Readable.from([lines.map((l) => `${l}\n`).join('')]),
    output: sink((t) => (out += t)),
    errors: sink((t) => (err += t)),
    interactive: false,
    login: { user: 'alice', password: options.password ?? 'right' },
  });
  return { code, out, err, ...stub };
}

describe('the shell over a pipe', () => {
  it('runs commands, prints results, and logs out at the end', async () => {
    const run = await shell(['ls', 'read team5.txt', 'pwd', 'cd pcs', 'pwd']);
    expect(run.out).toBe('pcs/\nteam5.txt\nhello\n/alice\n/alice/pcs\n');
    expect(run.err).toBe('');
    expect(run.code).toBe(0);
    expect(run.calls).toEqual(['login alice', 'logout']);
  });

  it('says "Login failed" and nothing else for a wrong password, with exit code 3', async () => {
    const run = await shell(['ls'], { password: 'wrong' });
    expect(run.err).toBe('Login failed\n');
    expect(run.out).toBe('');
    expect(run.code).toBe(3);
  });

  it('reports an unknown command with a hint, goes on, and fails at the end', async () => {
    const run = await shell(['frob', 'read nothere', 'ls']);
    expect(run.err).toBe(
      'error: unknown command "frob"; type help for the list\n' +
        'error: no such file or directory: /alice/nothere\n',
    );
    expect(run.out).toBe('pcs/\nteam5.txt\n');
    expect(run.code).toBe(1);
  });

  it('shows the usage for missing arguments, and never a stack', async () => {
    const run = await shell(['touch', 'rmdir', 'read "open']);
    expect(run.err).toBe(
      'error: usage: touch FILE [USER r|w|rw ...]\nerror: usage: rmdir [-r] DIR\nerror: the line has an unclosed " quote\n',
    );
  });

  it('stores the lines after cat up to ".", with quotes in the name', async () => {
    const run = await shell(['cat "my file"', 'one', 'two', '.', 'cat -a "my file" three 3', 'ls']);
    expect(run.writes).toEqual([
      { path: '/alice/my file', text: 'one\ntwo\n', mode: 'replace' },
      { path: '/alice/my file', text: 'three 3\n', mode: 'append' },
    ]);
    expect(run.out).toBe('my file\npcs/\nteam5.txt\n');
  });

  it('consumes the text of a cat that fails, so it never runs as commands', async () => {
    const run = await shell(['cat pcs', 'rm team5.txt', '.', 'pwd']);
    expect(run.err).toBe('error: /alice/pcs is a directory\n');
    expect(run.out).toBe('/alice\n');
    expect(run.code).toBe(1);
  });

  it('creates a file with its grants on touch, and touches an existing file without changing it', async () => {
    const stub = stubApi();
    const run = await shell(['touch new.txt bob r carol rw', 'touch team5.txt', 'read team5.txt'], {
      stub,
    });
    expect(run.err).toBe('');
    expect(stub.writes).toEqual([
      {
        path: '/alice/new.txt',
        text: '',
        mode: 'create',
        grants: [
          { user: 'bob', right: 'r' },
          { user: 'carol', right: 'w' },
        ],
      },
    ]);
    expect(run.out).toBe('hello\n');
  });

  it('refuses a decomposed name whose composed form exists', async () => {
    const stub = stubApi();
    stub.files.set('/alice/caf\u00e9', 'x\n');
    const run = await shell(['touch cafe\u0301', 'touch re\u0301sume\u0301'], { stub });
    expect(run.err).toContain('names the existing /alice/caf\u00e9');
    expect(run.files.has('/alice/r\u00e9sum\u00e9')).toBe(true);
  });

  it('runs revocate and prints what it replaced; refuses a new password from a script', async () => {
    const stub = stubApi();
    const run = await shell(['revocate', 'revocate --new-password', 'revocate --frob'], { stub });
    expect(run.out).toContain('Keys replaced for alice (key log event 1)');
    expect(run.out).toContain(
      'own entries signed with the new key   3 (2 files with a new file key)',
    );
    expect(run.err).toBe(
      'error: revocate --new-password asks for the new password: run it at a terminal, or run passwd afterwards\n' +
        'error: usage: revocate [--resume] [--new-password]\n',
    );
    expect(stub.calls).toContain('revocate');
    expect(run.code).toBe(1);
  });

  it('stops at quit and ignores blank and comment lines', async () => {
    const run = await shell(['', '# a comment', 'quit', 'frob']);
    expect(run.err).toBe('');
    expect(run.code).toBe(0);
  });
});

describe('--password-stdin', () => {
  it('takes the first line and hands on the rest untouched', async () => {
    const { line, rest } = await readFirstLine(
      Readable.from([Buffer.from('sec'), Buffer.from('ret\r\nls\nread x\n')]),
    );
    expect(line).toBe('secret');
    let text = '';
    for await (const chunk of rest) text += String(chunk);
    expect(text).toBe('ls\nread x\n');
  });

  it('gives undefined for empty input', async () => {
    expect((await readFirstLine(Readable.from([]))).line).toBeUndefined();
  });
});

describe('the interactive shell', () => {
  it('says at login how many security alerts are unread (and nothing when there are none)', async () => {
    const run = async (unread: number) => {
      const stub = stubApi();
      const alerts = Array.from({ length: unread + 1 }, (_, i) => ({
        id: i + 1,
        origin: i === 0 ? 'device' : 'directory',
        ackedAt: i < unread ? null : 1,
      }));
      Object.assign(stub.api, { alerts: () => Promise.resolve({ alerts, scope: 'own' }) });
      let out = '';
      await runShell({
        api: stub.api,
        input: Readable.from(['quit\n']),
        output: new Writable({
          write(chunk: Buffer, _e, done) {
            out += chunk.toString();
            done();
          },
        }),
        errors: new Writable({ write: (_c, _e, done) => done() }),
        interactive: true,
        login: { user: 'alice', password: 'right' },
      });
      return out;
    };
    expect(await run(2)).toContain('2 unread security alerts: type alerts to read them.');
    expect(await run(0)).not.toContain('unread security alert');
  });
});

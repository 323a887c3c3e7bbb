/**
 * Tab completion as a pure function of the line and the listings it is given.
 */
import { describe, expect, it } from 'vitest';
import { type Candidate, type CompletionSources, complete } from '../../src/cli/shell/completer.js';
import { commandWords, findCommand } from '../../src/cli/shell/commands.js';

const remote: Record<string, Candidate[]> = {
  '': [
    { name: 'pcs', dir: true },
    { name: 'team5.txt', dir: false },
    { name: 'team6.txt', dir: false },
    { name: 'my file', dir: false },
    { name: '.hidden', dir: false },
  ],
  'pcs/': [{ name: 'notes.md', dir: false }],
};
const local: Record<string, Candidate[]> = {
  '': [
    { name: 'photo.jpg', dir: false },
    { name: 'docs', dir: true },
  ],
};

const sources: CompletionSources = {
  commands: commandWords,
  argKind: (command, index) => findCommand(command)?.args[index],
  listRemote: (dir) => {
    const found = remote[dir];
    return found ? Promise.resolve(found) : Promise.reject(new Error('no such directory'));
  },
  listLocal: (dir) => Promise.resolve(local[dir] ?? []),
};

describe('completion', () => {
  it('completes command names, with a space after a single match', async () => {
    expect(await complete('mk', sources)).toEqual([['mkdir '], 'mk']);
    const [hits] = await complete('re', sources);
    expect(hits).toEqual(expect.arrayContaining(['read', 'repair', 'restore', 'revocate']));
    expect((await complete('', sources))[0]).toContain('touch');
  });

  it('completes remote names in the working directory, directories with a slash', async () => {
    expect(await complete('read te', sources)).toEqual([['team5.txt', 'team6.txt'], 'te']);
    expect(await complete('cd p', sources)).toEqual([['pcs/'], 'p']);
    expect(await complete('read team5', sources)).toEqual([['team5.txt '], 'team5']);
  });

  it('completes inside a directory and keeps the typed directory part', async () => {
    expect(await complete('read pcs/n', sources)).toEqual([['pcs/notes.md '], 'pcs/n']);
  });

  it('escapes blanks, or continues an opened quote and closes it', async () => {
    expect(await complete('read my', sources)).toEqual([['my\\ file '], 'my']);
    expect(await complete('read "my', sources)).toEqual([['"my file" '], '"my']);
  });

  it('hides dot names unless a dot was typed', async () => {
    expect((await complete('ls ', sources))[0]).not.toContain('.hidden');
    expect(await complete('ls .', sources)).toEqual([['.hidden '], '.']);
  });

  it('completes local paths where the command takes them, and skips flags when counting', async () => {
    expect(await complete('put ph', sources)).toEqual([['photo.jpg '], 'ph']);
    expect(await complete('put photo.jpg te', sources)).toEqual([['team5.txt', 'team6.txt'], 'te']);
    expect(await complete('get -f team5.txt do', sources)).toEqual([['docs/'], 'do']);
    expect(await complete('help to', sources)).toEqual([['touch '], 'to']);
  });

  it('offers nothing, and never throws, where it has nothing to offer', async () => {
    expect(await complete('pwd x', sources)).toEqual([[], 'x']);
    expect(await complete('read nowhere/x', sources)).toEqual([[], 'nowhere/x']);
    expect(await complete('ls -', sources)).toEqual([[], '-']);
  });
});

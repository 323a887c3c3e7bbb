/**
 * A revocation interrupted by a crash (issue 8, "Crash safety"): real processes, a directory
 * and three peers. alice owns 30 files shared with bob; her one-shot `peervault revocate` runs
 * through peer 0 (her agent), which is killed with SIGKILL at a spread of moments while it
 * runs. Peer 0 is started again on the same data; alice logs in (with her password: the keys
 * she gets are whichever the directory holds) and `revocate --resume` finishes the work. After
 * each round every file reads back byte-identical for alice and for bob, and a second resume
 * has nothing left to do.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiRevocation, LocalApi } from '../../src/cli/local-api.js';
import { saveSession } from '../../src/cli/session-options.js';
import { goodPassword } from '../helpers/directory.js';
import { type ProcessNetwork, startProcessNetwork } from '../helpers/process-network.js';
import { type RunningProcess, startPeervault } from '../helpers/processes.js';

const bin = fileURLToPath(new URL('../../bin/peervault.js', import.meta.url));
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

type PeerReady = { listen: string; api: string; fingerprint: string };

describe('a crash of the agent while a revocation is in flight', () => {
  let net: ProcessNetwork;
  let agent: RunningProcess<PeerReady>;
  let agentData: string;
  let pin: string;
  const files = Array.from({ length: 30 }, (_, i) => ({
    path: `/alice/f${i}.txt`,
    text: `file ${i}: ${'x'.repeat(i * 97)}`,
  }));

  const apiAt = (proc: RunningProcess<PeerReady>, data: string) =>
    new LocalApi({
      url: proc.ready.api,
      token: readFileSync(join(data, 'api-token'), 'utf8').trim(),
    });

  const readAllAs = async (api: LocalApi) => {
    for (const file of files) expect(await api.readText(file.path)).toBe(file.text);
  };

  beforeAll(async () => {
    net = await startProcessNetwork({ peers: 3, replicas: 2 });
    pin = `${net.directory.ready.url}#${net.directory.ready.fingerprint}`;
    await net.register('alice', goodPassword('alice'));
    await net.register('bob', goodPassword('bob'));
    agent = net.peers[0]!.proc;
    agentData = net.peers[0]!.data;
    const alice = apiAt(agent, agentData);
    await alice.login('alice', goodPassword('alice'));
    for (const file of files) {
      await alice.writeFile(file.path, Buffer.from(file.text), 'create', [
        { user: 'bob', right: 'r' },
      ]);
    }
  }, 120_000);

  afterAll(async () => {
    await agent?.stop();
    await net?.close();
  });

  it.each([150, 400, 900])(
    'finishes after a SIGKILL %i ms into revocate, and nobody loses a file',
    async (delay) => {
      const alice = apiAt(agent, agentData);
      saveSession(agentData, await alice.login('alice', goodPassword('alice')));
      const run = spawn(process.execPath, [bin, 'revocate', '--peer', agentData, '--json'], {
        stdio: ['ignore', 'ignore', 'ignore'],
      });
      const exited = new Promise((resolve) => run.once('exit', resolve));
      await sleep(delay);
      await agent.kill();
      await exited;
      // The agent comes back on its data; alice logs in again and finishes what is left.
      agent = await startPeervault<PeerReady>([
        'peer',
        '--directory',
        pin,
        '--data',
        agentData,
        '--listen',
        '127.0.0.1:0',
        '--api',
        '127.0.0.1:0',
        '--replicas',
        '2',
        '--json',
      ]);
      const again = apiAt(agent, agentData);
      await again.login('alice', goodPassword('alice'));
      await again.revocate({ resume: true });
      const second: ApiRevocation = await again.revocate({ resume: true });
      expect(second).toMatchObject({ ownRewritten: 0, filesRekeyed: 0, skipped: 0 });
      await readAllAs(again);
      const bob = apiAt(net.peers[1]!.proc, net.peers[1]!.data);
      await bob.login('bob', goodPassword('bob'));
      await readAllAs(bob);
    },
    120_000,
  );
});

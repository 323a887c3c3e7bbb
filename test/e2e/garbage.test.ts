/**
 * Garbage collection through real processes: a file removed and past retention is purged by
 * its owner's agent, which releases its blocks first; every peer then deletes them from disk,
 * while the blocks of other files stay. A release signed by another user deletes nothing.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalApi } from '../../src/cli/local-api.js';
import { DirectoryClient } from '../../src/client/directory-client.js';
import { parseBlockId, parseFileId } from '../../src/interface/ids.js';
import { parseUserName } from '../../src/interface/names.js';
import { toBase64url } from '../../src/wire/base64.js';
import { signBlockRelease } from '../../src/wire/block-release.js';
import { routes } from '../../src/wire/directory-api.js';
import { goodPassword } from '../helpers/directory.js';
import { blockIdsOn, readAll, until } from '../helpers/peer-files.js';
import { type ProcessNetwork, startProcessNetwork } from '../helpers/process-network.js';

const everywhere = (net: ProcessNetwork) => {
  const all = new Set<string>();
  for (const peer of net.peers) for (const id of blockIdsOn(peer)) all.add(id);
  return all;
};

describe('garbage collection of removed files', () => {
  let net: ProcessNetwork;

  beforeAll(async () => {
    net = await startProcessNetwork({
      peers: 3,
      replicas: 3,
      capacity: '256M',
      directoryArgs: ['--retention', '0s'],
      peerArgs: ['--sweep-interval', '500ms'],
    });
    await net.register('alice', goodPassword('alice'));
    await net.register('mallory', goodPassword('mallory'));
  }, 60_000);
  afterAll(async () => net?.close());

  it('deletes the released blocks from every peer and nothing else; another user cannot release them', async () => {
    const alice = new LocalApi({ url: net.peers[0]!.proc.ready.api, token: net.peers[0]!.token });
    await alice.login('alice', goodPassword('alice'));
    const kept = randomBytes(2 * 1024 * 1024 + 5);
    await alice.writeFile('/alice/kept.bin', kept);
    const keptBlocks = everywhere(net);
    await alice.writeFile('/alice/gone.bin', randomBytes(2 * 1024 * 1024 + 9));
    const goneBlocks = [...everywhere(net)].filter((id) => !keptBlocks.has(id));
    expect(goneBlocks.length).toBeGreaterThanOrEqual(3);

    // Mallory signs a release of alice's kept blocks: her own signature, so the directory takes
    // it, but no peer deletes blocks that mallory did not store.
    const directory = await DirectoryClient.connect(net.directory.ready);
    try {
      const session = await directory.login('mallory', goodPassword('mallory'));
      const release = signBlockRelease(session.identity.signing, {
        user: parseUserName('mallory'),
        file: parseFileId('A'.repeat(22)),
        blocks: [...keptBlocks].map((id) => parseBlockId(id)),
        time: Date.now(),
      });
      await directory.call('POST', routes.releases, { envelope: toBase64url(release) }, session);
    } finally {
      await directory.close();
    }

    await alice.remove('/alice/gone.bin');
    const summary = await alice.gc();
    expect(summary).toEqual({ purged: 1, releasedBlocks: goneBlocks.length, kept: 0 });

    await until(() => goneBlocks.every((id) => !everywhere(net).has(id)), 20_000);
    const left = everywhere(net);
    for (const id of keptBlocks) expect(left.has(id)).toBe(true);
    for (const peer of net.peers) {
      await peer.proc.logged('"event":"block.released"');
    }
    expect(Buffer.compare(await readAll(alice, '/alice/kept.bin'), kept)).toBe(0);
    await expect(alice.stat('/alice/gone.bin')).rejects.toMatchObject({ kind: 'not-exist' });
  }, 90_000);
});

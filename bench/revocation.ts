/**
 * The time `revocate` takes (issue 8): a user with N owned files (each shared with another
 * user, so each gets a new file key wrapped to two keys) and N files shared with them that they
 * may write (each signed again), against a real directory over HTTPS (SQLite) and real block
 * peers in this process. The first step (the key change, one request) is timed apart from the
 * rest (every entry gets a new version).
 */
import { writeFile } from '../src/client/files.js';
import { mkdir } from '../src/client/namespace.js';
import { finishRevocation } from '../src/client/revocation.js';
import { parseGrantWords } from '../src/interface/grants.js';
import { parseUserName } from '../src/interface/names.js';
import { parsePath } from '../src/interface/paths.js';
import { bytesOf, startAgents } from '../test/helpers/agents.js';
import { type Figure, figure } from './harness.js';

/** Figures for revocate with `count` owned and `count` shared-with files. */
export async function revocationFigures(quick: boolean): Promise<Figure[]> {
  const count = quick ? 100 : 1000;
  // One client makes every request here: the per-address DoS guard would throttle it.
  const agents = await startAgents(['alice', 'bob'] as const, {
    peers: 2,
    replicas: 1,
    directory: { requestsPerSecond: 1_000_000 },
  });
  try {
    const { client, ctx } = agents;
    const alicePath = (t: string) => parsePath(t, parseUserName('alice'));
    const bobPath = (t: string) => parsePath(t, parseUserName('bob'));
    await mkdir(ctx.alice, alicePath('/alice/own'));
    await mkdir(ctx.bob, bobPath('/bob/for-alice'), parseGrantWords(['alice', 'w']));
    for (let i = 0; i < count; i++) {
      await writeFile(ctx.alice, alicePath(`/alice/own/f${i}`), bytesOf(`own ${i}`), {
        mode: 'create',
        grants: parseGrantWords(['bob', 'r']),
      });
      await writeFile(ctx.alice, bobPath(`/bob/for-alice/f${i}`), bytesOf(`shared ${i}`), {
        mode: 'create',
      });
    }
    const started = performance.now();
    await client.revokeKeys(ctx.alice.session);
    const keyChange = performance.now() - started;
    const rest = await finishRevocation(ctx.alice);
    const total = performance.now() - started;
    if (rest.ownRewritten < count || rest.sharedRewritten < count) {
      throw new Error(
        `revocate rewrote ${rest.ownRewritten} own and ${rest.sharedRewritten} shared`,
      );
    }
    const label = `${count} owned + ${count} shared-with files`;
    return [
      figure(`revocate (${label}): key change`, 'ms', [keyChange]),
      figure(`revocate (${label}): total`, 'ms', [total]),
    ];
  } finally {
    await agents.close();
  }
}

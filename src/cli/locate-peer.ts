/**
 * Finding the local peer a front end talks to: its local API URL and the token in its data
 * directory. In order:
 *   1. `--peer DIR`: the peer data directory (its `api.json` says where the API listens;
 *      `--api URL` overrides that);
 *   2. `--api URL` alone: the peer of the demo network (`--demo DIR`, default
 *      ./.peervault/demo) whose API that is;
 *   3. nothing: the first peer of the running demo network, else ./.peervault/peer.
 */
import { join } from 'node:path';
import { FsError } from '../interface/errors.js';
import { readIfExists, refuseLoosePermissions } from '../support/key-files.js';
import type { LocalApiEndpoint } from './local-api.js';

/** The demo network's state file, `DIR/demo.json`. */
export interface DemoState {
  directory: string;
  fingerprint: string;
  peers: { api: string; listen: string; data: string }[];
  accounts: string;
}

/** The default data directory of `peervault demo`. */
export const defaultDemoDir = './.peervault/demo';
/** The default data directory of `peervault peer`. */
export const defaultPeerDir = './.peervault/peer';

/** Reads a demo network's state file, or undefined when there is none. */
export function readDemoState(demoDir: string): DemoState | undefined {
  const raw = readIfExists(join(demoDir, 'demo.json'));
  if (raw === undefined) return undefined;
  try {
    return JSON.parse(raw.toString('utf8')) as DemoState;
  } catch {
    throw new FsError('invalid', `${join(demoDir, 'demo.json')} is damaged; restart the demo`, {
      op: 'locate',
    });
  }
}

/** A located peer: how to call its API, and its data directory. */
export interface PeerLocation {
  endpoint: LocalApiEndpoint;
  dataDir: string;
}

/** Reads a peer data directory's API address and token. */
async function fromPeerDir(dataDir: string, api: string | undefined): Promise<PeerLocation> {
  const op = 'locate';
  const tokenPath = join(dataDir, 'api-token');
  const token = readIfExists(tokenPath)?.toString('utf8').trim();
  if (token === undefined) {
    throw new FsError(
      'not-exist',
      `no peer data in ${dataDir} (no api-token); start one with \`peervault demo\` or \`peervault peer\`, or pass --peer DIR`,
      { op },
    );
  }
  await refuseLoosePermissions(tokenPath);
  let url = api;
  if (url === undefined) {
    const info = readIfExists(join(dataDir, 'api.json'));
    const parsed = info === undefined ? undefined : (JSON.parse(info.toString('utf8')) as unknown);
    const found =
      typeof parsed === 'object' && parsed !== null ? (parsed as { api?: unknown }).api : undefined;
    if (typeof found !== 'string') {
      throw new FsError('not-exist', `the peer in ${dataDir} has not started yet; start it first`, {
        op,
      });
    }
    url = found;
  }
  return { endpoint: { url: url.replace(/\/+$/, ''), token }, dataDir };
}

/** Finds the local peer from the front end's flags. @throws FsError `not-exist`, `invalid` */
export async function locatePeer(flags: {
  peer?: string | undefined;
  api?: string | undefined;
  demo?: string | undefined;
}): Promise<PeerLocation> {
  if (
    flags.api !== undefined &&
    !/^http:\/\/(127\.0\.0\.1|\[::1\]|localhost):\d+\/?$/.test(flags.api)
  ) {
    throw new FsError('invalid', `--api wants http://127.0.0.1:PORT, not "${flags.api}"`, {
      op: 'locate',
    });
  }
  if (flags.peer !== undefined) return fromPeerDir(flags.peer, flags.api);
  const demo = readDemoState(flags.demo ?? defaultDemoDir);
  if (flags.api !== undefined) {
    const wanted = flags.api.replace(/\/+$/, '');
    const peer = demo?.peers.find((p) => p.api === wanted);
    if (peer === undefined) {
      throw new FsError(
        'not-exist',
        `${wanted} is not a peer of the demo network; pass --peer DIR (its data directory) so its token can be read`,
        { op: 'locate' },
      );
    }
    return fromPeerDir(peer.data, wanted);
  }
  const first = demo?.peers[0];
  return fromPeerDir(first?.data ?? defaultPeerDir, first?.api);
}

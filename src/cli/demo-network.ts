/**
 * The demo network in this one process: a directory and N peers on 127.0.0.1, their data under
 * one directory, and `DIR/demo.json` saying where they listen so that the shell and one-shot
 * commands find them.
 *
 * Layout of DIR: `directory/` (keys, SQLite), `peer-1/` … `peer-N/` (identity, API token,
 * blocks), `demo.json` (where things listen), `demo.pid` (while running), `demo.log` (the
 * peers' events, JSON lines). A restart reuses the recorded ports when they are free, so URLs
 * stay the same; the directory's fingerprint stays the same because its keys persist.
 */
import { closeSync, createWriteStream, openSync, rmSync, writeSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { FsError } from '../interface/errors.js';
import { startDirectory, type RunningDirectory } from '../directory/service.js';
import { startPeer, type RunningPeer } from '../peer/service.js';
import { ensurePrivateDir, readIfExists, writeFileAtomic } from '../support/key-files.js';
import { readDemoState, type DemoState } from './locate-peer.js';

/** How to start the demo network. */
export interface DemoNetworkOptions {
  /** The demo's data directory. */
  dir: string;
  /** How many peers (1-9). */
  peers: number;
  /**
   * Where the peers' events go, each with a `peer` field (1…N). Default: appended to
   * `DIR/demo.log` as JSON lines, so they do not disturb the shell.
   */
  log?: (event: Record<string, unknown>) => void;
}

/** A running demo network. */
export interface DemoNetwork {
  /** What `DIR/demo.json` now says (absolute paths). */
  state: DemoState;
  /** Stops the peers, then the directory; idempotent. Keeps demo.json. */
  close(): Promise<void>;
}

/** Space each demo peer offers. */
const peerCapacity = 2 * 1024 ** 3;

/** The port of a recorded `host:port` or URL, or 0 (any free port). */
function portOf(address: string | undefined): number {
  const port = Number(/:(\d{1,5})\/?$/.exec(address ?? '')?.[1] ?? 0);
  return Number.isInteger(port) && port <= 65535 ? port : 0;
}

/** The previous run's state, or undefined when there is none or it is unreadable. */
function previousState(dir: string): DemoState | undefined {
  try {
    return readDemoState(dir);
  } catch {
    return undefined; // damaged: we are about to write a fresh one
  }
}

/**
 * Tries the recorded port first, then any free port: the old one may have been taken since.
 * Any `unavailable` failure on the recorded port is retried, since that is what "in use" is.
 */
async function withPortFallback<T>(ports: number[], start: (ports: number[]) => Promise<T>) {
  if (ports.every((p) => p === 0)) return start(ports);
  try {
    return await start(ports);
  } catch (err) {
    if (!(err instanceof FsError && err.kind === 'unavailable')) throw err;
    return start(ports.map(() => 0));
  }
}

/** Whether process `pid` is alive (EPERM: alive, but someone else's). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Claims DIR for this process with `DIR/demo.pid`, so that two demos never share one SQLite
 * database and one set of blockstores. A file left by a dead process is taken over.
 * @throws FsError `exist` when a live process holds it
 */
function claim(dir: string): () => void {
  const path = join(dir, 'demo.pid');
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fd = openSync(path, 'wx', 0o600);
      writeSync(fd, `${process.pid}\n`);
      closeSync(fd);
      return () => rmSync(path, { force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const pid = Number(readIfExists(path)?.toString('utf8').trim());
    if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && alive(pid)) break;
    rmSync(path, { force: true }); // left by a process that is gone
  }
  const holder = readIfExists(path)?.toString('utf8').trim() ?? '?';
  throw new FsError(
    'exist',
    `another demo (process ${holder}) is running on ${dir}; stop it, or pass another --data DIR (if none is running, delete ${path})`,
    { op: 'demo' },
  );
}

/**
 * Starts the directory, then the peers in parallel, and writes `DIR/demo.json`. A failed
 * start stops whatever it started.
 * @throws FsError `exist` (another demo runs on DIR), `unavailable`
 */
export async function startDemoNetwork(options: DemoNetworkOptions): Promise<DemoNetwork> {
  const dir = resolve(options.dir);
  await ensurePrivateDir(dir);
  const release = claim(dir);
  const previous = previousState(dir);
  const file = options.log === undefined ? openDemoLog(dir) : undefined;
  const log = options.log ?? file!.log;
  let directory: RunningDirectory | undefined;
  const peers: RunningPeer[] = [];
  const stop = async () => {
    await Promise.allSettled(peers.map((p) => p.close()));
    await directory?.close();
    await file?.close();
    release();
  };
  try {
    directory = await withPortFallback([portOf(previous?.directory)], ([port]) =>
      startDirectory({
        dataDir: join(dir, 'directory'),
        listen: `127.0.0.1:${port ?? 0}`,
        // '' means SQLite in dataDir even when DATABASE_URL is set: the demo is self-contained.
        database: '',
        config: { registration: 'open' },
      }),
    );
    const pin = { url: directory.url, fingerprint: directory.fingerprint };
    const started = await Promise.allSettled(
      Array.from({ length: options.peers }, (_, i) => {
        const recorded = previous?.peers[i];
        return withPortFallback(
          [portOf(recorded?.listen), portOf(recorded?.api)],
          ([listen, api]) =>
            startPeer({
              dataDir: join(dir, `peer-${i + 1}`),
              directory: pin,
              listen: `127.0.0.1:${listen ?? 0}`,
              api: `127.0.0.1:${api ?? 0}`,
              capacity: peerCapacity,
              replicas: Math.min(3, options.peers),
              log: (event) => log({ peer: i + 1, ...event }),
            }),
        );
      }),
    );
    for (const result of started) if (result.status === 'fulfilled') peers.push(result.value);
    const failed = started.find((r) => r.status === 'rejected');
    if (failed) throw failed.reason;
  } catch (err) {
    await stop();
    throw err;
  }
  const state: DemoState = {
    directory: directory.url,
    fingerprint: directory.fingerprint,
    peers: peers.map((peer, i) => ({
      api: peer.api,
      listen: peer.listen,
      data: join(dir, `peer-${i + 1}`),
    })),
    accounts: join(dir, 'accounts.json'),
  };
  writeFileAtomic(join(dir, 'demo.json'), JSON.stringify(state, null, 2) + '\n');
  let closing: Promise<void> | undefined;
  return { state, close: () => (closing ??= stop()) };
}

/** Opens `DIR/demo.log` for appending, one JSON line per event; `close` flushes it. */
function openDemoLog(dir: string): {
  log: (event: Record<string, unknown>) => void;
  close: () => Promise<void>;
} {
  const stream = createWriteStream(join(dir, 'demo.log'), { flags: 'a', mode: 0o600 });
  stream.on('error', () => undefined); // a full disk must not stop the network
  return {
    log: (event) => {
      if (!stream.writableEnded)
        stream.write(JSON.stringify({ time: new Date().toISOString(), ...event }) + '\n');
    },
    close: () => new Promise((done) => stream.end(done)),
  };
}

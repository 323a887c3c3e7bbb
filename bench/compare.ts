/**
 * PeerVault beside the peers users would pick instead, doing the same work in the same run
 * (issue 10, point 4): a large file written on node A and read on node B over loopback, and
 * many small files created on A and all read on B. Each system runs as two OS processes:
 * - PeerVault: a directory and two peers (R=1), driven through the peers' local APIs;
 * - Hyperdrive: a writer and a reader, replicating their corestores over a loopback TCP socket;
 * - Helia: two libp2p nodes over TCP, unixfs add on A, ls and cat on B (Bitswap).
 * Rounds are interleaved across systems (the order rotates each round), so drift over the run
 * falls on all of them alike.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startProcessNetwork } from '../test/helpers/process-network.js';
import { CompetitorNode, competitorVersions } from './competitor-node.js';
import { CpuLedger, type Figure, figure, peakRssMiB } from './harness.js';
import { tlsLimit } from './transfer.js';
import {
  LocalApi,
  MiB,
  createSmallFiles,
  download,
  listDir,
  readSmallFiles,
  uploadPieces,
} from './workload.js';

const smallSize = 4096;
/** Requests in flight for the small files, for every system alike. */
const concurrency = 8;

type System = 'PeerVault' | 'Hyperdrive' | 'Helia';

/** Two nodes of one system; every method returns the milliseconds the work took. */
interface Pair {
  system: System;
  writeBig(run: number, size: number): Promise<number>;
  readBig(run: number, size: number): Promise<number>;
  writeSmall(run: number, count: number): Promise<number>;
  readSmall(run: number, count: number): Promise<number>;
  /** Its processes' ids, by role. */
  pids(): Record<string, number>;
  close(): Promise<void>;
}

/** A directory and two PeerVault peers with R=1: writes through A, reads through B. */
async function peervaultPair(): Promise<
  Pair & { list(run: number): Promise<number>; retries(): Map<number, number> }
> {
  const net = await startProcessNetwork({ peers: 2, replicas: 1, capacity: '8G' });
  try {
    const password = 'bench user rides a purple tandem';
    await net.register('bench', password);
    const [a, b] = [net.peers[0]!, net.peers[1]!];
    const onA = new LocalApi(a, await a.login('bench', password));
    const onB = new LocalApi(b, await b.login('bench', password));
    const small = (run: number) => `/bench/small-${run}`;
    return {
      system: 'PeerVault',
      writeBig: (run, size) => uploadPieces(a, onA.session, `/bench/big-${run}`, size),
      readBig: (run, size) => download(b, onB.session, `/bench/big-${run}`, size),
      writeSmall: (run, count) => createSmallFiles(onA, small(run), count, smallSize, concurrency),
      readSmall: (run, count) => readSmallFiles(onB, small(run), count, smallSize, concurrency),
      async list(run) {
        return (await listDir(onB, small(run))).ms;
      },
      retries() {
        const all = new Map(onA.retries);
        for (const [status, n] of onB.retries) all.set(status, (all.get(status) ?? 0) + n);
        return all;
      },
      pids: () => ({
        'node A': a.proc.child.pid!,
        'node B': b.proc.child.pid!,
        directory: net.directory.child.pid!,
      }),
      close: () => net.close(),
    };
  } catch (error) {
    await net.close();
    throw error;
  }
}

/**
 * Two competitor nodes: `writer` starts first and prints what the reader needs to reach it
 * (`readerArgs` turns that into the reader's arguments); each write answers what the matching
 * read needs (a CID for Helia, the drive version for Hyperdrive).
 */
async function competitorPair(
  system: Exclude<System, 'PeerVault'>,
  script: string,
  readerArgs: (ready: Record<string, string>) => string[],
  nodeArgs: readonly string[] = [],
): Promise<Pair> {
  const root = mkdtempSync(join(tmpdir(), `pv-bench-${system.toLowerCase()}-`));
  const nodes: CompetitorNode[] = [];
  try {
    const writer = await CompetitorNode.start<Record<string, string>>(
      script,
      ['writer', join(root, 'a')],
      nodeArgs,
    );
    nodes.push(writer.node);
    const reader = await CompetitorNode.start(
      script,
      ['reader', join(root, 'b'), ...readerArgs(writer.ready)],
      nodeArgs,
    );
    nodes.push(reader.node);
    const [a, b] = [writer.node, reader.node];
    const handles = new Map<string, Record<string, unknown>>();
    const write = async (key: string, command: Record<string, unknown>) => {
      const { ms, ...handle } = await a.call(command);
      handles.set(key, handle);
      return ms;
    };
    const read = async (key: string, command: Record<string, unknown>) =>
      (await b.call({ ...handles.get(key), ...command })).ms;
    return {
      system,
      writeBig: (run, size) => write(`big-${run}`, { op: 'write-big', path: `/big-${run}`, size }),
      readBig: (run, size) => read(`big-${run}`, { op: 'read-big', path: `/big-${run}`, size }),
      writeSmall: (run, count) =>
        write(`small-${run}`, {
          op: 'write-small',
          dir: `/small-${run}`,
          count,
          size: smallSize,
          concurrency,
        }),
      readSmall: (run, count) =>
        read(`small-${run}`, {
          op: 'read-small',
          dir: `/small-${run}`,
          count,
          size: smallSize,
          concurrency,
        }),
      pids: () => ({ 'node A': a.pid, 'node B': b.pid }),
      async close() {
        for (const node of nodes) await node.close();
        rmSync(root, { recursive: true, force: true });
      },
    };
  } catch (error) {
    for (const node of nodes) await node.close();
    rmSync(root, { recursive: true, force: true });
    throw error;
  }
}

/** The packages whose versions the results record. */
export const competitorPackages = [
  'hyperdrive',
  'corestore',
  'hypercore',
  'helia',
  '@helia/unixfs',
  '@helia/bitswap',
  'libp2p',
  '@libp2p/tcp',
  'blockstore-fs',
] as const;

/** What the comparison adds to the results besides its figures. */
export interface ComparisonNotes {
  versions: Record<string, string>;
  notes: string[];
}

/**
 * The comparison figures. Full: 256 MiB in 5 rounds, 10,000 files of 4 KiB in 3 rounds;
 * quick: 16 MiB and 50 files, 2 rounds each.
 */
export async function comparisonFigures(
  quick: boolean,
): Promise<{ figures: Figure[] } & ComparisonNotes> {
  const size = quick ? 16 * MiB : 256 * MiB;
  const count = quick ? 50 : 10_000;
  const [bigRounds, smallRounds] = quick ? [2, 2] : [5, 3];
  const bigLabel = `${size / MiB} MiB`;
  const smallLabel = `${count} × 4 KiB files`;

  const peervault = await peervaultPair();
  const pairs: Pair[] = [peervault];
  try {
    pairs.push(
      await competitorPair('Hyperdrive', 'hyperdrive-node.mjs', (r) => [r['port']!, r['key']!]),
    );
    pairs.push(
      await competitorPair('Helia', 'helia-node.mjs', (r) => [r['address']!], [
        '--import',
        './polyfill.mjs',
      ]),
    );
    type Samples = Record<'write' | 'read' | 'total', number[]>;
    const empty = (): Samples => ({ write: [], read: [], total: [] });
    const big = new Map<System, Samples>(pairs.map((p) => [p.system, empty()]));
    const small = new Map<System, Samples>(pairs.map((p) => [p.system, empty()]));
    const lists: number[] = [];
    const cpu = new CpuLedger();
    /** Runs one phase of `pair`, booking its processes' CPU time (and ours, for PeerVault). */
    const timed = (pair: Pair, phase: string, work: () => Promise<number>) =>
      cpu.measure(`${pair.system} ${phase}`, pair.pids(), pair === peervault, work);
    const rotated = (round: number) => pairs.map((_, i) => pairs[(i + round) % pairs.length]!);

    const failures: string[] = [];
    /** Runs one round of `pair`; a failure is noted (and the round left out), not fatal. */
    const attempt = async (pair: Pair, round: number, work: () => Promise<void>) => {
      try {
        await work();
      } catch (error) {
        failures.push(`${pair.system}, round ${round + 1}: ${String(error).slice(0, 300)}`);
      }
    };
    for (let round = 0; round < bigRounds; round++) {
      for (const pair of rotated(round)) {
        await attempt(pair, round, async () => {
          const write = await timed(pair, `${bigLabel} write`, () => pair.writeBig(round, size));
          const read = await timed(pair, `${bigLabel} read`, () => pair.readBig(round, size));
          const s = big.get(pair.system)!;
          s.write.push(size / write / 1e3);
          s.read.push(size / read / 1e3);
          s.total.push(size / (write + read) / 1e3);
        });
      }
    }
    for (let round = 0; round < smallRounds; round++) {
      for (const pair of rotated(round)) {
        await attempt(pair, round, async () => {
          const write = await timed(pair, 'small create', () => pair.writeSmall(round, count));
          const read = await timed(pair, 'small read', () => pair.readSmall(round, count));
          const s = small.get(pair.system)!;
          s.write.push((count / write) * 1e3);
          s.read.push((count / read) * 1e3);
          s.total.push((count / (write + read)) * 1e3);
          if (pair === peervault) lists.push(await peervault.list(round));
        });
      }
    }

    const targets: Record<Exclude<System, 'PeerVault'>, { big: number; small: number }> = {
      Hyperdrive: { big: 2, small: 1 },
      Helia: { big: 4, small: 1 },
    };
    const figures: Figure[] = [];
    for (const pair of pairs) {
      const { system } = pair;
      const b = big.get(system)!;
      const s = small.get(system)!;
      const ours = (what: string) => `PeerVault: ${what}`;
      const vs = (what: string, target?: number, strict = false): Pick<Figure, 'limit' | 'peer'> =>
        system === 'PeerVault'
          ? what.startsWith(bigLabel)
            ? { limit: { name: tlsLimit } }
            : {}
          : { peer: { ours: ours(what), ...(target === undefined ? {} : { target, strict }) } };
      const t = system === 'PeerVault' ? undefined : targets[system];
      const row = (what: string, unit: Figure['unit'], samples: number[], extra = vs(what)) => {
        // A system whose every round failed has no figure; its failures are in the notes.
        if (samples.length > 0) figures.push(figure(`${system}: ${what}`, unit, samples, extra));
      };
      row(`${bigLabel} written on node A`, 'MB/s', b.write);
      row(`${bigLabel} read on node B`, 'MB/s', b.read);
      row(
        `${bigLabel} A to B (write + read)`,
        'MB/s',
        b.total,
        vs(`${bigLabel} A to B (write + read)`, t?.big),
      );
      row(`${smallLabel} created on A`, 'files/s', s.write);
      row(`${smallLabel} read on B`, 'files/s', s.read);
      row(
        `${smallLabel} A to B (create + read)`,
        'files/s',
        s.total,
        vs(`${smallLabel} A to B (create + read)`, t?.small, true),
      );
      if (system === 'PeerVault') row(`ls of ${count} entries on B`, 'ms', lists);
    }
    for (const pair of pairs) {
      for (const [role, pid] of Object.entries(pair.pids()))
        figures.push(
          figure(`${pair.system}: peak RSS, ${role} (whole comparison)`, 'MiB', [peakRssMiB(pid)]),
        );
    }

    const notes: string[] = [];
    if (quick)
      notes.push(
        `--quick: the comparison moves ${bigLabel} and ${count} files (full: 256 MiB and 10000 files), 2 rounds each.`,
      );
    const retries = [...peervault.retries()];
    if (retries.length > 0)
      notes.push(
        `PeerVault small files: the peers refused and the benchmark retried ${retries
          .map(([status, n]) => `${n} requests with ${status}`)
          .join(
            ' and ',
          )} (429: the directory's per-address request limit); the waits count in the figures.`,
      );
    notes.push(...failures.map((f) => `FAILED (left out of the figures): ${f}`));
    notes.push(...cpu.notes());
    return { figures, versions: competitorVersions(competitorPackages), notes };
  } finally {
    for (const pair of pairs) await pair.close();
  }
}

/**
 * A small benchmark harness. Figures are measured in interleaved rounds: round 1 samples every
 * figure once, then round 2, and so on. CPU frequency, JIT warm-up and the heap drift during a
 * run; interleaving spreads that drift over all figures instead of penalising whichever ran
 * first (measured: the first figure of a sequential run read 30% low).
 */
import { readFileSync } from 'node:fs';

/** One measured figure: the median, min and max of `runs` samples. */
export interface Figure {
  name: string;
  unit: 'MB/s' | 'ms' | 'ops/s' | 'files/s' | 'MiB';
  median: number;
  min: number;
  max: number;
  /** How many samples the median is of. */
  runs: number;
  /** A limit of the same run this figure is judged against: the ratio of medians, and its target. */
  limit?: { name: string; target?: number };
  /**
   * A competitor's figure: judged by the ratio of our figure `ours` to this one (higher is
   * better for both), against `target` (`strict`: the ratio must exceed it).
   */
  peer?: { ours: string; target?: number; strict?: boolean };
  /** An absolute target: the median must stay at or under `value` (in `unit`). */
  ceiling?: { value: number; label: string };
}

/** What the comparison column says about a figure, as text and as numbers (for the JSON). */
export interface Judgement {
  text: string;
  ratio?: number;
  verdict?: 'ok' | 'below target' | 'above target';
}

/** Median, min and max of samples. */
export function summarise(samples: number[]): {
  median: number;
  min: number;
  max: number;
  runs: number;
} {
  if (samples.length === 0) throw new Error('no samples');
  const sorted = [...samples].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  const median = sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  return { median, min: sorted[0]!, max: sorted[sorted.length - 1]!, runs: sorted.length };
}

/** A figure from its samples; `extra` adds its limit, peer or ceiling. */
export function figure(
  name: string,
  unit: Figure['unit'],
  samples: number[],
  extra: Pick<Figure, 'limit' | 'peer' | 'ceiling'> = {},
): Figure {
  return { name, unit, ...summarise(samples), ...extra };
}

/** A measurement: one call returns one sample. */
interface Probe {
  name: string;
  unit: Figure['unit'];
  sample: () => Promise<number>;
  limit?: Figure['limit'];
}

/** Collects probes and runs them in interleaved rounds. */
export class Bench {
  readonly #probes: Probe[] = [];

  /** Throughput in MB/s (10^6 bytes/s) of `work`, which processes `bytes` per call. */
  throughput(
    name: string,
    bytes: number,
    calls: number,
    work: () => void,
    limit?: Figure['limit'],
  ): void {
    this.#probes.push({
      name,
      unit: 'MB/s',
      ...(limit ? { limit } : {}),
      sample: () => {
        const start = process.hrtime.bigint();
        for (let i = 0; i < calls; i++) work();
        const seconds = Number(process.hrtime.bigint() - start) / 1e9;
        return Promise.resolve((bytes * calls) / seconds / 1e6);
      },
    });
  }

  /** Mean latency in ms of an async operation over `calls` calls. */
  latency(name: string, calls: number, work: () => Promise<unknown>): void {
    this.#probes.push({
      name,
      unit: 'ms',
      sample: async () => {
        const start = process.hrtime.bigint();
        for (let i = 0; i < calls; i++) await work();
        return Number(process.hrtime.bigint() - start) / 1e6 / calls;
      },
    });
  }

  /** One warm-up round, then `rounds` measured rounds. */
  async run(rounds: number): Promise<Figure[]> {
    for (const probe of this.#probes) await probe.sample();
    const samples = this.#probes.map(() => [] as number[]);
    for (let round = 0; round < rounds; round++) {
      for (const [i, probe] of this.#probes.entries()) samples[i]!.push(await probe.sample());
    }
    return this.#probes.map((probe, i) =>
      figure(probe.name, probe.unit, samples[i]!, probe.limit ? { limit: probe.limit } : {}),
    );
  }
}

/** Peak resident set size (VmHWM) of a live process, in MiB. */
export function peakRssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
}

/** CPU time (user + system) a live process has used so far, in ms (Linux clock ticks of 10 ms). */
export function cpuMs(pid: number): number {
  // Fields after the command name, which is in parentheses and may hold spaces.
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/**
 * Wall time and each process's CPU time, added up per phase over runs: a phase whose processes
 * together keep about all cores busy is CPU-bound; one that leaves them idle waits on
 * something else (fsync, a lock, a round trip, a rate limit).
 */
export class CpuLedger {
  readonly #phases = new Map<string, { wall: number; byRole: Map<string, number> }>();

  /**
   * Runs `work` (which returns its own wall time in ms) and books the CPU time `pids` used
   * meanwhile; `client` books this process too (when the workload runs in it).
   */
  async measure(
    phase: string,
    pids: Record<string, number>,
    client: boolean,
    work: () => Promise<number>,
  ): Promise<number> {
    const roles = Object.entries(pids);
    const before = roles.map(([, pid]) => cpuMs(pid));
    const self = process.cpuUsage();
    const ms = await work();
    const used = process.cpuUsage(self);
    const entry = this.#phases.get(phase) ?? { wall: 0, byRole: new Map<string, number>() };
    entry.wall += ms;
    const add = (role: string, value: number) =>
      entry.byRole.set(role, (entry.byRole.get(role) ?? 0) + value);
    roles.forEach(([role, pid], i) => add(role, cpuMs(pid) - before[i]!));
    if (client) add('client', (used.user + used.system) / 1e3);
    this.#phases.set(phase, entry);
    return ms;
  }

  /** One line per phase: cores in use in all, and per process. */
  notes(): string[] {
    return [...this.#phases].map(([phase, { wall, byRole }]) => {
      const cores = (ms: number) => (ms / wall).toFixed(2);
      const total = [...byRole.values()].reduce((a, b) => a + b, 0);
      const parts = [...byRole].map(([role, ms]) => `${role} ${cores(ms)}`).join(', ');
      return `CPU in use, ${phase}: ${cores(total)} cores (${parts}).`;
    });
  }
}

const percent = (ratio: number) => `${(ratio * 100).toFixed(0)}%`;
const times = (ratio: number) => `${ratio.toFixed(2)}×`;

/** Judges `f` against its limit, its peer comparison or its ceiling, all from `byName`. */
export function judge(f: Figure, byName: ReadonlyMap<string, Figure>): Judgement {
  const verdict = (ok: boolean, over = false): Judgement['verdict'] =>
    ok ? 'ok' : over ? 'above target' : 'below target';
  const shout = (v: Judgement['verdict']) => (v === 'ok' ? 'ok' : v!.toUpperCase());
  if (f.limit) {
    const limit = byName.get(f.limit.name);
    if (!limit) return { text: `(limit "${f.limit.name}" not measured)` };
    const ratio = f.median / limit.median;
    if (f.limit.target === undefined)
      return { text: `${percent(ratio)} of ${f.limit.name}`, ratio };
    const v = verdict(ratio >= f.limit.target);
    return {
      text: `${percent(ratio)} of ${f.limit.name} (target >= ${percent(f.limit.target)}): ${shout(v)}`,
      ratio,
      verdict: v,
    };
  }
  if (f.peer) {
    const ours = byName.get(f.peer.ours);
    if (!ours) return { text: `("${f.peer.ours}" not measured)` };
    const ratio = ours.median / f.median;
    const system = f.name.split(':')[0]!;
    const text = `PeerVault / ${system} = ${times(ratio)}`;
    if (f.peer.target === undefined) return { text, ratio };
    const { target, strict } = f.peer;
    const v = verdict(strict ? ratio > target : ratio >= target);
    return {
      text: `${text} (target ${strict ? '>' : '>='} ${times(target)}): ${shout(v)}`,
      ratio,
      verdict: v,
    };
  }
  if (f.ceiling) {
    const v = verdict(f.median <= f.ceiling.value, true);
    return { text: `target <= ${f.ceiling.label}: ${shout(v)}`, verdict: v };
  }
  return { text: '' };
}

/** Formats figures as an aligned text table, with each figure's judgement. */
export function table(figures: Figure[]): string {
  const byName = new Map(figures.map((f) => [f.name, f]));
  const digits = (f: Figure) => (f.unit === 'ms' || f.median < 10 ? 2 : 0);
  const rows = figures.map((f) => [
    f.name,
    f.median.toFixed(digits(f)),
    f.min.toFixed(digits(f)),
    f.max.toFixed(digits(f)),
    f.unit,
    String(f.runs),
    judge(f, byName).text,
  ]);
  const header = ['figure', 'median', 'min', 'max', 'unit', 'runs', 'compared with'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const right = new Set([1, 2, 3, 5]);
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (right.has(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

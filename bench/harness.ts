/**
 * A small benchmark harness. Figures are measured in interleaved rounds: round 1 samples every
 * figure once, then round 2, and so on. CPU frequency, JIT warm-up and the heap drift during a
 * run; interleaving spreads that drift over all figures instead of penalising whichever ran
 * first (measured: the first figure of a sequential run read 30% low).
 */

/** One measured figure. */
export interface Figure {
  name: string;
  unit: 'MB/s' | 'ms' | 'ops/s' | 'MiB';
  median: number;
  min: number;
  max: number;
  /** The figure this one is judged against, and the target ratio of medians. */
  limit?: { name: string; target: number };
}

/** A measurement: one call returns one sample. */
interface Probe {
  name: string;
  unit: Figure['unit'];
  sample: () => Promise<number>;
  limit?: Figure['limit'];
}

/** Median, min and max of samples. */
export function summarise(samples: number[]): { median: number; min: number; max: number } {
  const sorted = [...samples].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  const median = sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  return { median, min: sorted[0]!, max: sorted[sorted.length - 1]! };
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
    return this.#probes.map((probe, i) => ({
      name: probe.name,
      unit: probe.unit,
      ...summarise(samples[i]!),
      ...(probe.limit ? { limit: probe.limit } : {}),
    }));
  }
}

/** Formats figures as an aligned text table, with each ratio to its limit. */
export function table(figures: Figure[]): string {
  const byName = new Map(figures.map((f) => [f.name, f]));
  const digits = (f: Figure) => (f.unit === 'ms' ? 2 : 0);
  const rows = figures.map((f) => {
    const limit = f.limit ? byName.get(f.limit.name) : undefined;
    const ratio = limit ? f.median / limit.median : undefined;
    let judged = '';
    if (ratio !== undefined && f.limit) {
      const verdict = ratio >= f.limit.target ? 'ok' : 'BELOW TARGET';
      judged = `${(ratio * 100).toFixed(0)}% of ${f.limit.name} (target ${f.limit.target * 100}%): ${verdict}`;
    }
    return [
      f.name,
      f.median.toFixed(digits(f)),
      f.min.toFixed(digits(f)),
      f.max.toFixed(digits(f)),
      f.unit,
      judged,
    ];
  });
  const header = ['figure', 'median', 'min', 'max', 'unit', 'compared with the limit'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

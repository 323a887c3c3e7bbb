/**
 * `npm run bench [-- --quick]`: prints one table of our figures beside the limits measured in
 * the same run and beside the peers users would pick instead, and writes the same figures as
 * JSON to bench/results/<date>.json (`<date>-quick.json` for a quick run, which git ignores).
 * Not part of `npm test`: these are measurements, not pass/fail checks.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { arch, cpus, loadavg, totalmem } from 'node:os';
import { comparisonFigures } from './compare.js';
import { ensureCompetitorsInstalled } from './competitor-node.js';
import { addCryptoProbes } from './crypto.js';
import { directoryFigures } from './directory.js';
import { revocationFigures } from './revocation.js';
import { addDiskProbes } from './disk.js';
import { transferFigures } from './transfer.js';
import { Bench, judge, table } from './harness.js';

const quick = process.argv.includes('--quick');
const runs = quick ? 3 : 7;

const machine = {
  node: process.version,
  cpu: cpus()[0]?.model ?? 'unknown',
  cores: cpus().length,
  arch: arch(),
  memoryGiB: Math.round(totalmem() / 2 ** 30),
};

// Before any clock starts: the first run installs the competitors (bench/peers).
ensureCompetitorsInstalled();

console.log(`PeerVault benchmarks (${quick ? 'quick' : 'full'})`);
console.log(
  `${machine.cpu}, ${machine.cores} cores, ${machine.memoryGiB} GiB, Node ${machine.node}\n`,
);

// Anything else running on the machine slows every figure: the load averages say how much.
const load = () =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
const loadBefore = load();
const started = Date.now();
const bench = new Bench();
await addCryptoProbes(bench, quick ? 16 : 128);
const removeScratch = addDiskProbes(bench, quick ? 64 : 512);
const probes = await bench.run(runs).finally(removeScratch);
const directory = await directoryFigures(quick);
const revocation = await revocationFigures(quick);
const transfers = await transferFigures(quick);
const comparison = await comparisonFigures(quick);
const figures = [
  ...probes,
  ...directory,
  ...revocation,
  ...transfers.figures,
  ...comparison.figures,
];
const minutes = (Date.now() - started) / 60_000;
console.log(table(figures));
const notes = [
  ...transfers.notes,
  ...comparison.notes,
  `Competitors: ${Object.entries(comparison.versions)
    .map(([name, version]) => `${name} ${version}`)
    .join(', ')}.`,
  `Took ${minutes.toFixed(1)} minutes; load average (1, 5, 15 min) ${loadBefore} before, ${load()} after.`,
];
console.log(`\n${notes.join('\n')}`);

const date = new Date().toISOString().slice(0, 10);
const dir = new URL('./results/', import.meta.url);
mkdirSync(dir, { recursive: true });
const name = `${date}${quick ? '-quick' : ''}.json`;
const byName = new Map(figures.map((f) => [f.name, f]));
const results = {
  date,
  quick,
  machine,
  competitors: comparison.versions,
  notes,
  figures: figures.map((f) => ({ ...f, compared: judge(f, byName) })),
};
writeFileSync(new URL(name, dir), JSON.stringify(results, null, 2) + '\n');
console.log(`Written to bench/results/${name}`);

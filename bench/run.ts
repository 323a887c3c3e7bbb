/**
 * `npm run bench [-- --quick]`: prints one table of our figures beside the limits measured in
 * the same run, and writes the same figures as JSON to bench/results/<date>.json.
 * Not part of `npm test`: these are measurements, not pass/fail checks.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { arch, cpus, totalmem } from 'node:os';
import { addCryptoProbes } from './crypto.js';
import { directoryFigures } from './directory.js';
import { transferFigures } from './transfer.js';
import { Bench, table } from './harness.js';

const quick = process.argv.includes('--quick');
const runs = quick ? 3 : 7;

const machine = {
  node: process.version,
  cpu: cpus()[0]?.model ?? 'unknown',
  cores: cpus().length,
  arch: arch(),
  memoryGiB: Math.round(totalmem() / 2 ** 30),
};

console.log(`PeerVault benchmarks (${quick ? 'quick' : 'full'}; median of ${runs} runs)`);
console.log(
  `${machine.cpu}, ${machine.cores} cores, ${machine.memoryGiB} GiB, Node ${machine.node}\n`,
);

const bench = new Bench();
await addCryptoProbes(bench, quick ? 32 : 128);
const figures = [
  ...(await bench.run(runs)),
  ...(await directoryFigures(quick)),
  ...(await transferFigures(quick)),
];
console.log(table(figures));

const date = new Date().toISOString().slice(0, 10);
const dir = new URL('./results/', import.meta.url);
mkdirSync(dir, { recursive: true });
const file = new URL(`${date}${quick ? '-quick' : ''}.json`, dir);
writeFileSync(file, JSON.stringify({ date, quick, runs, machine, figures }, null, 2) + '\n');
console.log(`\nWritten to bench/results/${date}${quick ? '-quick' : ''}.json`);

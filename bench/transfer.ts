/**
 * File transfers through real peer processes beside the loopback limits, all in one run:
 * raw TCP and raw TLS 1.3 throughput between two Node processes, then a file uploaded through
 * one peer's agent (R=1 and R=3) and downloaded through another's, each run in a fresh network.
 * Targets (issue 10): download >= 50% and upload with R=1 >= 40% of the raw TLS figure; a peer's
 * peak RSS under 200 MB while moving 1 GiB.
 */
import { spawn } from 'node:child_process';
import { connect as netConnect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { SigningKeyPair } from '../src/crypto/keys.js';
import { createSelfSignedCertificate } from '../src/wire/tls-certificate.js';
import { startProcessNetwork } from '../test/helpers/process-network.js';
import { CpuLedger, type Figure, figure, peakRssMiB } from './harness.js';
import { download, MiB, uploadPieces } from './workload.js';

/** A sink process that counts bytes and answers "done" when it has `total`. */
const sinkScript = (tls: boolean) => `
const total = Number(process.argv[1]);
const mod = require(${tls ? "'node:tls'" : "'node:net'"});
const opts = ${tls ? 'JSON.parse(process.argv[2])' : '{}'};
const server = mod.createServer(${tls ? "{ ...opts, minVersion: 'TLSv1.3' }, " : ''}(socket) => {
  let seen = 0;
  socket.on('data', (d) => { seen += d.length; if (seen >= total) socket.end('done'); });
});
server.listen(0, '127.0.0.1', () => console.log(server.address().port));
`;

async function loopback(tls: boolean, total: number): Promise<number> {
  const identity = createSelfSignedCertificate(SigningKeyPair.generate(), { commonName: 'bench' });
  const args = [
    '-e',
    sinkScript(tls),
    String(total),
    ...(tls
      ? [JSON.stringify({ key: identity.privateKeyPem, cert: identity.certificatePem })]
      : []),
  ];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve) =>
    child.stdout.once('data', (d: Buffer) => resolve(Number(d.toString().trim()))),
  );
  const socket = tls
    ? tlsConnect({ host: '127.0.0.1', port, rejectUnauthorized: false, minVersion: 'TLSv1.3' })
    : netConnect({ host: '127.0.0.1', port });
  await new Promise<void>((resolve) =>
    socket.once(tls ? 'secureConnect' : 'connect', () => resolve()),
  );
  const piece = Buffer.alloc(256 * 1024, 1);
  const started = process.hrtime.bigint();
  const done = new Promise<void>((resolve) => socket.once('data', () => resolve()));
  for (let sent = 0; sent < total; sent += piece.length) {
    if (!socket.write(piece)) await new Promise((r) => socket.once('drain', r));
  }
  await done;
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  socket.destroy();
  child.kill();
  return total / seconds / 1e6;
}

/** One upload and download through a fresh network of a directory and 3 peers. */
async function throughPeers(
  replicas: number,
  size: number,
  cpu: CpuLedger,
): Promise<{ up: number; down: number; rss: { directory: number; peers: number[] } }> {
  const net = await startProcessNetwork({ peers: 3, replicas, capacity: '8G' });
  try {
    const password = 'bench user rides a purple tandem';
    await net.register('bench', password);
    const [writer, reader] = [net.peers[0]!, net.peers[1]!];
    const [onWriter, onReader] = [
      await writer.login('bench', password),
      await reader.login('bench', password),
    ];
    const pids = {
      directory: net.directory.child.pid!,
      ...Object.fromEntries(net.peers.map((p, i) => [`peer ${i}`, p.proc.child.pid!])),
    };
    const label = `${size / MiB} MiB, R=${replicas}`;
    const up = await cpu.measure(`upload ${label} (peer 0)`, pids, true, () =>
      uploadPieces(writer, onWriter, '/bench/file', size),
    );
    const down = await cpu.measure(`download ${label} (peer 1)`, pids, true, () =>
      download(reader, onReader, '/bench/file', size),
    );
    return {
      up: size / up / 1e3,
      down: size / down / 1e3,
      rss: {
        directory: peakRssMiB(net.directory.child.pid!),
        peers: net.peers.map((p) => peakRssMiB(p.proc.child.pid!)),
      },
    };
  } finally {
    await net.close();
  }
}

/** The name of the raw TLS figure, the limit transfers are judged against. */
export const tlsLimit = 'raw TLS 1.3 loopback (2 processes)';

/** 200 MB, the bound on a peer's RSS, in MiB. */
const rssCeiling = { value: 200e6 / MiB, label: '200 MB (190.7 MiB)' };

/**
 * Transfer figures: the loopback limits (interleaved, `limitRuns` each), then R=1 and R=3
 * through fresh networks (interleaved, `runs` each), and the peak RSS of every process of the
 * R=3 runs, where every peer stores every block.
 */
export async function transferFigures(
  quick: boolean,
): Promise<{ figures: Figure[]; notes: string[] }> {
  const size = quick ? 32 * MiB : 1024 * MiB;
  const label = quick ? '32 MiB' : '1 GiB';
  const [limitRuns, runs] = quick ? [3, 1] : [5, 3];
  const tcp: number[] = [];
  const tls: number[] = [];
  for (let i = 0; i < limitRuns; i++) {
    tcp.push(await loopback(false, size));
    tls.push(await loopback(true, size));
  }
  const r1: Awaited<ReturnType<typeof throughPeers>>[] = [];
  const r3: typeof r1 = [];
  const cpu = new CpuLedger();
  for (let i = 0; i < runs; i++) {
    r1.push(await throughPeers(1, size, cpu));
    r3.push(await throughPeers(3, size, cpu));
  }
  const rss = (name: string, samples: number[], ceiling = true) =>
    figure(
      `peak RSS, ${name} (${label}, R=3)`,
      'MiB',
      samples,
      ceiling ? { ceiling: rssCeiling } : {},
    );
  const figures = [
    figure('raw TCP loopback (2 processes)', 'MB/s', tcp),
    figure(tlsLimit, 'MB/s', tls),
    figure(
      `upload ${label}, R=1, 3 peer processes`,
      'MB/s',
      r1.map((r) => r.up),
      { limit: { name: tlsLimit, target: 0.4 } },
    ),
    figure(
      `download ${label}, R=1`,
      'MB/s',
      r1.map((r) => r.down),
      { limit: { name: tlsLimit, target: 0.5 } },
    ),
    figure(
      `upload ${label}, R=3`,
      'MB/s',
      r3.map((r) => r.up),
      { limit: { name: tlsLimit } },
    ),
    figure(
      `download ${label}, R=3`,
      'MB/s',
      r3.map((r) => r.down),
      { limit: { name: tlsLimit, target: 0.5 } },
    ),
    rss(
      'directory process',
      r3.map((r) => r.rss.directory),
      false,
    ),
    rss(
      'writing peer',
      r3.map((r) => r.rss.peers[0]!),
    ),
    rss(
      'reading peer',
      r3.map((r) => r.rss.peers[1]!),
    ),
    rss(
      'third peer',
      r3.map((r) => r.rss.peers[2]!),
    ),
  ];
  return { figures, notes: cpu.notes() };
}

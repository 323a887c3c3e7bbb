/**
 * File transfers through real peer processes beside the loopback limits, all in one run:
 * raw TCP and raw TLS 1.3 throughput between two Node processes, then a file uploaded through
 * one peer's agent (R=1 and R=3) and downloaded through another's. Targets (issue 4): download
 * >= 50% and upload with R=1 >= 40% of the raw TLS figure.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { connect as netConnect } from 'node:net';
import { Readable } from 'node:stream';
import { connect as tlsConnect } from 'node:tls';
import { request } from 'undici';
import { SigningKeyPair } from '../src/crypto/keys.js';
import { createSelfSignedCertificate } from '../src/wire/tls-certificate.js';
import { startProcessNetwork } from '../test/helpers/process-network.js';
import type { Figure } from './harness.js';

const MiB = 1024 * 1024;

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

function pieces(size: number): Readable {
  const piece = Buffer.alloc(MiB, 7);
  return Readable.from(
    (function* () {
      for (let sent = 0; sent < size; sent += MiB)
        yield sent + MiB <= size ? piece : piece.subarray(0, size - sent);
    })(),
  );
}

/** Upload and download MB/s through a network of 3 peers whose agents write `replicas` copies. */
async function throughPeers(
  replicas: number,
  size: number,
): Promise<{ up: number; down: number; rss: number[] }> {
  const net = await startProcessNetwork({ peers: 3, replicas, capacity: '8G' });
  try {
    const password = 'bench user rides a purple tandem';
    await net.register('bench', password);
    const [writer, reader] = [net.peers[0]!, net.peers[1]!];
    const [onWriter, onReader] = [
      await writer.login('bench', password),
      await reader.login('bench', password),
    ];
    const path = '/v1/fs/file?path=%2Fbench%2Ffile';
    let started = process.hrtime.bigint();
    const put = await request(writer.url(path), {
      method: 'PUT',
      headers: { ...writer.headers(onWriter), 'content-type': 'application/octet-stream' },
      body: pieces(size),
    });
    await put.body.text();
    if (put.statusCode !== 200) throw new Error(`upload failed: ${put.statusCode}`);
    const up = size / (Number(process.hrtime.bigint() - started) / 1e9) / 1e6;
    started = process.hrtime.bigint();
    const get = await request(reader.url(path), { headers: reader.headers(onReader) });
    let received = 0;
    for await (const part of get.body) received += (part as Buffer).length;
    if (received !== size) throw new Error(`download returned ${received} of ${size} bytes`);
    const down = size / (Number(process.hrtime.bigint() - started) / 1e9) / 1e6;
    const rss = net.peers.map(
      (p) =>
        Number(
          /VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${p.proc.child.pid!}/status`, 'utf8'))?.[1] ??
            0,
        ) / 1024,
    );
    return { up, down, rss };
  } finally {
    await net.close();
  }
}

/** Transfer figures: the limits, then R=1 and R=3. One run each (files are large). */
export async function transferFigures(quick: boolean): Promise<Figure[]> {
  const size = quick ? 128 * MiB : 1024 * MiB;
  const label = quick ? '128 MiB' : '1 GiB';
  const one = (
    name: string,
    unit: Figure['unit'],
    value: number,
    limit?: Figure['limit'],
  ): Figure => ({ name, unit, median: value, min: value, max: value, ...(limit ? { limit } : {}) });
  const tcp = await loopback(false, size);
  const tls = await loopback(true, size);
  const r1 = await throughPeers(1, size);
  const r3 = await throughPeers(3, size);
  const tlsLimit = 'raw TLS 1.3 loopback (2 processes)';
  return [
    one('raw TCP loopback (2 processes)', 'MB/s', tcp),
    one(tlsLimit, 'MB/s', tls),
    one(`upload ${label}, R=1, 3 peer processes`, 'MB/s', r1.up, { name: tlsLimit, target: 0.4 }),
    one(`download ${label}, R=1`, 'MB/s', r1.down, { name: tlsLimit, target: 0.5 }),
    one(`upload ${label}, R=3`, 'MB/s', r3.up),
    one(`download ${label}, R=3`, 'MB/s', r3.down, { name: tlsLimit, target: 0.5 }),
    one('peak RSS of the busiest peer (R=3)', 'MiB', Math.max(...r3.rss)),
  ];
}

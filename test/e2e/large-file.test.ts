/**
 * A 1 GiB file through real peer processes (R=3): written through one peer's agent, read back
 * through another's, compared by SHA-256 while streaming (the test holds no copy either). The
 * peers' peak memory must not grow with the file: their high-water RSS after the 1 GiB round
 * trip is compared with the one after a 64 MiB warm-up. (The absolute figure is reported; see
 * docs/performance.md for the gap to the ~200 MB goal.)
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { goodPassword } from '../helpers/directory.js';
import { type ProcessNetwork, startProcessNetwork } from '../helpers/process-network.js';

const MiB = 1024 * 1024;
const peakRssMiB = (pid: number) =>
  Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;

/** A deterministic stream of `size` bytes (1 MiB pieces, each stamped with its index). */
function content(size: number): { stream: Readable; digest: () => string } {
  const hash = createHash('sha256');
  function* pieces() {
    for (let offset = 0; offset < size; offset += MiB) {
      const piece = Buffer.alloc(Math.min(MiB, size - offset), offset / MiB);
      piece.writeUInt32BE(offset / MiB, 0);
      hash.update(piece);
      yield piece;
    }
  }
  return { stream: Readable.from(pieces()), digest: () => hash.digest('hex') };
}

describe('a large file through real peers', () => {
  let net: ProcessNetwork;
  const sessions: string[] = [];

  beforeAll(async () => {
    net = await startProcessNetwork({ peers: 3, capacity: '4G' });
    await net.register('alice', goodPassword('alice'));
    for (const peer of net.peers) sessions.push(await peer.login('alice', goodPassword('alice')));
  }, 60_000);
  afterAll(async () => net?.close());

  async function roundTrip(name: string, size: number): Promise<void> {
    const [writer, reader] = [net.peers[0]!, net.peers[1]!];
    const path = `/v1/fs/file?path=${encodeURIComponent(`/alice/${name}`)}`;
    const source = content(size);
    const put = await request(writer.url(path), {
      method: 'PUT',
      headers: { ...writer.headers(sessions[0]), 'content-type': 'application/octet-stream' },
      body: source.stream,
    });
    expect(put.statusCode, await put.body.text()).toBe(200);
    const get = await request(reader.url(path), { headers: reader.headers(sessions[1]) });
    expect(get.statusCode).toBe(200);
    const hash = createHash('sha256');
    let received = 0;
    for await (const part of get.body) {
      hash.update(part as Buffer);
      received += (part as Buffer).length;
    }
    expect(received).toBe(size);
    expect(hash.digest('hex')).toBe(source.digest());
  }

  it('round-trips 1 GiB byte-identical, and no peer’s peak memory grows with the file', async () => {
    await roundTrip('warm-up.bin', 64 * MiB);
    const before = net.peers.map((peer) => peakRssMiB(peer.proc.child.pid!));
    await roundTrip('large.bin', 1024 * MiB);
    const after = net.peers.map((peer) => peakRssMiB(peer.proc.child.pid!));
    console.log(
      `peak RSS (MiB) after 64 MiB: ${before.map((v) => v.toFixed(0)).join(', ')}; after 1 GiB: ${after.map((v) => v.toFixed(0)).join(', ')}`,
    );
    for (const [i, value] of after.entries()) expect(value - before[i]!).toBeLessThan(64);
    for (const value of after) expect(value).toBeLessThan(400);
  }, 300_000);
});

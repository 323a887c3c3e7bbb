/**
 * A 1 GiB file through real peer processes (R=3): written through one peer's agent, read back
 * through another's, compared by SHA-256 while streaming (the test holds no copy either). The
 * peers' peak memory must not grow with the file: their high-water RSS after the 1 GiB round
 * trip is compared with the one after a 64 MiB warm-up. (The absolute figure is reported; see
 * docs/performance.md for the gap to the ~200 MB goal.)
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DirectoryClient } from '../../src/client/directory-client.js';
import { goodPassword } from '../helpers/directory.js';
import { type RunningProcess, startPeervault } from '../helpers/processes.js';

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
  const root = mkdtempSync(join(tmpdir(), 'pv-large-'));
  let directory: RunningProcess<{ url: string; fingerprint: string }>;
  const peers: { proc: RunningProcess<{ api: string }>; token: string; session: string }[] = [];

  beforeAll(async () => {
    directory = await startPeervault([
      'directory',
      '--data',
      join(root, 'dir'),
      '--listen',
      '127.0.0.1:0',
      '--json',
    ]);
    const pin = `${directory.ready.url}#${directory.ready.fingerprint}`;
    for (const name of ['a', 'b', 'c']) {
      const data = join(root, name);
      const proc = await startPeervault<{ api: string }>([
        'peer',
        '--directory',
        pin,
        '--data',
        data,
        '--listen',
        '127.0.0.1:0',
        '--api',
        '127.0.0.1:0',
        '--capacity',
        '4G',
        '--json',
      ]);
      peers.push({
        proc,
        token: readFileSync(join(data, 'api-token'), 'utf8').trim(),
        session: '',
      });
    }
    const client = await DirectoryClient.connect(directory.ready);
    await client.register('alice', goodPassword('alice'));
    await client.close();
    for (const peer of peers) {
      const res = await request(`${peer.proc.ready.api}/v1/login`, {
        method: 'POST',
        headers: { authorization: `Bearer ${peer.token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ user: 'alice', password: goodPassword('alice') }),
      });
      peer.session = ((await res.body.json()) as { token: string }).token;
    }
  }, 60_000);

  afterAll(async () => {
    for (const peer of peers) await peer.proc.stop();
    await directory?.stop();
    rmSync(root, { recursive: true, force: true });
  });

  const headers = (peer: (typeof peers)[number]) => ({
    authorization: `Bearer ${peer.token}`,
    'x-peervault-session': peer.session,
  });

  async function roundTrip(name: string, size: number): Promise<void> {
    const [writer, reader] = [peers[0]!, peers[1]!];
    const source = content(size);
    const put = await request(
      `${writer.proc.ready.api}/v1/fs/file?path=${encodeURIComponent(`/alice/${name}`)}`,
      {
        method: 'PUT',
        headers: { ...headers(writer), 'content-type': 'application/octet-stream' },
        body: source.stream,
      },
    );
    expect(put.statusCode, await put.body.text()).toBe(200);
    const get = await request(
      `${reader.proc.ready.api}/v1/fs/file?path=${encodeURIComponent(`/alice/${name}`)}`,
      { headers: headers(reader) },
    );
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
    const before = peers.map((peer) => peakRssMiB(peer.proc.child.pid!));
    await roundTrip('large.bin', 1024 * MiB);
    const after = peers.map((peer) => peakRssMiB(peer.proc.child.pid!));
    console.log(
      `peak RSS (MiB) after 64 MiB: ${before.map((v) => v.toFixed(0)).join(', ')}; after 1 GiB: ${after.map((v) => v.toFixed(0)).join(', ')}`,
    );
    for (const [i, value] of after.entries()) expect(value - before[i]!).toBeLessThan(64);
    for (const value of after) expect(value).toBeLessThan(400);
  }, 300_000);
});

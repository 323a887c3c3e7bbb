/**
 * The workloads, done through a PeerVault peer's local API (the HTTP API every front end uses):
 * a large file streamed in and out, small files created and read with bounded concurrency,
 * a directory listed. The content is the same shape the competitors' nodes make
 * (bench/peers/protocol.mjs): 1 MiB pieces that never repeat at any 4 KiB boundary, and
 * distinct random small files.
 */
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { type Dispatcher, request } from 'undici';
import type { ProcessPeer } from '../test/helpers/process-network.js';

export const MiB = 1024 * 1024;

/** `size` bytes as 1 MiB pieces that differ at every 4 KiB boundary (no deduplication). */
export function pieces(size: number): Readable {
  const base = randomBytes(MiB);
  return Readable.from(
    (function* () {
      for (let sent = 0, index = 0; sent < size; sent += MiB, index++) {
        const piece = Buffer.from(base);
        for (let at = 0; at < MiB; at += 4096) piece.writeUInt32LE(index, at);
        yield sent + MiB <= size ? piece : piece.subarray(0, size - sent);
      }
    })(),
  );
}

/** Runs `work(i)` for i in [0, count) with at most `concurrency` at once. */
export async function pool(
  count: number,
  concurrency: number,
  work: (i: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, count) }, async () => {
      while (next < count) await work(next++);
    }),
  );
}

/** Milliseconds since `started` (from `process.hrtime.bigint()`). */
export const msSince = (started: bigint) => Number(process.hrtime.bigint() - started) / 1e6;

/**
 * Calls the peer's local API. A request the peer refuses with 429 (`throttled`: its directory
 * limits requests per source address) or 503 (`unavailable`) is retried, and counted in
 * `retries`; the waits are part of the figure. Like a polite client, a refusal pauses every
 * request of this client (not just the refused one) for a jittered wait that doubles with each
 * refusal in a row (to 2 s) and halves with each success. Any other failure, or the twentieth
 * refusal of one request, throws.
 */
export class LocalApi {
  /** Retried refusals, by HTTP status. */
  readonly retries = new Map<number, number>();
  #pausedUntil = 0;
  #backoffMs = 50;

  constructor(
    readonly peer: ProcessPeer,
    readonly session: string,
  ) {}

  async call(
    method: Dispatcher.HttpMethod,
    path: string,
    body?: Buffer | string,
    type = 'application/octet-stream',
  ): Promise<Dispatcher.ResponseData> {
    for (let refusals = 0; ;) {
      const pause = this.#pausedUntil - Date.now();
      if (pause > 0) await sleep(pause);
      const res = await request(this.peer.url(path), {
        method,
        headers: {
          ...this.peer.headers(this.session),
          ...(body === undefined ? {} : { 'content-type': type }),
        },
        ...(body === undefined ? {} : { body }),
      });
      if (res.statusCode === 200) {
        this.#backoffMs = Math.max(50, this.#backoffMs / 2);
        return res;
      }
      const text = await res.body.text();
      if ((res.statusCode !== 429 && res.statusCode !== 503) || ++refusals === 20)
        throw new Error(`${method} ${path}: ${res.statusCode} ${text}`);
      this.retries.set(res.statusCode, (this.retries.get(res.statusCode) ?? 0) + 1);
      const wait = this.#backoffMs * (0.5 + Math.random());
      this.#pausedUntil = Math.max(this.#pausedUntil, Date.now() + wait);
      this.#backoffMs = Math.min(this.#backoffMs * 2, 2000);
    }
  }
}

const fileUrl = (path: string) => `/v1/fs/file?path=${encodeURIComponent(path)}`;

/** Streams `size` bytes into `path` through `peer`; returns the milliseconds it took. */
export async function uploadPieces(
  peer: ProcessPeer,
  session: string,
  path: string,
  size: number,
): Promise<number> {
  const started = process.hrtime.bigint();
  const put = await request(peer.url(fileUrl(path)), {
    method: 'PUT',
    headers: { ...peer.headers(session), 'content-type': 'application/octet-stream' },
    body: pieces(size),
  });
  const text = await put.body.text();
  if (put.statusCode !== 200) throw new Error(`upload failed: ${put.statusCode} ${text}`);
  return msSince(started);
}

/** Reads `path` (of `size` bytes) through `peer`; returns the milliseconds it took. */
export async function download(
  peer: ProcessPeer,
  session: string,
  path: string,
  size: number,
): Promise<number> {
  const started = process.hrtime.bigint();
  const get = await request(peer.url(fileUrl(path)), { headers: peer.headers(session) });
  let received = 0;
  for await (const part of get.body) received += (part as Buffer).length;
  if (get.statusCode !== 200) throw new Error(`download failed: ${get.statusCode}`);
  if (received !== size) throw new Error(`download returned ${received} of ${size} bytes`);
  return msSince(started);
}

/** Makes `dir` and `count` files of `size` random bytes in it, `concurrency` at a time. */
export async function createSmallFiles(
  api: LocalApi,
  dir: string,
  count: number,
  size: number,
  concurrency: number,
): Promise<number> {
  const files = Array.from({ length: count }, () => randomBytes(size));
  await (
    await api.call('POST', '/v1/fs/mkdir', JSON.stringify({ path: dir }), 'application/json')
  ).body.text();
  const started = process.hrtime.bigint();
  await pool(count, concurrency, async (i) => {
    await (await api.call('PUT', fileUrl(`${dir}/f-${i}`), files[i])).body.text();
  });
  return msSince(started);
}

/** Lists `dir`; returns the names and the milliseconds it took. */
export async function listDir(
  api: LocalApi,
  dir: string,
): Promise<{ names: string[]; ms: number }> {
  const started = process.hrtime.bigint();
  const res = await api.call('GET', `/v1/fs/list?path=${encodeURIComponent(dir)}`);
  const { entries } = (await res.body.json()) as { entries: { name: string }[] };
  return { names: entries.map((e) => e.name), ms: msSince(started) };
}

/** Lists `dir` and reads every file in it (each `size` bytes), `concurrency` at a time. */
export async function readSmallFiles(
  api: LocalApi,
  dir: string,
  count: number,
  size: number,
  concurrency: number,
): Promise<number> {
  const started = process.hrtime.bigint();
  const { names } = await listDir(api, dir);
  if (names.length !== count) throw new Error(`listed ${names.length} of ${count} files`);
  await pool(count, concurrency, async (i) => {
    const res = await api.call('GET', fileUrl(`${dir}/${names[i]}`));
    const bytes = Buffer.from(await res.body.arrayBuffer());
    if (bytes.length !== size) throw new Error(`${names[i]}: ${bytes.length} bytes`);
  });
  return msSince(started);
}

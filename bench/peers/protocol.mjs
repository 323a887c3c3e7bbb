// The little protocol between the benchmark (bench/competitors.ts) and a competitor's node
// process: the node prints one JSON line when it is ready, then answers each JSON command line
// on stdin with one JSON line on stdout ({ ok: true, ms, ... } or { ok: false, error }). Each
// node times its own work, so the figures leave out this pipe.
import { Buffer } from 'node:buffer';
import { randomBytes } from 'node:crypto';
import { createInterface } from 'node:readline';

export const MiB = 1024 * 1024;

/** Answers commands with `handlers[command.op](command)` after printing `ready`. */
export function serve(ready, handlers) {
  process.stdout.write(JSON.stringify(ready) + '\n');
  const lines = createInterface({ input: process.stdin });
  let queue = Promise.resolve();
  lines.on('line', (line) => {
    queue = queue.then(async () => {
      const command = JSON.parse(line);
      const handler = handlers[command.op];
      try {
        if (!handler) throw new Error(`unknown op ${command.op}`);
        const started = process.hrtime.bigint();
        const result = (await handler(command)) ?? {};
        const ms = Number(process.hrtime.bigint() - started) / 1e6;
        process.stdout.write(JSON.stringify({ ok: true, ms, ...result }) + '\n');
      } catch (error) {
        process.stdout.write(
          JSON.stringify({ ok: false, error: String(error?.stack ?? error) }) + '\n',
        );
      }
    });
  });
  lines.on('close', () => void queue.then(() => process.exit(0)));
}

/**
 * `size` bytes as 1 MiB pieces that never repeat at any 4 KiB boundary, so a content-addressed
 * store cannot deduplicate them (the same generator as bench/workload.ts).
 */
export function* pieces(size) {
  const base = randomBytes(MiB);
  for (let sent = 0, index = 0; sent < size; sent += MiB, index++) {
    const piece = Buffer.from(base);
    for (let at = 0; at < MiB; at += 4096) piece.writeUInt32LE(index, at);
    yield sent + MiB <= size ? piece : piece.subarray(0, size - sent);
  }
}

/** `count` distinct random files of `size` bytes. */
export function smallFiles(count, size) {
  return Array.from({ length: count }, () => randomBytes(size));
}

/** Runs `work(i)` for i in [0, count) with at most `concurrency` at once. */
export async function pool(count, concurrency, work) {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, count) }, async () => {
      while (next < count) await work(next++);
    }),
  );
}

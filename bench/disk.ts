/**
 * The disk limit, in the same run: sequential 1 MiB writes to a fresh file in the temporary
 * directory (where the benchmark's peers keep their blocks) then one fsync, and a sequential
 * read of it with O_DIRECT so that the page cache does not stand in for the disk.
 */
import {
  closeSync,
  constants,
  fsyncSync,
  mkdtempSync,
  openSync,
  readSync,
  rmSync,
  writeSync,
} from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Bench } from './harness.js';

const MiB = 1024 * 1024;

/**
 * A 1 MiB slice of a fresh buffer whose address suits O_DIRECT on `fd`. Node cannot allocate
 * aligned memory, so this tries offsets until the kernel accepts one (it answers EINVAL for a
 * misaligned buffer). Undefined when the file system refuses O_DIRECT altogether.
 */
function alignedBuffer(fd: number): Buffer | undefined {
  const spare = Buffer.allocUnsafeSlow(MiB + 4096);
  for (let offset = 0; offset < 4096; offset += 16) {
    try {
      readSync(fd, spare, offset, 4096, 0);
      return spare.subarray(offset, offset + MiB);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EINVAL') throw error;
    }
  }
  return undefined;
}

/** Adds the disk probes to `bench`; returns a function that removes the scratch file. */
export function addDiskProbes(bench: Bench, mibPerSample: number): () => void {
  const dir = mkdtempSync(join(tmpdir(), 'pv-bench-disk-'));
  const file = join(dir, 'sequential');
  const piece = randomBytes(MiB);
  const write = () => {
    const fd = openSync(file, 'w');
    try {
      for (let i = 0; i < mibPerSample; i++) writeSync(fd, piece);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  };
  write();
  const probe = openSync(file, constants.O_RDONLY | constants.O_DIRECT);
  const direct = alignedBuffer(probe) !== undefined;
  closeSync(probe);

  bench.throughput('disk: sequential write + fsync', mibPerSample * MiB, 1, write);
  bench.throughput(
    `disk: sequential read${direct ? ' (O_DIRECT)' : ' (page cache: O_DIRECT refused)'}`,
    mibPerSample * MiB,
    1,
    () => {
      const fd = openSync(file, direct ? constants.O_RDONLY | constants.O_DIRECT : 'r');
      try {
        const buffer = (direct ? alignedBuffer(fd) : undefined) ?? Buffer.allocUnsafe(MiB);
        let total = 0;
        for (let n; (n = readSync(fd, buffer, 0, MiB, null)) > 0;) total += n;
        if (total !== mibPerSample * MiB) throw new Error(`read ${total} bytes`);
      } finally {
        closeSync(fd);
      }
    },
  );
  return () => rmSync(dir, { recursive: true, force: true });
}

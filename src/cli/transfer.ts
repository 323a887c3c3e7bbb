/**
 * Moving whole files between the local disk and PeerVault, shared by the shell's `put`/`get`
 * and the one-shot commands. Content streams both ways (never a whole file in memory), and a
 * download lands under its final name only once it is complete and on disk.
 */
import { randomBytes } from 'node:crypto';
import { type FileHandle, link, open, rename, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { FsError, isFsError } from '../interface/errors.js';
import type { LocalApi } from './local-api.js';
import { type Progress, createProgress } from './progress.js';

/** Options of {@link upload} and {@link download}. */
export interface TransferOptions {
  /** Where to draw a progress bar (drawn only when it is a terminal). */
  progress?: NodeJS.WriteStream;
  /** Stops the transfer: the source is destroyed and the call rejects. */
  signal?: AbortSignal;
}

/** A local file-system failure as an FsError with a sentence that names the file. */
function localError(err: unknown, path: string, op: string): FsError {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return new FsError('not-exist', `no such local file: ${path}`, { op });
  if (code === 'EACCES' || code === 'EPERM')
    return new FsError('permission', `no permission to use the local file ${path}`, { op });
  if (code === 'EISDIR') return new FsError('is-dir', `${path} is a local directory`, { op });
  if (code === 'ENOTDIR')
    return new FsError('not-dir', `a part of ${path} is not a directory`, { op });
  if (code === 'ENOSPC')
    return new FsError('unavailable', `the disk is full writing ${path}`, { op });
  return new FsError('unavailable', `could not use the local file ${path} (${code ?? 'error'})`, {
    op,
    cause: err,
  });
}

/** A progress bar that falls silent once the transfer is cancelled (the prompt is back). */
function progressFor(
  label: string,
  total: number | undefined,
  options: TransferOptions,
): Progress | undefined {
  if (options.progress === undefined) return undefined;
  const bar = createProgress(label, total, options.progress);
  const live = (): boolean => options.signal?.aborted !== true;
  return {
    advance: (bytes) => {
      if (live()) bar.advance(bytes);
    },
    done: () => {
      if (live()) bar.done();
    },
  };
}

/** The last element of a remote path (`/alice/a/b.txt` → `b.txt`). */
function remoteBase(remote: string): string {
  return remote.replace(/\/+$/, '').split('/').pop() ?? '';
}

/**
 * Uploads the local file `local` as a new version of `remote` (into it, under the local base
 * name, when `remote` is a directory).
 * @throws FsError `not-exist` (no such local file), `is-dir` (a local directory), `permission`,
 *   and whatever the peer answers
 */
export async function upload(
  api: LocalApi,
  local: string,
  remote: string,
  options: TransferOptions = {},
): Promise<{ version: number; size: number; path: string }> {
  const op = 'put';
  let handle: FileHandle;
  try {
    handle = await open(local, 'r');
  } catch (err) {
    throw localError(err, local, op);
  }
  const info = await handle.stat().catch(async (err: unknown) => {
    await handle.close();
    throw localError(err, local, op);
  });
  if (info.isDirectory()) {
    await handle.close();
    throw new FsError('is-dir', `${local} is a local directory; put takes one file`, { op });
  }
  // The source is opened (and checked) before anything is asked of the peer, so a missing or
  // unreadable file never leaves a half-made entry behind.
  const source = handle.createReadStream();
  let path = remote;
  let readFailure: unknown;
  try {
    const target = await api.stat(remote).catch((err: unknown) => {
      if (isFsError(err, 'not-exist')) return undefined;
      throw err;
    });
    if (target?.kind === 'dir') path = `${remote.replace(/\/+$/, '')}/${basename(local)}`;
    const progress = progressFor(
      `put ${basename(local)}`,
      info.isFile() ? info.size : undefined,
      options,
    );
    const stop = (): void => void source.destroy(new Error('cancelled'));
    options.signal?.addEventListener('abort', stop, { once: true });
    async function* counted(): AsyncGenerator<Uint8Array> {
      try {
        for await (const chunk of source as AsyncIterable<Buffer>) {
          progress?.advance(chunk.length);
          yield chunk;
        }
      } catch (err) {
        readFailure = err;
        throw err;
      }
    }
    try {
      const written = await api.writeFile(path, Readable.from(counted()), 'replace');
      return { ...written, path };
    } finally {
      progress?.done();
      options.signal?.removeEventListener('abort', stop);
    }
  } catch (err) {
    // A read failure surfaces from the HTTP client as a lost connection; name the real cause.
    if (readFailure !== undefined && !options.signal?.aborted)
      throw localError(readFailure, local, op);
    throw err;
  } finally {
    source.destroy();
  }
}

/** Options of {@link download}. */
export interface DownloadOptions extends TransferOptions {
  /** Replace an existing local file (default: refuse with `exist`). */
  overwrite?: boolean;
}

/** Whether a local path exists (following links), and whether it is a directory. */
async function localKind(path: string): Promise<'dir' | 'other' | undefined> {
  try {
    return (await stat(path)).isDirectory() ? 'dir' : 'other';
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw localError(err, path, 'get');
  }
}

/** Flushes a directory entry (a rename) to disk; not every platform can, which is fine. */
async function syncDir(dir: string): Promise<void> {
  try {
    const handle = await open(dir, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch {
    // Best effort: the file itself is already synced.
  }
}

/** Moves the finished temp file to `target`, never replacing a file unless asked to. */
async function publish(temp: string, target: string, overwrite: boolean): Promise<void> {
  if (overwrite) {
    await rename(temp, target);
    return;
  }
  try {
    // link() fails when the target exists, so a file made meanwhile is never clobbered.
    await link(temp, target);
    await unlink(temp);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST')
      throw new FsError('exist', `${target} already exists locally; choose another name`, {
        op: 'get',
      });
    // Some file systems have no hard links: fall back to a checked rename.
    if (
      (code === 'EPERM' || code === 'ENOTSUP' || code === 'EXDEV') &&
      !(await localKind(target))
    ) {
      await rename(temp, target);
      return;
    }
    throw err;
  }
}

/**
 * Downloads `remote` to the local path `local` (into it, under the remote's base name, when it
 * is an existing directory). The content goes to a temp file beside the target, is fsynced and
 * then renamed, so a failed download never leaves a half file under the target's name.
 * @throws FsError `exist` (the local file exists and `overwrite` is not set), the local disk's
 *   failures, and whatever the peer answers
 */
export async function download(
  api: LocalApi,
  remote: string,
  local: string,
  options: DownloadOptions = {},
): Promise<{ version: number; size: number; path: string }> {
  const op = 'get';
  let target = local;
  if ((await localKind(local)) === 'dir') {
    const base = remoteBase(remote);
    if (base === '' || base === '~')
      throw new FsError('is-dir', `${remote} is a directory; get takes one file`, { op });
    target = join(local, base);
  }
  if (!options.overwrite && (await localKind(target)) !== undefined) {
    throw new FsError('exist', `${target} already exists locally; choose another name`, { op });
  }
  const file = await api.readFile(remote);
  const temp = join(dirname(target), `.${basename(target)}.${randomBytes(6).toString('hex')}.part`);
  let handle: FileHandle | undefined;
  const stop = (): void => void file.body.destroy(new Error('cancelled'));
  options.signal?.addEventListener('abort', stop, { once: true });
  const progress = progressFor(`get ${basename(target)}`, file.size, options);
  try {
    try {
      // 0600: this is decrypted content; the user can widen it, we should not guess wider.
      handle = await open(temp, 'wx', 0o600);
    } catch (err) {
      throw localError(err, target, op);
    }
    let written = 0;
    for await (const chunk of file.body as AsyncIterable<Buffer>) {
      await handle.write(chunk).catch((err: unknown) => {
        throw localError(err, target, op);
      });
      written += chunk.length;
      progress?.advance(chunk.length);
    }
    if (written !== file.size)
      throw new FsError('unavailable', `the download of ${remote} ended early; try again`, { op });
    await handle.sync();
    await handle.close();
    handle = undefined;
    await publish(temp, target, options.overwrite === true);
    await syncDir(dirname(target));
    return { version: file.version, size: file.size, path: target };
  } catch (err) {
    file.body.destroy();
    await handle?.close().catch(() => undefined);
    await unlink(temp).catch(() => undefined);
    if (isFsError(err)) throw err;
    // The body stream breaking (the peer stopped, or Ctrl-C) is not a bug of ours.
    throw new FsError('unavailable', `the download of ${remote} was interrupted; try again`, {
      op,
      cause: err,
    });
  } finally {
    progress?.done();
    options.signal?.removeEventListener('abort', stop);
  }
}

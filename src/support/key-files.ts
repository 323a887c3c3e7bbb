/**
 * Secret files in a node's data directory: written atomically (temp file, fsync, rename, fsync
 * of the directory) with mode 0600 in a 0700 directory, and refused at load when other users
 * could read them. Used by the directory and the peer for their identity keys and tokens.
 */
import {
  closeSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  writeSync,
} from 'node:fs';
import { chmod, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { FsError } from '../interface/errors.js';
import { decodeMap, encodeCanonical, field } from '../crypto/canonical.js';
import { SigningKeyPair } from '../crypto/keys.js';
import { SecretBytes } from '../crypto/secret.js';

/** Writes `data` to `path` atomically with mode 0600. */
export function writeFileAtomic(path: string, data: Uint8Array | string): void {
  const temp = `${path}.tmp-${process.pid}`;
  const fd = openSync(temp, 'w', 0o600);
  try {
    writeSync(fd, typeof data === 'string' ? Buffer.from(data) : data);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(temp, path);
  const dirFd = openSync(dirname(path), 'r');
  try {
    fsyncSync(dirFd);
  } finally {
    closeSync(dirFd);
  }
}

/** Reads a file, or undefined when it does not exist. */
export function readIfExists(path: string): Buffer | undefined {
  try {
    return readFileSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new FsError('unavailable', `cannot read ${path}`, { op: 'key-file.read', cause: err });
  }
}

/** Creates `dir` (0700) if needed and tightens its mode. */
export async function ensurePrivateDir(dir: string): Promise<void> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700);
}

/** @throws FsError `permission` when `path` is readable or writable by group or others. */
export async function refuseLoosePermissions(path: string): Promise<void> {
  const info = await stat(path);
  if ((info.mode & 0o077) !== 0) {
    throw new FsError(
      'permission',
      `${path} is readable by other users; run \`chmod 600 ${path}\` and start again`,
      {
        op: 'key-file.check',
      },
    );
  }
}

/**
 * Loads the Ed25519 identity kept in `dir/identity.key` (canonical CBOR { v: 1, seed }),
 * creating it on first start.
 */
export async function loadOrCreateIdentityKey(
  dir: string,
): Promise<{ key: SigningKeyPair; created: boolean }> {
  await ensurePrivateDir(dir);
  const path = join(dir, 'identity.key');
  let bytes = readIfExists(path);
  let created = false;
  if (bytes === undefined) {
    const fresh = SigningKeyPair.generate();
    writeFileAtomic(path, encodeCanonical({ v: 1, seed: fresh.seed().expose() }));
    bytes = readFileSync(path);
    created = true;
  }
  await refuseLoosePermissions(path);
  const op = 'identity.load';
  let map;
  try {
    map = decodeMap(new Uint8Array(bytes), ['v', 'seed'], op, 1024);
    if (field.uint(map, 'v', op) !== 1) throw new Error('version');
  } catch {
    throw new FsError('invalid', `${path} is not a PeerVault identity key`, { op });
  }
  return {
    key: SigningKeyPair.fromSeed(SecretBytes.copyOf(field.bytes(map, 'seed', op, 32))),
    created,
  };
}

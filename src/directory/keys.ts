/**
 * The directory's own secrets, kept in its data directory (never in the database):
 * - `identity.key`: its Ed25519 identity seed (canonical CBOR { v: 1, seed: bytes(32) }); the
 *   key in its TLS certificate, whose fingerprint clients pin, and that signs peer lists;
 * - `opaque-setup.key`: the OPAQUE server setup (its OPRF seed and AKE key pair).
 * Both are created on first start with mode 0600 in a 0700 directory, written atomically
 * (temp file, fsync, rename, fsync of the directory), and must be backed up together: losing the
 * OPAQUE setup makes every user's sealed keys unrecoverable. Several directory processes serving
 * one database share one copy of these files.
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
import { join } from 'node:path';
import * as opaque from '@serenity-kit/opaque';
import { FsError } from '../interface/errors.js';
import { decodeMap, encodeCanonical, field } from '../crypto/canonical.js';
import { fingerprint } from '../crypto/identity.js';
import { SigningKeyPair } from '../crypto/keys.js';
import { SecretBytes } from '../crypto/secret.js';

/** The directory's loaded secrets. Never log this object's fields. */
export interface DirectoryKeys {
  identity: SigningKeyPair;
  /** OPAQUE server setup (secret). */
  opaqueSetup: string;
  fingerprint: string;
}

const identityFile = 'identity.key';
const opaqueFile = 'opaque-setup.key';

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
  const dirFd = openSync(join(path, '..'), 'r');
  try {
    fsyncSync(dirFd);
  } finally {
    closeSync(dirFd);
  }
}

function readIfExists(path: string): Buffer | undefined {
  try {
    return readFileSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new FsError('unavailable', `cannot read ${path}`, { op: 'directory.keys', cause: err });
  }
}

async function refuseLoosePermissions(path: string): Promise<void> {
  const info = await stat(path);
  if ((info.mode & 0o077) !== 0) {
    throw new FsError(
      'permission',
      `${path} is readable by other users; run \`chmod 600 ${path}\` and start again`,
      { op: 'directory.keys' },
    );
  }
}

/**
 * Loads the directory's keys from `dataDir`, creating any that are missing.
 * @returns the keys and whether they were created now.
 */
export async function loadOrCreateDirectoryKeys(
  dataDir: string,
): Promise<{ keys: DirectoryKeys; created: boolean }> {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  await chmod(dataDir, 0o700);
  await opaque.ready;
  let created = false;
  const identityPath = join(dataDir, identityFile);
  let identityBytes = readIfExists(identityPath);
  if (identityBytes === undefined) {
    const fresh = SigningKeyPair.generate();
    writeFileAtomic(identityPath, encodeCanonical({ v: 1, seed: fresh.seed().expose() }));
    identityBytes = readFileSync(identityPath);
    created = true;
  }
  await refuseLoosePermissions(identityPath);
  const op = 'directory.keys';
  const map = decodeMap(new Uint8Array(identityBytes), ['v', 'seed'], op, 1024);
  if (field.uint(map, 'v', op) !== 1)
    throw new FsError('invalid', `${identityPath} has an unknown format`, { op });
  const identity = SigningKeyPair.fromSeed(SecretBytes.copyOf(field.bytes(map, 'seed', op, 32)));

  const opaquePath = join(dataDir, opaqueFile);
  let setup = readIfExists(opaquePath)?.toString('utf8').trim();
  if (setup === undefined) {
    setup = opaque.server.createSetup();
    writeFileAtomic(opaquePath, setup + '\n');
    created = true;
  }
  await refuseLoosePermissions(opaquePath);
  return {
    keys: { identity, opaqueSetup: setup, fingerprint: fingerprint(identity.publicKey) },
    created,
  };
}

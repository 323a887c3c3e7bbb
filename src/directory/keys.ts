/**
 * The directory's own secrets, kept in its data directory (never in the database):
 * - `identity.key`: its Ed25519 identity seed (canonical CBOR { v: 1, seed: bytes(32) }); the
 *   key in its TLS certificate, whose fingerprint clients pin, and that signs peer lists;
 * - `opaque-setup.key`: the OPAQUE server setup (its OPRF seed and AKE key pair).
 * Both are created on first start with mode 0600 in a 0700 directory, written atomically
 * (support/key-files.ts), and must be backed up together: losing the OPAQUE setup makes every
 * user's sealed keys unrecoverable. Several directory processes serving one database share one
 * copy of these files.
 */
import { join } from 'node:path';
import * as opaque from '@serenity-kit/opaque';
import { FsError } from '../interface/errors.js';
import { fingerprint } from '../crypto/identity.js';
import type { SigningKeyPair } from '../crypto/keys.js';
import {
  loadOrCreateIdentityKey,
  readIfExists,
  refuseLoosePermissions,
  writeFileAtomic,
} from '../support/key-files.js';

/** The directory's loaded secrets. Never log this object's fields. */
export interface DirectoryKeys {
  identity: SigningKeyPair;
  /** OPAQUE server setup (secret). */
  opaqueSetup: string;
  fingerprint: string;
}

const opaqueFile = 'opaque-setup.key';

/**
 * Loads the directory's keys from `dataDir`, creating any that are missing.
 * @returns the keys and whether any were created now.
 */
export async function loadOrCreateDirectoryKeys(
  dataDir: string,
): Promise<{ keys: DirectoryKeys; created: boolean }> {
  await opaque.ready;
  const { key: identity, created: identityCreated } = await loadOrCreateIdentityKey(dataDir);
  let created = identityCreated;
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

/**
 * The directory's public identity key and fingerprint, from an existing data directory (for
 * admin commands that check what the directory signed). Never creates a key: a new one would
 * make everything the real one signed look forged.
 * @throws FsError `not-exist` when `dataDir` holds no identity key
 */
export async function loadDirectoryPublicKey(
  dataDir: string,
): Promise<{ publicKey: Uint8Array; fingerprint: string }> {
  if (readIfExists(join(dataDir, 'identity.key')) === undefined) {
    throw new FsError('not-exist', `${dataDir} holds no directory identity key (identity.key)`, {
      op: 'directory.keys',
    });
  }
  const { key } = await loadOrCreateIdentityKey(dataDir);
  return { publicKey: key.publicKey, fingerprint: fingerprint(key.publicKey) };
}

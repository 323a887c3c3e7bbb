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

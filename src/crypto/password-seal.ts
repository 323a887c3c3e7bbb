/**
 * Password-based sealing: a user's private keys, encrypted under a key derived from their
 * password with Argon2id (RFC 9106), stored at the directory so they can log in from any peer.
 *
 * The Argon2id parameters are written in the sealed blob, so they can grow for new seals while
 * old blobs still open. They are bounded on both sides: below the floor we refuse to seal (a
 * weak blob is never written) and refuse to open; above the ceiling we refuse to open, so a
 * malicious directory cannot make a client burn gigabytes of memory or hang.
 *
 * The whole header, and a caller `context` (for example the user name), is the associated data
 * of the AES-256-GCM seal, so no field can be changed and a blob cannot be moved to another
 * account.
 *
 * Sealed blob, format 1 (canonical CBOR; see docs/formats.md):
 *   { v: 1, kdf: "argon2id", m: KiB, t: passes, p: lanes, salt: bytes(16), nonce: bytes(12), ct }
 *
 * Implementation: `argon2` 0.44, whose prebuilt binary ships inside the npm package and runs
 * off the event loop (libuv's thread pool). 0.45's binary crashes on Node 20; see
 * docs/architecture.md.
 */
import argon2 from 'argon2';
import { FsError, integrityError } from '../interface/errors.js';
import { aeadNonceBytes, aeadOpen, aeadSeal } from './aead.js';
import { asBuffer, concatBytes, utf8 } from './bytes.js';
import { decodeMap, encodeCanonical, field } from './canonical.js';
import { labelBytes, labels } from './labels.js';
import { randomBytesOf } from './random.js';
import { SecretBytes } from './secret.js';

/** The format version written by {@link sealWithPassword}. */
export const passwordSealVersion = 1;

/** Argon2id cost parameters. */
export interface Argon2Params {
  /** Memory in KiB. */
  memoryKiB: number;
  /** Number of passes over memory. */
  passes: number;
  /** Degree of parallelism (lanes). */
  parallelism: number;
}

/** What new seals use: RFC 9106's second recommended option (64 MiB, t=3, p=4). */
export const defaultArgon2Params: Readonly<Argon2Params> = {
  memoryKiB: 64 * 1024,
  passes: 3,
  parallelism: 4,
};

/** The weakest parameters accepted (OWASP's minimum for Argon2id: 19 MiB, t=2, p=1). */
export const minArgon2Params: Readonly<Argon2Params> = {
  memoryKiB: 19 * 1024,
  passes: 2,
  parallelism: 1,
};

/** The costliest parameters a client will run for a blob it was given. */
export const maxArgon2Params: Readonly<Argon2Params> = {
  memoryKiB: 1024 * 1024,
  passes: 16,
  parallelism: 16,
};

const saltBytes = 16;
const headerKeys = ['v', 'kdf', 'm', 't', 'p', 'salt', 'nonce', 'ct'];
const maxSealedBytes = 64 * 1024;

/** A password as secret bytes: NFC-normalised, so the same password typed anywhere matches. */
export function passwordFromString(password: string): SecretBytes {
  return new SecretBytes(utf8(password.normalize('NFC')));
}

function withinBounds(params: Argon2Params): boolean {
  const { memoryKiB: m, passes: t, parallelism: p } = params;
  return (
    [m, t, p].every((n) => Number.isSafeInteger(n)) &&
    m >= minArgon2Params.memoryKiB &&
    m <= maxArgon2Params.memoryKiB &&
    t >= minArgon2Params.passes &&
    t <= maxArgon2Params.passes &&
    p >= minArgon2Params.parallelism &&
    p <= maxArgon2Params.parallelism &&
    m >= 8 * p // Argon2's own rule
  );
}

/** Argon2id with a raw 32-byte output. */
async function deriveKey(
  password: SecretBytes,
  salt: Uint8Array,
  params: Argon2Params,
): Promise<Uint8Array> {
  const raw = await argon2.hash(asBuffer(password.expose()), {
    raw: true,
    type: argon2.argon2id,
    version: 0x13,
    hashLength: 32,
    salt: asBuffer(salt),
    memoryCost: params.memoryKiB,
    timeCost: params.passes,
    parallelism: params.parallelism,
  });
  return new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength);
}

function associatedData(
  params: Argon2Params,
  salt: Uint8Array,
  nonce: Uint8Array,
  context: Uint8Array,
): Uint8Array {
  return concatBytes(
    labelBytes(labels.passwordSeal),
    encodeCanonical({
      v: passwordSealVersion,
      kdf: 'argon2id',
      m: params.memoryKiB,
      t: params.passes,
      p: params.parallelism,
      salt,
      nonce,
      ctx: context,
    }),
  );
}

/**
 * Seals `secret` under `password`.
 * @throws FsError `invalid` when `params` are outside the accepted bounds.
 */
export async function sealWithPassword(
  password: SecretBytes,
  secret: SecretBytes,
  context: Uint8Array,
  params: Argon2Params = defaultArgon2Params,
): Promise<Uint8Array> {
  if (!withinBounds(params)) {
    throw new FsError('invalid', 'Argon2id parameters are outside the accepted bounds', {
      op: 'password-seal.seal',
    });
  }
  const salt = randomBytesOf(saltBytes);
  const nonce = randomBytesOf(aeadNonceBytes);
  const key = await deriveKey(password, salt, params);
  const ct = aeadSeal(key, nonce, secret.expose(), associatedData(params, salt, nonce, context));
  key.fill(0);
  return encodeCanonical({
    v: passwordSealVersion,
    kdf: 'argon2id',
    m: params.memoryKiB,
    t: params.passes,
    p: params.parallelism,
    salt,
    nonce,
    ct,
  });
}

/** The parameters a sealed blob was made with (to decide whether to re-seal with stronger ones). */
export function sealedParams(sealed: Uint8Array): Argon2Params {
  const op = 'password-seal.open';
  const map = decodeMap(sealed, headerKeys, op, maxSealedBytes);
  return {
    memoryKiB: field.uint(map, 'm', op),
    passes: field.uint(map, 't', op),
    parallelism: field.uint(map, 'p', op),
  };
}

/**
 * Opens a blob sealed by {@link sealWithPassword}.
 * @throws FsError `integrity` for a wrong password, a wrong context, an altered blob, or
 *   parameters outside the bounds. The error does not say which: a wrong password and a
 *   tampered blob look the same.
 */
export async function openWithPassword(
  password: SecretBytes,
  sealed: Uint8Array,
  context: Uint8Array,
): Promise<SecretBytes> {
  const op = 'password-seal.open';
  const map = decodeMap(sealed, headerKeys, op, maxSealedBytes);
  if (field.uint(map, 'v', op) !== passwordSealVersion) throw integrityError(op);
  if (field.text(map, 'kdf', op) !== 'argon2id') throw integrityError(op);
  const params = sealedParams(sealed);
  if (!withinBounds(params)) throw integrityError(op);
  const salt = field.bytes(map, 'salt', op, saltBytes);
  const nonce = field.bytes(map, 'nonce', op, aeadNonceBytes);
  const ct = field.bytes(map, 'ct', op);
  let key: Uint8Array;
  try {
    key = await deriveKey(password, salt, params);
  } catch {
    throw integrityError(op);
  }
  try {
    return new SecretBytes(
      aeadOpen(key, nonce, ct, associatedData(params, salt, nonce, context), op),
    );
  } finally {
    key.fill(0);
  }
}

/**
 * Raw key pairs: Ed25519 for signatures, X25519 for encryption (HPKE), through node:crypto.
 *
 * Keys travel as raw 32-byte strings (RFC 8032 seeds and public keys, RFC 7748 scalars and
 * u-coordinates). node:crypto wants DER, so raw keys are wrapped in the fixed PKCS#8 / SPKI
 * prefixes for their algorithm (RFC 8410) on import.
 *
 * Security-sensitive: private keys are held as {@link SecretBytes} and node:crypto KeyObjects,
 * neither of which prints its contents.
 */
import {
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  type KeyObject,
  randomBytes,
  sign,
  verify,
} from 'node:crypto';
import { integrityError } from '../interface/errors.js';
import { concatBytes, fromHex } from './bytes.js';
import { SecretBytes } from './secret.js';

/** Raw length of Ed25519 and X25519 keys. */
export const keyBytes = 32;
/** Length of an Ed25519 signature. */
export const signatureBytes = 64;

// RFC 8410 DER prefixes: PKCS#8 PrivateKeyInfo and SubjectPublicKeyInfo for OIDs 1.3.101.112
// (Ed25519) and 1.3.101.110 (X25519), each followed by the 32 raw key bytes.
const der = {
  ed25519Private: fromHex('302e020100300506032b657004220420'),
  ed25519Public: fromHex('302a300506032b6570032100'),
  x25519Private: fromHex('302e020100300506032b656e04220420'),
  x25519Public: fromHex('302a300506032b656e032100'),
};

function privateKeyObject(prefix: Uint8Array, raw: Uint8Array): KeyObject {
  const encoded = concatBytes(prefix, raw);
  try {
    return createPrivateKey({ key: Buffer.from(encoded), format: 'der', type: 'pkcs8' });
  } finally {
    encoded.fill(0);
  }
}

function publicKeyObject(prefix: Uint8Array, raw: Uint8Array, op: string): KeyObject {
  if (raw.length !== keyBytes) throw integrityError(op);
  try {
    return createPublicKey({
      key: Buffer.from(concatBytes(prefix, raw)),
      format: 'der',
      type: 'spki',
    });
  } catch {
    throw integrityError(op);
  }
}

function rawPublic(key: KeyObject): Uint8Array {
  const jwk = key.export({ format: 'jwk' });
  if (typeof jwk.x !== 'string') throw new Error('unexpected public key export');
  return new Uint8Array(Buffer.from(jwk.x, 'base64url'));
}

/** An Ed25519 key pair. The private half signs; it never leaves this object unsealed. */
export class SigningKeyPair {
  /** The raw 32-byte public key. */
  readonly publicKey: Uint8Array;
  readonly #seed: SecretBytes;
  readonly #privateKey: KeyObject;

  private constructor(seed: SecretBytes) {
    if (seed.length !== keyBytes) throw new RangeError('an Ed25519 seed is 32 bytes');
    this.#seed = seed;
    this.#privateKey = privateKeyObject(der.ed25519Private, seed.expose());
    this.publicKey = rawPublic(createPublicKey(this.#privateKey));
  }

  /** A fresh random key pair. */
  static generate(): SigningKeyPair {
    return new SigningKeyPair(new SecretBytes(new Uint8Array(randomBytes(keyBytes))));
  }

  /** The key pair of a 32-byte RFC 8032 seed (the "secret key" of the RFC's vectors). */
  static fromSeed(seed: SecretBytes): SigningKeyPair {
    return new SigningKeyPair(seed);
  }

  /** The seed, for sealing under a password. */
  seed(): SecretBytes {
    return this.#seed;
  }

  /** Signs `message` (pure Ed25519, RFC 8032). Use sign.ts for structured messages. */
  signRaw(message: Uint8Array): Uint8Array {
    return new Uint8Array(sign(null, message, this.#privateKey));
  }

  toJSON(): { publicKey: string } {
    return { publicKey: Buffer.from(this.publicKey).toString('base64url') };
  }
}

/**
 * Ed25519 public keys already imported, by their raw bytes: importing one (DER, then a
 * KeyObject) costs more than the verification itself, and the same few keys (users', devices',
 * peers') sign almost everything a process checks. Public values only; bounded.
 */
const verifyingKeys = new Map<string, KeyObject>();
const maxVerifyingKeys = 4096;

function verifyingKey(publicKey: Uint8Array): KeyObject {
  const name = Buffer.from(publicKey).toString('base64');
  let key = verifyingKeys.get(name);
  if (key === undefined) {
    key = publicKeyObject(der.ed25519Public, publicKey, 'verify');
    if (verifyingKeys.size >= maxVerifyingKeys) verifyingKeys.clear();
    verifyingKeys.set(name, key);
  }
  return key;
}

/**
 * Verifies a raw Ed25519 signature. Returns false for any malformed key or signature; never
 * throws on attacker input.
 */
export function verifyRaw(
  publicKey: Uint8Array,
  message: Uint8Array,
  signature: Uint8Array,
): boolean {
  if (signature.length !== signatureBytes || publicKey.length !== keyBytes) return false;
  try {
    return verify(null, message, verifyingKey(publicKey), signature);
  } catch {
    return false;
  }
}

/** An X25519 key pair for receiving wrapped keys. */
export class EncryptionKeyPair {
  /** The raw 32-byte public key (u-coordinate). */
  readonly publicKey: Uint8Array;
  readonly #privateKey: SecretBytes;
  readonly #keyObject: KeyObject;

  private constructor(privateKey: SecretBytes) {
    if (privateKey.length !== keyBytes) throw new RangeError('an X25519 private key is 32 bytes');
    this.#privateKey = privateKey;
    this.#keyObject = privateKeyObject(der.x25519Private, privateKey.expose());
    this.publicKey = rawPublic(createPublicKey(this.#keyObject));
  }

  /** A fresh random key pair. */
  static generate(): EncryptionKeyPair {
    return new EncryptionKeyPair(new SecretBytes(new Uint8Array(randomBytes(keyBytes))));
  }

  /** The key pair of a raw 32-byte X25519 private key. */
  static fromPrivateKey(privateKey: SecretBytes): EncryptionKeyPair {
    return new EncryptionKeyPair(privateKey);
  }

  /** The raw private key, for HPKE and for sealing under a password. */
  privateKey(): SecretBytes {
    return this.#privateKey;
  }

  /**
   * Raw X25519 (RFC 7748) with a peer's public key. HPKE (wrap.ts) is the way to encrypt to a
   * key; this exists for the known-answer tests of the primitive.
   */
  agree(peerPublicKey: Uint8Array): SecretBytes {
    const peer = publicKeyObject(der.x25519Public, peerPublicKey, 'x25519.agree');
    try {
      return new SecretBytes(
        new Uint8Array(diffieHellman({ privateKey: this.#keyObject, publicKey: peer })),
      );
    } catch {
      throw integrityError('x25519.agree'); // e.g. a small-order point gives an all-zero secret
    }
  }

  toJSON(): { publicKey: string } {
    return { publicKey: Buffer.from(this.publicKey).toString('base64url') };
  }
}

/**
 * Identities: a user's, a peer's or the directory's pair of keys, how they are written down,
 * and the fingerprint a person compares.
 *
 * An identity is its Ed25519 signing key; the X25519 encryption key belongs to it because the
 * signing key vouches for it (in the key log, later). The fingerprint therefore covers the
 * signing key only, which is also the key in a node's TLS certificate, so one fingerprint pins
 * both the node and its transport.
 *
 * Public identity, format 1 (canonical CBOR): { v: 1, sign: bytes(32), enc: bytes(32), suite: 1 }
 * Private identity, format 1 (canonical CBOR, only ever stored sealed):
 *   { v: 1, sign: bytes(32) Ed25519 seed, enc: bytes(32) X25519 private key }
 */
import { createHash } from 'node:crypto';
import { FsError, integrityError } from '../interface/errors.js';
import { concatBytes, constantTimeEqual } from './bytes.js';
import { decodeCanonical, decodeMap, encodeCanonical, field, isMap } from './canonical.js';
import { EncryptionKeyPair, keyBytes, SigningKeyPair } from './keys.js';
import { labelBytes, labels } from './labels.js';
import { SecretBytes } from './secret.js';
import { wrapSuites } from './wrap-suites.js';

/** The format version of encoded identities. */
export const identityFormatVersion = 1;
/** Bytes of the fingerprint hash shown to people (160 bits). */
export const fingerprintBytes = 20;

/** The public half of an identity. */
export interface PublicIdentity {
  /** Raw Ed25519 public key: the identity itself. */
  signingKey: Uint8Array;
  /** Raw public key for key wrapping under {@link PublicIdentity.encryptionSuite}. */
  encryptionKey: Uint8Array;
  /** The wrap suite the encryption key is for (wrap-suites.ts). */
  encryptionSuite: number;
}

/** A full identity: both key pairs. Holds secrets; never log it (it prints only public keys). */
export class IdentityKeys {
  constructor(
    readonly signing: SigningKeyPair,
    readonly encryption: EncryptionKeyPair,
  ) {}

  /** A fresh identity. */
  static generate(): IdentityKeys {
    return new IdentityKeys(SigningKeyPair.generate(), EncryptionKeyPair.generate());
  }

  /** The public half. */
  get public(): PublicIdentity {
    return {
      signingKey: this.signing.publicKey,
      encryptionKey: this.encryption.publicKey,
      encryptionSuite: wrapSuites.x25519Aes256Gcm,
    };
  }

  toJSON(): { fingerprint: string } {
    return { fingerprint: fingerprint(this.signing.publicKey) };
  }
}

/** Encodes a public identity. */
export function encodePublicIdentity(identity: PublicIdentity): Uint8Array {
  return encodeCanonical({
    v: identityFormatVersion,
    sign: identity.signingKey,
    enc: identity.encryptionKey,
    suite: identity.encryptionSuite,
  });
}

/** Decodes a public identity. @throws FsError `integrity` when malformed. */
export function decodePublicIdentity(bytes: Uint8Array): PublicIdentity {
  const op = 'identity.decode';
  const map = decodeMap(bytes, ['v', 'sign', 'enc', 'suite'], op, 1024);
  if (field.uint(map, 'v', op) !== identityFormatVersion) throw integrityError(op);
  const suite = field.uint(map, 'suite', op);
  if (suite !== wrapSuites.x25519Aes256Gcm) throw integrityError(op);
  return {
    signingKey: field.bytes(map, 'sign', op, keyBytes),
    encryptionKey: field.bytes(map, 'enc', op, keyBytes),
    encryptionSuite: suite,
  };
}

/** Encodes the private keys, for sealing under a password. The result is secret. */
export function encodePrivateIdentity(keys: IdentityKeys): SecretBytes {
  return new SecretBytes(
    encodeCanonical({
      v: identityFormatVersion,
      sign: keys.signing.seed().expose(),
      enc: keys.encryption.privateKey().expose(),
    }),
  );
}

/** Decodes private keys (after unsealing). @throws FsError `integrity` when malformed. */
export function decodePrivateIdentity(secret: SecretBytes): IdentityKeys {
  const op = 'identity.decode-private';
  const map = decodeMap(secret.expose(), ['v', 'sign', 'enc'], op, 1024);
  if (field.uint(map, 'v', op) !== identityFormatVersion) throw integrityError(op);
  return new IdentityKeys(
    SigningKeyPair.fromSeed(SecretBytes.copyOf(field.bytes(map, 'sign', op, keyBytes))),
    EncryptionKeyPair.fromPrivateKey(SecretBytes.copyOf(field.bytes(map, 'enc', op, keyBytes))),
  );
}

/** Most replaced identities a keyring keeps (the oldest are dropped beyond this). */
export const maxPreviousIdentities = 32;

/** A user's private keys: the current identity and those it replaced (to open old wraps). */
export interface Keyring {
  current: IdentityKeys;
  /** Replaced identities, oldest first. They open keys wrapped to them; they sign nothing. */
  previous: readonly IdentityKeys[];
}

const keyringFormatVersion = 2;

function privatePair(keys: IdentityKeys) {
  return { sign: keys.signing.seed().expose(), enc: keys.encryption.privateKey().expose() };
}

function pairOf(value: unknown, op: string): IdentityKeys {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw integrityError(op);
  const map = value as Record<string, unknown>;
  const sign = map['sign'];
  const enc = map['enc'];
  if (
    Object.keys(map).length !== 2 ||
    !(sign instanceof Uint8Array) ||
    !(enc instanceof Uint8Array) ||
    sign.length !== keyBytes ||
    enc.length !== keyBytes
  ) {
    throw integrityError(op);
  }
  return new IdentityKeys(
    SigningKeyPair.fromSeed(SecretBytes.copyOf(sign)),
    EncryptionKeyPair.fromPrivateKey(SecretBytes.copyOf(enc)),
  );
}

/**
 * Encodes a keyring, for sealing under a password. Format 2: `{v: 2, sign, enc, prev: [{sign,
 * enc}]}`; the result is secret.
 */
export function encodeKeyring(keyring: Keyring): SecretBytes {
  const previous = keyring.previous.slice(-maxPreviousIdentities);
  return new SecretBytes(
    encodeCanonical({
      v: keyringFormatVersion,
      ...privatePair(keyring.current),
      prev: previous.map(privatePair),
    }),
  );
}

/**
 * Decodes private keys after unsealing: a keyring (format 2) or a single identity (format 1,
 * with no previous identities). @throws FsError `integrity` when malformed.
 */
export function decodeKeyring(secret: SecretBytes): Keyring {
  const op = 'identity.decode-keyring';
  const bytes = secret.expose();
  const head = decodeCanonical(bytes, op);
  if (isMap(head) && head['v'] === identityFormatVersion) {
    return { current: decodePrivateIdentity(secret), previous: [] };
  }
  const map = decodeMap(bytes, ['v', 'sign', 'enc', 'prev'], op, 8192);
  if (field.uint(map, 'v', op) !== keyringFormatVersion) throw integrityError(op);
  const prev = map['prev'];
  if (!Array.isArray(prev) || prev.length > maxPreviousIdentities) throw integrityError(op);
  return {
    current: pairOf({ sign: map['sign'], enc: map['enc'] }, op),
    previous: prev.map((item) => pairOf(item, op)),
  };
}

// Crockford's base32: no I, L, O or U, so a fingerprint read aloud or retyped is unambiguous.
const alphabet = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

function fingerprintHash(signingKey: Uint8Array): Uint8Array {
  const digest = createHash('sha256')
    .update(concatBytes(labelBytes(labels.fingerprint), signingKey))
    .digest();
  return new Uint8Array(digest.subarray(0, fingerprintBytes));
}

function base32(bytes: Uint8Array): string {
  let bits = 0;
  let value = 0;
  let out = '';
  for (const byte of bytes) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += alphabet[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
    value &= (1 << bits) - 1;
  }
  if (bits > 0) out += alphabet[(value << (5 - bits)) & 31];
  return out;
}

/**
 * The human fingerprint of a signing key: 160 bits of a labelled SHA-256 in Crockford base32,
 * in 8 groups of 4 (`7GQ2-…`). People compare these; programs compare with
 * {@link fingerprintMatches}.
 */
export function fingerprint(signingKey: Uint8Array): string {
  return base32(fingerprintHash(signingKey)).match(/.{4}/g)!.join('-');
}

/**
 * Normalises a fingerprint typed by a person: case-insensitive, dashes and spaces optional,
 * and the look-alikes O→0, I/L→1 that Crockford's alphabet allows.
 * @throws FsError `invalid` when it is not a fingerprint.
 */
export function parseFingerprint(text: string): string {
  const cleaned = text.toUpperCase().replace(/[\s-]/g, '').replace(/O/g, '0').replace(/[IL]/g, '1');
  if (cleaned.length !== 32 || [...cleaned].some((c) => !alphabet.includes(c))) {
    throw new FsError('invalid', 'not a PeerVault fingerprint (32 characters, 8 groups of 4)', {
      op: 'fingerprint.parse',
    });
  }
  return cleaned.match(/.{4}/g)!.join('-');
}

/** True when `signingKey` has the fingerprint `expected` (as typed; compared in constant time). */
export function fingerprintMatches(signingKey: Uint8Array, expected: string): boolean {
  const utf = new TextEncoder();
  return constantTimeEqual(
    utf.encode(fingerprint(signingKey)),
    utf.encode(parseFingerprint(expected)),
  );
}

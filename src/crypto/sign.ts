/**
 * Signed messages: every structure that one party signs and another verifies.
 *
 * A signature covers the bytes
 *     "peervault/v1/signature" 0x00 || type "/v" version 0x00 || body
 * where body is the canonical CBOR encoding of the message. The type label (one of
 * {@link signedTypes}, with its format version) means a signature made for one kind of message
 * can never verify as another; the canonical encoding, re-checked on open, means a message that
 * was re-encoded or had its fields reordered never verifies.
 *
 * Signed envelope, format 1 (canonical CBOR map; see docs/formats.md):
 *   { v: 1, type: text, tv: uint, signer: bytes(32), body: bytes, sig: bytes(64) }
 */
import { integrityError } from '../interface/errors.js';
import { concatBytes, constantTimeEqual } from './bytes.js';
import { type CborValue, decodeCanonical, decodeMap, encodeCanonical, field } from './canonical.js';
import { keyBytes, signatureBytes, type SigningKeyPair, verifyRaw } from './keys.js';
import { labelBytes, labels, type SignedType, signedTypes } from './labels.js';

/** The envelope format version. */
export const envelopeVersion = 1;

/** The current format version of each signed type's body. Bump when a body's shape changes. */
export const signedTypeVersions: Readonly<Record<SignedType, number>> = {
  'key-log-entry': 1,
  'peer-record': 1,
  'dir-entry': 2,
  capability: 1,
  request: 1,
  test: 1,
  'peer-list': 1,
  'block-release': 1,
  'entry-acl': 1,
  group: 1,
  'key-proof': 1,
  'audit-checkpoint': 1,
};

const envelopeKeys = ['v', 'type', 'tv', 'signer', 'body', 'sig'];
const signatureLabel = labelBytes(labels.signature);

/** What a verified message says and who signed it. */
export interface VerifiedMessage {
  type: SignedType;
  /** The signer's raw Ed25519 public key (already checked against the trusted set). */
  signer: Uint8Array;
  /** The decoded body. Its shape is checked by the caller's codec (wire/). */
  body: CborValue;
}

function toBeSigned(type: SignedType, version: number, body: Uint8Array): Uint8Array {
  return concatBytes(signatureLabel, labelBytes(`${type}/v${version}`), body);
}

/** Signs `body` as a message of `type` and returns the envelope bytes. */
export function signMessage(key: SigningKeyPair, type: SignedType, body: CborValue): Uint8Array {
  const version = signedTypeVersions[type];
  const bodyBytes = encodeCanonical(body);
  const sig = key.signRaw(toBeSigned(type, version, bodyBytes));
  return encodeCanonical({
    v: envelopeVersion,
    type,
    tv: version,
    signer: key.publicKey,
    body: bodyBytes,
    sig,
  });
}

/**
 * Verifies an envelope of the expected `type` signed by one of `trustedSigners`.
 *
 * Callers decide whom to trust (the owner, a writer named in the ACL, the directory's pinned
 * key); an envelope signed by anyone else is refused even if its signature is valid.
 *
 * @throws FsError `integrity` for a malformed or non-canonical envelope or body, a different
 *   type or version, an untrusted signer or a bad signature. One error for all of them.
 */
export function verifyMessage(
  envelope: Uint8Array,
  type: SignedType,
  trustedSigners: readonly Uint8Array[],
): VerifiedMessage {
  const op = `verify.${type}`;
  const map = decodeMap(envelope, envelopeKeys, op);
  if (field.uint(map, 'v', op) !== envelopeVersion) throw integrityError(op);
  const claimedType = field.text(map, 'type', op);
  if (claimedType !== type || !(signedTypes as readonly string[]).includes(claimedType)) {
    throw integrityError(op);
  }
  const version = field.uint(map, 'tv', op);
  if (version !== signedTypeVersions[type]) throw integrityError(op);
  const signer = field.bytes(map, 'signer', op, keyBytes);
  const bodyBytes = field.bytes(map, 'body', op);
  const sig = field.bytes(map, 'sig', op, signatureBytes);
  if (!trustedSigners.some((trusted) => constantTimeEqual(trusted, signer))) {
    throw integrityError(op);
  }
  if (!verifyRaw(signer, toBeSigned(type, version, bodyBytes), sig)) throw integrityError(op);
  // Decoded only after the signature checks, and re-checked for canonical form.
  return { type, signer, body: decodeCanonical(bodyBytes, op) };
}

/**
 * Reads the claimed signer of an envelope without verifying anything, so a caller can look up
 * whether that key is trusted (for example in a key log) before calling {@link verifyMessage}.
 * @throws FsError `integrity` when the envelope is malformed.
 */
export function claimedSigner(envelope: Uint8Array, type: SignedType): Uint8Array {
  const op = `verify.${type}`;
  const map = decodeMap(envelope, envelopeKeys, op);
  return field.bytes(map, 'signer', op, keyBytes);
}

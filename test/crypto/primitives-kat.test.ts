/**
 * Known-answer tests of the primitives under the crypto core, against published vectors:
 * AES-256-GCM (GCM spec), HKDF-SHA256 (RFC 5869), Ed25519 (RFC 8032), X25519 (RFC 7748),
 * Argon2id (RFC 9106). These pin the exact algorithms and parameters our modules use.
 */
import argon2 from 'argon2';
import { describe, expect, it } from 'vitest';
import { aeadOpen, aeadSeal } from '../../src/crypto/aead.js';
import { toHex } from '../../src/crypto/bytes.js';
import { hkdfSha256 } from '../../src/crypto/kdf.js';
import { EncryptionKeyPair, SigningKeyPair, verifyRaw } from '../../src/crypto/keys.js';
import { SecretBytes } from '../../src/crypto/secret.js';
import { expectKind } from '../helpers/expect-error.js';
import { hex, loadVectors } from '../helpers/vectors.js';

describe('AES-256-GCM (McGrew & Viega test cases 13-16)', () => {
  const { vectors } = loadVectors<{
    name: string;
    key: string;
    iv: string;
    pt: string;
    aad: string;
    ct: string;
    tag: string;
  }>('aes256gcm');
  it.each(vectors)('$name seals and opens to the published bytes', (v) => {
    const sealed = aeadSeal(hex(v.key), hex(v.iv), hex(v.pt), hex(v.aad));
    expect(toHex(sealed)).toBe(v.ct + v.tag);
    expect(toHex(aeadOpen(hex(v.key), hex(v.iv), sealed, hex(v.aad), 'kat'))).toBe(v.pt);
  });
  it.each(vectors)('$name refuses a flipped tag bit', (v) => {
    const sealed = hex(v.ct + v.tag);
    sealed[sealed.length - 1]! ^= 1;
    expectKind('integrity', () => aeadOpen(hex(v.key), hex(v.iv), sealed, hex(v.aad), 'kat'));
  });
});

describe('HKDF-SHA256 (RFC 5869 Appendix A)', () => {
  const { vectors } = loadVectors<{
    name: string;
    ikm: string;
    salt: string;
    info: string;
    L: number;
    okm: string;
  }>('hkdf');
  it.each(vectors)('$name', (v) => {
    expect(toHex(hkdfSha256(hex(v.ikm), hex(v.salt), hex(v.info), v.L))).toBe(v.okm);
  });
});

describe('Ed25519 (RFC 8032 section 7.1)', () => {
  const { vectors } = loadVectors<{
    name: string;
    secret_key: string;
    public_key: string;
    message: string;
    signature: string;
  }>('ed25519');
  it.each(vectors)('$name: public key, signature and verification', (v) => {
    const pair = SigningKeyPair.fromSeed(new SecretBytes(hex(v.secret_key)));
    expect(toHex(pair.publicKey)).toBe(v.public_key);
    expect(toHex(pair.signRaw(hex(v.message)))).toBe(v.signature);
    expect(verifyRaw(hex(v.public_key), hex(v.message), hex(v.signature))).toBe(true);
  });
  it.each(vectors)('$name: a changed message or signature does not verify', (v) => {
    const sig = hex(v.signature);
    sig[0]! ^= 1;
    expect(verifyRaw(hex(v.public_key), hex(v.message), sig)).toBe(false);
    expect(
      verifyRaw(hex(v.public_key), Uint8Array.of(...hex(v.message), 0), hex(v.signature)),
    ).toBe(false);
  });
});

describe('X25519 (RFC 7748)', () => {
  const file = loadVectors<{
    alice_private: string;
    alice_public: string;
    bob_private: string;
    bob_public: string;
    shared: string;
  }>('x25519');
  it.each(file.vectors)(
    'section 6.1: both sides derive the published public keys and secret',
    (v) => {
      const alice = EncryptionKeyPair.fromPrivateKey(new SecretBytes(hex(v.alice_private)));
      const bob = EncryptionKeyPair.fromPrivateKey(new SecretBytes(hex(v.bob_private)));
      expect(toHex(alice.publicKey)).toBe(v.alice_public);
      expect(toHex(bob.publicKey)).toBe(v.bob_public);
      expect(toHex(alice.agree(bob.publicKey).expose())).toBe(v.shared);
      expect(toHex(bob.agree(alice.publicKey).expose())).toBe(v.shared);
    },
  );
  const scalarMult = file['scalar_mult'] as { scalar: string; u: string; output: string }[];
  it.each(scalarMult)('section 5.2 scalar multiplication %#', (v) => {
    const pair = EncryptionKeyPair.fromPrivateKey(new SecretBytes(hex(v.scalar)));
    expect(toHex(pair.agree(hex(v.u)).expose())).toBe(v.output);
  });
  it('refuses a small-order public key (the all-zero shared secret)', () => {
    const pair = EncryptionKeyPair.generate();
    expectKind('integrity', () => pair.agree(new Uint8Array(32)));
  });
});

describe('Argon2id (RFC 9106 section 5.3)', () => {
  const { vectors } = loadVectors<{
    password: string;
    salt: string;
    secret: string;
    associated_data: string;
    memory_kib: number;
    passes: number;
    parallelism: number;
    tag_length: number;
    tag: string;
    version: number;
  }>('argon2id');
  it.each(vectors)('the argon2 binding computes the published tag', async (v) => {
    const tag = await argon2.hash(Buffer.from(hex(v.password)), {
      raw: true,
      type: argon2.argon2id,
      version: v.version,
      salt: Buffer.from(hex(v.salt)),
      secret: Buffer.from(hex(v.secret)),
      associatedData: Buffer.from(hex(v.associated_data)),
      memoryCost: v.memory_kib,
      timeCost: v.passes,
      parallelism: v.parallelism,
      hashLength: v.tag_length,
    });
    expect(tag.toString('hex')).toBe(v.tag);
  });
});

/**
 * Key wrapping with HPKE: RFC 9180 known answers for the exact suite we use, then the
 * attacker's side (wrong key, purpose, context; tampering; malformed blobs).
 */
import fc from 'fast-check';
import { Aes128Gcm, CipherSuite, DhkemX25519HkdfSha256, HkdfSha256 } from '@hpke/core';
import { describe, expect, it } from 'vitest';
import { toHex } from '../../src/crypto/bytes.js';
import { encodeCanonical } from '../../src/crypto/canonical.js';
import { EncryptionKeyPair } from '../../src/crypto/keys.js';
import { SecretBytes } from '../../src/crypto/secret.js';
import { hpkeSuite, keyIdOf, unwrapKey, wrapKey, wrappedKeyId } from '../../src/crypto/wrap.js';
import { expectKindAsync, flipByte } from '../helpers/expect-error.js';
import { hex, loadVectors } from '../helpers/vectors.js';

interface HpkeVector {
  name: string;
  aead_id: number;
  info: string;
  ikmE: string;
  ikmR: string;
  skRm: string;
  pkRm: string;
  enc: string;
  encryptions: { aad: string; pt: string; ct: string }[];
}

const aes128Suite = new CipherSuite({
  kem: new DhkemX25519HkdfSha256(),
  kdf: new HkdfSha256(),
  aead: new Aes128Gcm(),
});

describe('HPKE suite 1 against RFC 9180 / CFRG vectors', () => {
  const { vectors } = loadVectors<HpkeVector>('hpke');
  // Our suite is X25519 / HKDF-SHA256 / AES-256-GCM (aead_id 2): that vector exercises our
  // exact suite object. The AES-128-GCM vector (RFC 9180 A.1.1) checks the KEM and KDF alone.
  const ours = vectors.filter((v) => v.aead_id === 2);
  it('includes a vector for our exact suite', () => {
    expect(ours.length).toBeGreaterThan(0);
  });

  it.each(ours)('$name: derives the recipient key pair', async (v) => {
    const pair = await hpkeSuite.kem.deriveKeyPair(hex(v.ikmR));
    expect(toHex(new Uint8Array(await hpkeSuite.kem.serializePrivateKey(pair.privateKey)))).toBe(
      v.skRm,
    );
    expect(toHex(new Uint8Array(await hpkeSuite.kem.serializePublicKey(pair.publicKey)))).toBe(
      v.pkRm,
    );
  });

  it.each(ours)('$name: the sender produces the published enc and ciphertexts', async (v) => {
    const recipientPublicKey = await hpkeSuite.kem.deserializePublicKey(hex(v.pkRm));
    const sender = await hpkeSuite.createSenderContext({
      recipientPublicKey,
      info: hex(v.info),
      ekm: hex(v.ikmE),
    });
    expect(toHex(new Uint8Array(sender.enc))).toBe(v.enc);
    for (const e of v.encryptions) {
      expect(toHex(new Uint8Array(await sender.seal(hex(e.pt), hex(e.aad))))).toBe(e.ct);
    }
  });

  it.each(vectors)('$name: the recipient opens the published ciphertexts', async (v) => {
    expect([1, 2]).toContain(v.aead_id);
    const suite = v.aead_id === 2 ? hpkeSuite : aes128Suite;
    const recipientKey = await suite.kem.deserializePrivateKey(hex(v.skRm));
    const recipient = await suite.createRecipientContext({
      recipientKey,
      enc: hex(v.enc),
      info: hex(v.info),
    });
    for (const e of v.encryptions) {
      expect(toHex(new Uint8Array(await recipient.open(hex(e.ct), hex(e.aad))))).toBe(e.pt);
    }
  });
});

describe('wrapKey / unwrapKey', () => {
  const alice = EncryptionKeyPair.generate();
  const mallory = EncryptionKeyPair.generate();
  const context = new TextEncoder().encode('file:abc|user:alice');
  const fileKey = () => SecretBytes.copyOf(new Uint8Array(32).fill(7));

  it('round-trips any secret to the intended recipient', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uint8Array({ minLength: 0, maxLength: 256 }),
        fc.uint8Array({ maxLength: 64 }),
        async (secret, ctx) => {
          const wrapped = await wrapKey(
            alice.publicKey,
            SecretBytes.copyOf(secret),
            'file-key',
            ctx,
          );
          const opened = await unwrapKey(alice, wrapped, 'file-key', ctx);
          expect(toHex(opened.expose())).toBe(toHex(secret));
        },
      ),
      { numRuns: 25 },
    );
  });

  it('names the recipient key, so a rotated user knows which key to use', async () => {
    const wrapped = await wrapKey(alice.publicKey, fileKey(), 'file-key', context);
    expect(toHex(wrappedKeyId(wrapped))).toBe(toHex(keyIdOf(alice.publicKey)));
  });

  it('refuses another recipient, even one that rewrites the key id to its own', async () => {
    const wrapped = await wrapKey(alice.publicKey, fileKey(), 'file-key', context);
    await expectKindAsync('integrity', unwrapKey(mallory, wrapped, 'file-key', context));
    const { decode } = await import('cborg');
    const fields = decode(wrapped) as Record<string, Uint8Array | number>;
    const relabelled = encodeCanonical({ ...fields, kid: keyIdOf(mallory.publicKey) });
    await expectKindAsync('integrity', unwrapKey(mallory, relabelled, 'file-key', context));
  });

  it('refuses another purpose or context (a key cannot be moved to another file or use)', async () => {
    const wrapped = await wrapKey(alice.publicKey, fileKey(), 'file-key', context);
    await expectKindAsync('integrity', unwrapKey(alice, wrapped, 'name-key', context));
    await expectKindAsync(
      'integrity',
      unwrapKey(alice, wrapped, 'file-key', new TextEncoder().encode('file:xyz|user:alice')),
    );
  });

  it('refuses any single-byte change of the wrapped blob', async () => {
    const wrapped = await wrapKey(alice.publicKey, fileKey(), 'file-key', context);
    await fc.assert(
      fc.asyncProperty(
        fc.nat({ max: wrapped.length - 1 }),
        fc.integer({ min: 1, max: 255 }),
        async (index, delta) => {
          await expectKindAsync(
            'integrity',
            unwrapKey(alice, flipByte(wrapped, index, delta), 'file-key', context),
          );
        },
      ),
      { numRuns: 200 },
    );
  });

  it('rejects garbage, truncations and an unknown suite with the one integrity error', async () => {
    const wrapped = await wrapKey(alice.publicKey, fileKey(), 'file-key', context);
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 300 }), async (junk) => {
        await expectKindAsync('integrity', unwrapKey(alice, junk, 'file-key', context));
      }),
      { numRuns: 200 },
    );
    for (let cut = 0; cut < wrapped.length; cut += 7) {
      await expectKindAsync(
        'integrity',
        unwrapKey(alice, wrapped.subarray(0, cut), 'file-key', context),
      );
    }
    const { decode } = await import('cborg');
    const fields = decode(wrapped) as Record<string, Uint8Array | number>;
    await expectKindAsync(
      'integrity',
      unwrapKey(alice, encodeCanonical({ ...fields, suite: 2 }), 'file-key', context),
    );
  });

  it('refuses to wrap to a public key that is not a valid X25519 key length', async () => {
    await expectKindAsync('integrity', wrapKey(new Uint8Array(31), fileKey(), 'file-key', context));
  });
});

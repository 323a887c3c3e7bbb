/**
 * Identities: encodings round-trip, malformed encodings are refused, fingerprints are stable,
 * readable and tolerant of how people retype them, and private keys never print.
 */
import { inspect } from 'node:util';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fromHex, toHex } from '../../src/crypto/bytes.js';
import {
  decodePrivateIdentity,
  decodePublicIdentity,
  encodePrivateIdentity,
  encodePublicIdentity,
  fingerprint,
  fingerprintMatches,
  IdentityKeys,
  parseFingerprint,
} from '../../src/crypto/identity.js';
import { SecretBytes } from '../../src/crypto/secret.js';
import { expectKind, flipByte } from '../helpers/expect-error.js';

describe('identity encodings', () => {
  it('round-trips the public identity', () => {
    const keys = IdentityKeys.generate();
    const decoded = decodePublicIdentity(encodePublicIdentity(keys.public));
    expect(toHex(decoded.signingKey)).toBe(toHex(keys.signing.publicKey));
    expect(toHex(decoded.encryptionKey)).toBe(toHex(keys.encryption.publicKey));
  });

  it('round-trips the private identity, re-deriving the same public keys', () => {
    const keys = IdentityKeys.generate();
    const restored = decodePrivateIdentity(
      SecretBytes.copyOf(encodePrivateIdentity(keys).expose()),
    );
    expect(toHex(restored.signing.publicKey)).toBe(toHex(keys.signing.publicKey));
    expect(toHex(restored.encryption.publicKey)).toBe(toHex(keys.encryption.publicKey));
    expect(toHex(restored.signing.signRaw(Uint8Array.of(1)))).toBe(
      toHex(keys.signing.signRaw(Uint8Array.of(1))),
    );
  });

  it('refuses any single-byte change of a public identity, or garbage', () => {
    const encoded = encodePublicIdentity(IdentityKeys.generate().public);
    fc.assert(
      fc.property(
        fc.nat({ max: encoded.length - 1 }),
        fc.integer({ min: 1, max: 255 }),
        (index, delta) => {
          const changed = flipByte(encoded, index, delta);
          try {
            // A change inside a key field yields another well-formed identity (that is not an
            // attack: the fingerprint changes); anything else must be refused.
            const decoded = decodePublicIdentity(changed);
            expect(toHex(encodePublicIdentity(decoded))).toBe(toHex(changed));
          } catch (err) {
            expect((err as { kind?: string }).kind).toBe('integrity');
          }
        },
      ),
      { numRuns: 300 },
    );
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 120 }), (junk) => {
        expectKind('integrity', () => decodePublicIdentity(junk));
      }),
    );
  });

  it('never prints private keys: inspect and JSON show only public parts', () => {
    const keys = IdentityKeys.generate();
    const seedHex = toHex(keys.signing.seed().expose());
    const encHex = toHex(keys.encryption.privateKey().expose());
    const shown = [
      inspect(keys, { depth: 10, showHidden: true }),
      JSON.stringify(keys),
      String(keys.signing.seed()),
    ].join('\n');
    for (const secret of [
      seedHex,
      encHex,
      Buffer.from(fromHex(seedHex)).toString('base64'),
      Buffer.from(fromHex(seedHex)).toString('base64url'),
    ]) {
      expect(shown).not.toContain(secret);
    }
  });
});

describe('fingerprints', () => {
  // Known answer for the RFC 8032 TEST 1 public key, computed independently of this code (in
  // Python: SHA-256 of label || 0x00 || key, first 20 bytes, Crockford base32), so a change in
  // the label, the hash, the truncation or the alphabet shows up as a failure.
  const rfcKey = fromHex('d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a');

  it('is 8 groups of 4 Crockford base32 characters, stable for a key', () => {
    const fp = fingerprint(rfcKey);
    expect(fp).toMatch(/^([0-9A-HJKMNP-TV-Z]{4}-){7}[0-9A-HJKMNP-TV-Z]{4}$/);
    expect(fp).toBe(fingerprint(Uint8Array.from(rfcKey)));
    expect(fp).toBe('WTBK-C5BR-1ATE-DAXG-50MK-KNH4-DQVN-31E3');
  });

  it('differs for different keys', () => {
    expect(fingerprint(IdentityKeys.generate().signing.publicKey)).not.toBe(fingerprint(rfcKey));
  });

  it('matches however a person retypes it: case, dashes, spaces, O for 0, I or L for 1', () => {
    const fp = fingerprint(rfcKey);
    const retyped = fp.toLowerCase().replace(/-/g, ' ').replace(/0/g, 'o').replace(/1/g, 'l');
    expect(fingerprintMatches(rfcKey, retyped)).toBe(true);
    expect(parseFingerprint(retyped)).toBe(fp);
  });

  it('does not match another key or a one-character change', () => {
    const fp = fingerprint(rfcKey);
    const other = fp.startsWith('A') ? 'B' + fp.slice(1) : 'A' + fp.slice(1);
    expect(fingerprintMatches(rfcKey, other)).toBe(false);
    expect(fingerprintMatches(IdentityKeys.generate().signing.publicKey, fp)).toBe(false);
  });

  it('rejects text that is not a fingerprint with an invalid error', () => {
    for (const bad of [
      '',
      'abcd',
      '9AHA-X5A1-GJKR-XK2A-HNFR-4C3B-7BRK-ZH8',
      '9AHA-X5A1-GJKR-XK2A-HNFR-4C3B-7BRK-ZH8U',
    ]) {
      expectKind('invalid', () => parseFingerprint(bad));
    }
  });
});

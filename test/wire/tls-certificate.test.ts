/**
 * Self-signed Ed25519 certificates: the DER writer writes minimal, canonical encodings; the
 * certificate is byte-for-byte what an independent implementation produces, OpenSSL (through
 * node and through the `openssl` binary) reads it as intended, and the checks a client applies
 * to a presented certificate refuse every forgery we can assemble: another key's signature,
 * tampered bytes, expired or not-yet-valid dates, another key type, garbage.
 */
import { execFileSync } from 'node:child_process';
import { createPrivateKey, createPublicKey, X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { fromHex, toHex } from '../../src/crypto/bytes.js';
import { SigningKeyPair } from '../../src/crypto/keys.js';
import { SecretBytes } from '../../src/crypto/secret.js';
import {
  assembleCertificate,
  createSelfSignedCertificate,
  der,
  publicKeyOfCertificate,
  tbsCertificate,
  toPem,
  verifySelfSignedCertificate,
} from '../../src/wire/tls-certificate.js';
import { expectKind, flipByte } from '../helpers/expect-error.js';

// RFC 8032 section 7.1, test 1: a fixed key makes the whole certificate deterministic.
const rfcSeed = '9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60';
const rfcPublic = 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a';
const fixedKey = () => SigningKeyPair.fromSeed(new SecretBytes(fromHex(rfcSeed)));
const fixedSerial = fromHex('0102030405060708090a0b0c0d0e0f10');

/**
 * Known answers, computed independently with Python's `cryptography` 48.0 (CertificateBuilder
 * with the same key, serial, dates, name and extensions in the same order; Ed25519 signatures
 * are deterministic, so the bytes must be identical).
 */
const knownCertificate2025 =
  '308201253081d8a00302010202100102030405060708090a0b0c0d0e0f10300506032b657030193117301506035504' +
  '030c0e706565727661756c742074657374301e170d3235303130313030303030305a170d32353031333130303030' +
  '30305a30193117301506035504030c0e706565727661756c742074657374302a300506032b6570032100d75a9801' +
  '82b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511aa3363034300c0603551d130101ff04023000' +
  '300e0603551d0f0101ff04040302078030140603551d11040d300b8209706565727661756c74300506032b657003' +
  '4100e8dc29f378c1d7398a078ff4e1b6a4aeddad03d13da702d7900b609646cf270c609d48b781998d721904fc84' +
  'a4ffca8faa2fee66c3d14953612a82878fbadd0f';
/** Same, valid from 2049-12-01 to 2050-01-01: UTCTime then GeneralizedTime. */
const knownCertificate2049 =
  '308201273081daa00302010202100102030405060708090a0b0c0d0e0f10300506032b657030193117301506035504' +
  '030c0e706565727661756c7420746573743020170d3439313230313030303030305a180f32303530303130313030' +
  '303030305a30193117301506035504030c0e706565727661756c742074657374302a300506032b6570032100d75a' +
  '980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511aa3363034300c0603551d130101ff0402' +
  '3000300e0603551d0f0101ff04040302078030140603551d11040d300b8209706565727661756c74300506032b65' +
  '700341001542fc10bf4fe62630f463f105b84299beecb3717ed03ba9da2db27a9c809163d520722eaa5ff828aa30' +
  '5c698fe87d8abc95d61a6bf5668c3c62c18e5290cb0f';
/** The same key as PKCS#8 PEM, also from Python's `cryptography`. */
const knownPrivateKeyPem =
  '-----BEGIN PRIVATE KEY-----\n' +
  'MC4CAQAwBQYDK2VwBCIEIJ1hsZ3v/VpguoRK9JLsLMREScVpezJpGXA7rAMcrn9g\n' +
  '-----END PRIVATE KEY-----\n';

const jan2025 = new Date('2025-01-01T00:00:00Z');

function fixedCertificate() {
  return createSelfSignedCertificate(fixedKey(), {
    commonName: 'peervault test',
    notBefore: jan2025,
    validDays: 30,
    serial: fixedSerial,
  });
}

const hex = (bytes: Uint8Array) => toHex(bytes);

describe('the DER writer', () => {
  it('writes lengths in short form below 128 and minimal long form above', () => {
    expect(hex(der.octetString(new Uint8Array(127))).slice(0, 4)).toBe('047f');
    expect(hex(der.octetString(new Uint8Array(128))).slice(0, 6)).toBe('048180');
    expect(hex(der.octetString(new Uint8Array(255))).slice(0, 6)).toBe('0481ff');
    expect(hex(der.octetString(new Uint8Array(256))).slice(0, 8)).toBe('04820100');
    expect(hex(der.octetString(new Uint8Array(65536))).slice(0, 10)).toBe('0483010000');
  });

  it('writes positive integers minimally, with a 0x00 only before a set high bit', () => {
    expect(hex(der.integer(0))).toBe('020100');
    expect(hex(der.integer(2))).toBe('020102');
    expect(hex(der.integer(127))).toBe('02017f');
    expect(hex(der.integer(128))).toBe('02020080');
    expect(hex(der.integer(256))).toBe('02020100');
    expect(hex(der.integer(fromHex('000000')))).toBe('020100');
    expect(hex(der.integer(fromHex('00007f01')))).toBe('02027f01');
    expect(hex(der.integer(fromHex('0080')))).toBe('02020080');
    expect(hex(der.integer(fromHex('ff')))).toBe('020200ff');
    expect(() => der.integer(-1)).toThrow(RangeError);
    expect(() => der.integer(0.5)).toThrow(RangeError);
  });

  it('writes object identifiers in base 128', () => {
    expect(hex(der.oid('1.3.101.112'))).toBe('06032b6570');
    expect(hex(der.oid('2.5.4.3'))).toBe('0603550403');
    expect(hex(der.oid('2.5.29.19'))).toBe('0603551d13');
    expect(hex(der.oid('1.2.840.113549.1.1.11'))).toBe('06092a864886f70d01010b');
    expect(hex(der.oid('2.999.3'))).toBe('0603883703'); // X.690 §8.19.5's example
    for (const bad of ['', '1', '3.1', '1.40', '1.2.', '1..2', '1.02', 'a.b']) {
      expect(() => der.oid(bad), bad).toThrow(RangeError);
    }
  });

  it('writes the other primitives', () => {
    expect(hex(der.boolean(true))).toBe('0101ff');
    expect(hex(der.boolean(false))).toBe('010100');
    expect(hex(der.bitString(fromHex('80'), 7))).toBe('03020780');
    expect(hex(der.bitString(fromHex('abcd')))).toBe('030300abcd');
    expect(() => der.bitString(fromHex('80'), 8)).toThrow(RangeError);
    expect(hex(der.utf8String('é'))).toBe('0c02c3a9');
    expect(hex(der.ia5String('peervault', 0x82))).toBe('8209706565727661756c74');
    expect(() => der.ia5String('é')).toThrow(RangeError);
    expect(hex(der.sequence())).toBe('3000');
    expect(hex(der.explicit(0, der.integer(2)))).toBe('a003020102');
    expect(hex(der.explicit(3, der.sequence()))).toBe('a3023000');
    // SET OF is sorted by encoding, whatever order it is given in.
    expect(hex(der.setOf(der.integer(2), der.integer(1)))).toBe('3106020101020102');
  });

  it('writes UTCTime through 2049 and GeneralizedTime from 2050, in whole seconds', () => {
    const time = (iso: string) => Buffer.from(der.time(new Date(iso))).toString('latin1');
    expect(time('2049-12-31T23:59:59.999Z')).toBe('\x17\x0d491231235959Z');
    expect(time('2050-01-01T00:00:00Z')).toBe('\x18\x0f20500101000000Z');
    expect(time('1950-01-01T00:00:00Z')).toBe('\x17\x0d500101000000Z');
    expect(time('1949-12-31T23:59:59Z')).toBe('\x18\x0f19491231235959Z');
    expect(time('2000-02-29T12:34:56Z')).toBe('\x17\x0d000229123456Z');
    expect(() => der.time(new Date(Number.NaN))).toThrow(RangeError);
    expect(() => der.time(new Date('+010000-01-01T00:00:00Z'))).toThrow(RangeError);
  });
});

describe('createSelfSignedCertificate', () => {
  it('is byte-for-byte the certificate an independent implementation makes', () => {
    const identity = fixedCertificate();
    expect(hex(new X509Certificate(identity.certificatePem).raw)).toBe(knownCertificate2025);
    expect(identity.privateKeyPem).toBe(knownPrivateKeyPem);
    const across2050 = createSelfSignedCertificate(fixedKey(), {
      commonName: 'peervault test',
      notBefore: new Date('2049-12-01T00:00:00Z'),
      validDays: 31,
      serial: fixedSerial,
    });
    expect(hex(new X509Certificate(across2050.certificatePem).raw)).toBe(knownCertificate2049);
  });

  it('parses with node: the identity key, a valid self-signature, the dates and the name', () => {
    const key = SigningKeyPair.generate();
    const identity = createSelfSignedCertificate(key, {
      commonName: 'peervault directory',
      notBefore: new Date('2030-06-15T10:20:30.456Z'),
      validDays: 10,
    });
    const cert = new X509Certificate(identity.certificatePem);
    expect(hex(publicKeyOfCertificate(identity.certificatePem))).toBe(hex(key.publicKey));
    expect(cert.publicKey.asymmetricKeyType).toBe('ed25519');
    expect(cert.verify(cert.publicKey)).toBe(true);
    expect(cert.verify(createPublicKey(createPrivateKey(identity.privateKeyPem)))).toBe(true);
    expect(cert.checkPrivateKey(createPrivateKey(identity.privateKeyPem))).toBe(true);
    expect(cert.subject).toBe('CN=peervault directory');
    expect(cert.issuer).toBe('CN=peervault directory');
    expect(cert.ca).toBe(false);
    expect(cert.subjectAltName).toBe('DNS:peervault');
    expect(new Date(cert.validFrom).toISOString()).toBe('2030-06-15T10:20:30.000Z');
    expect(new Date(cert.validTo).toISOString()).toBe('2030-06-25T10:20:30.000Z');
  });

  it('is accepted by the openssl binary, which shows an Ed25519 v3 leaf', () => {
    const text = execFileSync('openssl', ['x509', '-noout', '-text'], {
      input: fixedCertificate().certificatePem,
      encoding: 'utf8',
    });
    expect(text).toContain('Version: 3 (0x2)');
    expect(text).toContain('Signature Algorithm: ED25519');
    expect(text).toContain('Public Key Algorithm: ED25519');
    expect(text).toContain('01:02:03:04:05:06:07:08:09:0a:0b:0c:0d:0e:0f:10');
    expect(text).toContain('Not Before: Jan  1 00:00:00 2025 GMT');
    expect(text).toContain('Not After : Jan 31 00:00:00 2025 GMT');
    expect(text).toContain('Subject: CN = peervault test');
    expect(text).toMatch(/Basic Constraints: critical\s+CA:FALSE/);
    expect(text).toMatch(/Key Usage: critical\s+Digital Signature\n/);
    expect(text).toContain('DNS:peervault');
    expect(text).toContain(rfcPublic.slice(0, 2) + ':' + rfcPublic.slice(2, 4));
  });

  describe('with files for openssl verify', () => {
    const dir = mkdtempSync(join(tmpdir(), 'peervault-cert-'));
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    it('openssl verify -x509_strict checks the self-signature within the validity period', () => {
      const file = join(dir, 'cert.pem');
      writeFileSync(file, fixedCertificate().certificatePem);
      const verify = (at: Date) =>
        execFileSync(
          'openssl',
          ['verify', '-x509_strict', '-attime', String(at.getTime() / 1000), '-CAfile', file, file],
          { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] },
        );
      expect(verify(new Date('2025-01-15T00:00:00Z'))).toContain('OK');
      expect(() => verify(new Date('2025-02-15T00:00:00Z'))).toThrow(/expired/);
    });
  });

  it('keeps the private key out of logs and JSON', () => {
    const identity = createSelfSignedCertificate(SigningKeyPair.generate(), { commonName: 'x' });
    const body = identity.privateKeyPem.split('\n')[1]!;
    expect(body.length).toBeGreaterThan(20);
    expect(inspect(identity)).not.toContain(body);
    expect(JSON.stringify(identity)).not.toContain(body);
    expect(JSON.stringify({ identity })).not.toContain('PRIVATE KEY');
    expect(JSON.stringify(identity)).toContain('BEGIN CERTIFICATE');
  });

  it('defaults to a random positive 16-byte serial, a backdated start and a year of validity', () => {
    const key = SigningKeyPair.generate();
    const before = Date.now();
    const a = new X509Certificate(
      createSelfSignedCertificate(key, { commonName: 'a' }).certificatePem,
    );
    const b = new X509Certificate(
      createSelfSignedCertificate(key, { commonName: 'a' }).certificatePem,
    );
    expect(a.serialNumber).toMatch(/^[0-7][0-9A-F]{31}$/);
    expect(a.serialNumber).not.toBe(b.serialNumber);
    const from = Date.parse(a.validFrom);
    expect(from).toBeGreaterThan(before - 60 * 60 * 1000 - 2000);
    expect(from).toBeLessThanOrEqual(before - 60 * 60 * 1000 + 2000);
    expect(Date.parse(a.validTo) - from).toBe(365 * 24 * 60 * 60 * 1000);
    expect(hex(verifySelfSignedCertificate(a))).toBe(hex(key.publicKey));
  });

  it('refuses options out of range with `invalid`', () => {
    const key = SigningKeyPair.generate();
    const make = (options: Partial<Parameters<typeof createSelfSignedCertificate>[1]>) => () =>
      createSelfSignedCertificate(key, { commonName: 'ok', ...options });
    expectKind('invalid', make({ commonName: '' }));
    expectKind('invalid', make({ commonName: 'x'.repeat(65) }));
    expectKind('invalid', make({ validDays: 0 }));
    expectKind('invalid', make({ validDays: 1.5 }));
    expectKind('invalid', make({ serial: new Uint8Array(3) }));
    expectKind('invalid', make({ serial: new Uint8Array(21).fill(1) }));
    expectKind('invalid', make({ serial: new Uint8Array(20).fill(0xff) })); // 21 octets encoded
    expectKind('invalid', make({ notBefore: new Date(Number.NaN) }));
    expect(make({ commonName: 'x'.repeat(64) })()).toBeDefined();
    expect(make({ serial: new Uint8Array(20).fill(0x7f) })()).toBeDefined();
  });
});

describe('the checks on a presented certificate', () => {
  const victim = SigningKeyPair.generate();
  const attacker = SigningKeyPair.generate();
  const now = new Date();
  const fields = {
    commonName: 'peervault directory',
    serial: fixedSerial,
    notBefore: new Date(now.getTime() - 60_000),
    notAfter: new Date(now.getTime() + 60_000),
    subjectPublicKey: victim.publicKey,
  };
  const genuine = () => {
    const tbs = tbsCertificate(fields);
    return assembleCertificate(tbs, victim.signRaw(tbs));
  };

  it('accept the genuine certificate as PEM, DER or parsed', () => {
    const cert = genuine();
    expect(hex(verifySelfSignedCertificate(cert, now))).toBe(hex(victim.publicKey));
    expect(hex(verifySelfSignedCertificate(toPem('CERTIFICATE', cert), now))).toBe(
      hex(victim.publicKey),
    );
    expect(hex(verifySelfSignedCertificate(new X509Certificate(cert), now))).toBe(
      hex(victim.publicKey),
    );
  });

  it("refuse the victim's key in a certificate signed by another key", () => {
    const tbs = tbsCertificate(fields);
    const forged = assembleCertificate(tbs, attacker.signRaw(tbs));
    // The key is the victim's, so a pin alone would accept it …
    expect(hex(publicKeyOfCertificate(forged))).toBe(hex(victim.publicKey));
    // … but the certificate is not what the victim signed.
    expectKind('integrity', () => verifySelfSignedCertificate(forged, now));
  });

  it('refuse any single changed byte', () => {
    const cert = genuine();
    for (let i = 0; i < cert.length; i++) {
      let key: Uint8Array | undefined;
      try {
        key = verifySelfSignedCertificate(flipByte(cert, i), now);
      } catch (err) {
        expect((err as { kind?: string }).kind, `byte ${i}`).toBe('integrity');
        continue;
      }
      // Only a change that leaves the signed bytes intact may pass: none exists in DER.
      throw new Error(`byte ${i} changed and still accepted with key ${hex(key)}`);
    }
  });

  it('refuse expired and not-yet-valid certificates, at the second', () => {
    const cert = genuine();
    const start = Math.floor(fields.notBefore.getTime() / 1000) * 1000;
    const end = Math.floor(fields.notAfter.getTime() / 1000) * 1000;
    expect(verifySelfSignedCertificate(cert, new Date(start))).toBeDefined();
    expect(verifySelfSignedCertificate(cert, new Date(end))).toBeDefined();
    expectKind('integrity', () => verifySelfSignedCertificate(cert, new Date(start - 1000)));
    expectKind('integrity', () => verifySelfSignedCertificate(cert, new Date(end + 1000)));
  });

  it('refuse certificates of other key types, and garbage', () => {
    const ecCertPem = execFileSync(
      'openssl',
      ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'].concat([
        '-keyout',
        '/dev/null',
        '-subj',
        '/CN=ec',
        '-days',
        '1',
      ]),
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] },
    );
    expect(new X509Certificate(ecCertPem).publicKey.asymmetricKeyType).toBe('ec');
    expectKind('integrity', () => publicKeyOfCertificate(ecCertPem));
    expectKind('integrity', () => verifySelfSignedCertificate(ecCertPem));
    expectKind('integrity', () => publicKeyOfCertificate('not a certificate'));
    expectKind('integrity', () => publicKeyOfCertificate(new Uint8Array(0)));
    expectKind('integrity', () => verifySelfSignedCertificate(genuine().subarray(0, 100), now));
  });
});

/**
 * Self-signed X.509 certificates that carry a node's Ed25519 identity key, for TLS 1.3.
 *
 * Node-to-node traffic is HTTPS over TLS 1.3 with no certificate authority: each node presents a
 * certificate it signed itself with its identity key, and the other side pins that key (by
 * fingerprint or raw bytes, see pinned-tls.ts). The certificate is therefore only a container
 * that TLS libraries know how to carry; what makes it trustworthy is the pin, and the TLS
 * handshake's CertificateVerify, which proves the server holds the private key of the key in it.
 *
 * We build the certificate ourselves rather than pull in an X.509 library (@peculiar/x509 needs a
 * global reflect-metadata polyfill): a self-signed Ed25519 certificate is a small fixed DER
 * structure, so the code below is a minimal DER *writer* for it. This is encoding, not
 * cryptography: the only cryptographic operation is the Ed25519 signature over the
 * TBSCertificate, made by {@link SigningKeyPair.signRaw}. Parsing (which is where the danger of
 * hand-written ASN.1 lies) is left to node:crypto's `X509Certificate` (OpenSSL).
 *
 * Structure (RFC 5280, RFC 8410), all DER:
 *
 * ```
 * Certificate ::= SEQUENCE {
 *   tbsCertificate      SEQUENCE {
 *     version           [0] EXPLICIT INTEGER 2                    -- v3
 *     serialNumber      INTEGER                                   -- positive, ≤ 20 octets
 *     signature         SEQUENCE { OID 1.3.101.112 }              -- id-Ed25519, no parameters
 *     issuer            SEQUENCE { SET { SEQUENCE { OID 2.5.4.3, UTF8String CN } } }
 *     validity          SEQUENCE { notBefore Time, notAfter Time }
 *     subject           = issuer
 *     subjectPublicKeyInfo SEQUENCE { SEQUENCE { OID 1.3.101.112 }, BIT STRING key(32) }
 *     extensions        [3] EXPLICIT SEQUENCE {
 *       basicConstraints 2.5.29.19, critical, SEQUENCE {}         -- cA FALSE (the DEFAULT)
 *       keyUsage         2.5.29.15, critical, BIT STRING digitalSignature
 *       subjectAltName   2.5.29.17, DNS "peervault"
 *     } }
 *   signatureAlgorithm  SEQUENCE { OID 1.3.101.112 }
 *   signatureValue      BIT STRING (64-byte Ed25519 signature of the tbsCertificate's DER)
 * }
 * ```
 *
 * Time is UTCTime for years 1950–2049 and GeneralizedTime otherwise (RFC 5280 §4.1.2.5), always
 * in UTC with whole seconds.
 *
 * This module is pure: no I/O, no logging.
 */
import { createPrivateKey, type KeyObject, X509Certificate } from 'node:crypto';
import { integrityError, FsError } from '../interface/errors.js';
import { concatBytes } from '../crypto/bytes.js';
import { keyBytes, type SigningKeyPair } from '../crypto/keys.js';
import { randomBytesOf } from '../crypto/random.js';

// ---------------------------------------------------------------------------------------------
// A minimal DER writer (X.690). Only what the certificate and PKCS#8 need; every function
// returns the complete TLV (tag, length, value) as new bytes.
// ---------------------------------------------------------------------------------------------

const ascii = new TextEncoder();

function lengthOctets(length: number): Uint8Array {
  if (!Number.isSafeInteger(length) || length < 0) throw new RangeError('DER: bad length');
  if (length < 0x80) return Uint8Array.of(length);
  // Long form: 0x80 | number of length octets, then the length big-endian with no leading zero.
  const octets: number[] = [];
  for (let rest = length; rest > 0; rest = Math.floor(rest / 256)) octets.unshift(rest % 256);
  return Uint8Array.of(0x80 | octets.length, ...octets);
}

function tlv(tag: number, value: Uint8Array): Uint8Array {
  return concatBytes(Uint8Array.of(tag), lengthOctets(value.length), value);
}

function twoDigits(n: number): string {
  return n.toString().padStart(2, '0');
}

/**
 * The DER writer: each member returns one complete encoding (tag, length and contents). Exported
 * for tests (which build forged certificates with it) and for the certificate code below.
 */
export const der = {
  /** SEQUENCE of already-encoded elements, in the order given. */
  sequence(...elements: readonly Uint8Array[]): Uint8Array {
    return tlv(0x30, concatBytes(...elements));
  },

  /** SET OF already-encoded elements; DER orders them by their encodings (X.690 §11.6). */
  setOf(...elements: readonly Uint8Array[]): Uint8Array {
    const sorted = [...elements].sort((a, b) => Buffer.compare(a, b));
    return tlv(0x31, concatBytes(...sorted));
  },

  /**
   * A non-negative INTEGER from unsigned big-endian bytes (or a safe integer), in minimal form:
   * leading zero octets are dropped, and one 0x00 is put back when the high bit is set so the
   * value stays positive in two's complement.
   */
  integer(value: Uint8Array | number): Uint8Array {
    let bytes: Uint8Array;
    if (typeof value === 'number') {
      if (!Number.isSafeInteger(value) || value < 0) {
        throw new RangeError('DER: integers are non-negative safe integers here');
      }
      const octets: number[] = [];
      for (let rest = value; rest > 0; rest = Math.floor(rest / 256)) octets.unshift(rest % 256);
      bytes = Uint8Array.from(octets);
    } else {
      bytes = value;
    }
    let start = 0;
    while (start < bytes.length && bytes[start] === 0) start++;
    const magnitude = bytes.subarray(start);
    if (magnitude.length === 0) return tlv(0x02, Uint8Array.of(0));
    const content = magnitude[0]! & 0x80 ? concatBytes(Uint8Array.of(0), magnitude) : magnitude;
    return tlv(0x02, content);
  },

  /** OBJECT IDENTIFIER from its dotted form, e.g. `1.3.101.112`. */
  oid(dotted: string): Uint8Array {
    if (!/^[0-2](\.(0|[1-9][0-9]*))+$/.test(dotted)) throw new RangeError('DER: bad OID');
    const arcs = dotted.split('.').map(Number);
    const [first, second, ...rest] = arcs as [number, number, ...number[]];
    if (first < 2 && second > 39) throw new RangeError('DER: bad OID');
    const out: number[] = [];
    for (const arc of [first * 40 + second, ...rest]) {
      if (!Number.isSafeInteger(arc)) throw new RangeError('DER: bad OID');
      // Base 128, most significant group first, high bit set on all but the last.
      const groups: number[] = [arc % 128];
      for (let v = Math.floor(arc / 128); v > 0; v = Math.floor(v / 128)) {
        groups.unshift(0x80 | (v % 128));
      }
      out.push(...groups);
    }
    return tlv(0x06, Uint8Array.from(out));
  },

  /** BIT STRING of whole bytes, or of a named-bit list with `unusedBits` trailing zero bits. */
  bitString(bytes: Uint8Array, unusedBits = 0): Uint8Array {
    if (!Number.isInteger(unusedBits) || unusedBits < 0 || unusedBits > 7) {
      throw new RangeError('DER: unused bits are 0 to 7');
    }
    if (bytes.length === 0 && unusedBits !== 0) throw new RangeError('DER: empty bit string');
    return tlv(0x03, concatBytes(Uint8Array.of(unusedBits), bytes));
  },

  /** OCTET STRING. */
  octetString(bytes: Uint8Array): Uint8Array {
    return tlv(0x04, bytes);
  },

  /** UTF8String. */
  utf8String(text: string): Uint8Array {
    return tlv(0x0c, ascii.encode(text));
  },

  /** IA5String (ASCII), as used by DNS names in subjectAltName (here implicitly tagged). */
  ia5String(text: string, tag = 0x16): Uint8Array {
    for (let i = 0; i < text.length; i++) {
      if (text.charCodeAt(i) > 0x7f) throw new RangeError('DER: IA5String is ASCII');
    }
    return tlv(tag, ascii.encode(text));
  },

  /** BOOLEAN; DER writes TRUE as 0xFF. */
  boolean(value: boolean): Uint8Array {
    return tlv(0x01, Uint8Array.of(value ? 0xff : 0x00));
  },

  /**
   * An X.509 Time (RFC 5280 §4.1.2.5): UTCTime `YYMMDDHHMMSSZ` for years 1950–2049,
   * GeneralizedTime `YYYYMMDDHHMMSSZ` otherwise. Milliseconds are dropped (whole seconds only).
   */
  time(date: Date): Uint8Array {
    const t = date.getTime();
    if (!Number.isFinite(t)) throw new RangeError('DER: invalid date');
    const year = date.getUTCFullYear();
    if (year < 0 || year > 9999) throw new RangeError('DER: year out of range');
    const rest =
      twoDigits(date.getUTCMonth() + 1) +
      twoDigits(date.getUTCDate()) +
      twoDigits(date.getUTCHours()) +
      twoDigits(date.getUTCMinutes()) +
      twoDigits(date.getUTCSeconds()) +
      'Z';
    if (year >= 1950 && year <= 2049) {
      return tlv(0x17, ascii.encode(twoDigits(year % 100) + rest));
    }
    return tlv(0x18, ascii.encode(year.toString().padStart(4, '0') + rest));
  },

  /** A context-specific, constructed, EXPLICIT tag `[n]` around one encoding (n < 31). */
  explicit(tagNumber: number, inner: Uint8Array): Uint8Array {
    if (!Number.isInteger(tagNumber) || tagNumber < 0 || tagNumber > 30) {
      throw new RangeError('DER: tag number out of range');
    }
    return tlv(0xa0 | tagNumber, inner);
  },
} as const;

// ---------------------------------------------------------------------------------------------
// The certificate.
// ---------------------------------------------------------------------------------------------

const oids = {
  ed25519: '1.3.101.112',
  commonName: '2.5.4.3',
  basicConstraints: '2.5.29.19',
  keyUsage: '2.5.29.15',
  subjectAltName: '2.5.29.17',
};

/** The DNS name every PeerVault certificate carries in subjectAltName (pins, not names, matter). */
export const certificateDnsName = 'peervault';
/** Default validity of a generated certificate, in days. */
export const defaultValidDays = 365;
/**
 * How far before "now" a generated certificate's validity starts by default, so that a peer
 * whose clock is a little behind ours still accepts it.
 */
export const defaultBackdateMs = 60 * 60 * 1000;

const dayMs = 24 * 60 * 60 * 1000;
const maxCommonNameLength = 64; // ub-common-name, RFC 5280 appendix A.1
const serialBytes = 16;

/** Every field of a certificate that is not fixed by the format. */
export interface CertificateFields {
  /** The subject's (and, being self-signed, the issuer's) common name. */
  commonName: string;
  /** Positive serial number, unsigned big-endian, at most 20 octets once encoded. */
  serial: Uint8Array;
  /** Start of validity (whole seconds are kept). */
  notBefore: Date;
  /** End of validity, inclusive (whole seconds are kept). */
  notAfter: Date;
  /** The raw 32-byte Ed25519 public key the certificate carries. */
  subjectPublicKey: Uint8Array;
}

/** A node's TLS identity: its certificate and private key, both PEM. */
export interface TlsIdentity {
  /** The self-signed certificate (public). */
  readonly certificatePem: string;
  /** The PKCS#8 private key. Security-sensitive: a secret; never log it or send it anywhere. */
  readonly privateKeyPem: string;
}

/** Options of {@link createSelfSignedCertificate}. */
export interface SelfSignedCertificateOptions {
  /** Subject and issuer common name, 1 to 64 characters (e.g. `peervault directory`). */
  commonName: string;
  /** Start of validity; default one hour ago (see {@link defaultBackdateMs}). */
  notBefore?: Date;
  /** Days of validity after `notBefore`; default {@link defaultValidDays}. */
  validDays?: number;
  /** Serial number (unsigned big-endian); default 16 random bytes, made positive. */
  serial?: Uint8Array;
}

function invalid(message: string): FsError {
  return new FsError('invalid', message, { op: 'tls-certificate.create' });
}

function algorithmEd25519(): Uint8Array {
  // RFC 8410 §3: the parameters field MUST be absent.
  return der.sequence(der.oid(oids.ed25519));
}

function extension(oid: string, critical: boolean, value: Uint8Array): Uint8Array {
  // `critical` is DEFAULT FALSE, and DER omits default values.
  return critical
    ? der.sequence(der.oid(oid), der.boolean(true), der.octetString(value))
    : der.sequence(der.oid(oid), der.octetString(value));
}

function name(commonName: string): Uint8Array {
  return der.sequence(
    der.setOf(der.sequence(der.oid(oids.commonName), der.utf8String(commonName))),
  );
}

/**
 * The DER TBSCertificate (the signed part) of a certificate with `fields`. Together with
 * {@link assembleCertificate} it lets tests build certificates that are deliberately wrong
 * (signed by another key than the one they carry, expired, …).
 * @throws FsError `invalid` when a field is out of range.
 */
export function tbsCertificate(fields: CertificateFields): Uint8Array {
  const { commonName, serial, notBefore, notAfter, subjectPublicKey } = fields;
  if (commonName.length === 0 || [...commonName].length > maxCommonNameLength) {
    throw invalid('the common name must be 1 to 64 characters');
  }
  if (subjectPublicKey.length !== keyBytes) throw invalid('an Ed25519 public key is 32 bytes');
  const serialDer = der.integer(serial);
  // RFC 5280 §4.1.2.2: positive, and at most 20 octets of content (tag and length are 2 bytes).
  if (serialDer.length > 22 || serialDer.every((b, i) => i < 2 || b === 0)) {
    throw invalid('the serial number must be positive and at most 20 octets');
  }
  if (!(notBefore.getTime() <= notAfter.getTime())) {
    throw invalid('the validity period must not end before it starts');
  }
  let validity: Uint8Array;
  try {
    validity = der.sequence(der.time(notBefore), der.time(notAfter));
  } catch {
    throw invalid('the validity dates must lie between the years 0 and 9999');
  }
  const subject = name(commonName);
  return der.sequence(
    der.explicit(0, der.integer(2)), // v3
    serialDer,
    algorithmEd25519(),
    subject, // issuer: self-signed, so the same name
    validity,
    subject,
    der.sequence(algorithmEd25519(), der.bitString(subjectPublicKey)),
    der.explicit(
      3,
      der.sequence(
        extension(oids.basicConstraints, true, der.sequence()), // cA FALSE: a leaf, never a CA
        extension(oids.keyUsage, true, der.bitString(Uint8Array.of(0x80), 7)), // digitalSignature
        extension(
          oids.subjectAltName,
          false,
          der.sequence(der.ia5String(certificateDnsName, 0x82)),
        ),
      ),
    ),
  );
}

/** The DER Certificate from a TBSCertificate and its 64-byte Ed25519 signature. */
export function assembleCertificate(tbs: Uint8Array, signature: Uint8Array): Uint8Array {
  return der.sequence(tbs, algorithmEd25519(), der.bitString(signature));
}

/** PEM armour (RFC 7468): base64 in lines of 64 characters. */
export function toPem(label: 'CERTIFICATE', derBytes: Uint8Array): string {
  const base64 = Buffer.from(derBytes).toString('base64');
  return `-----BEGIN ${label}-----\n${base64.match(/.{1,64}/g)!.join('\n')}\n-----END ${label}-----\n`;
}

function randomSerial(): Uint8Array {
  const serial = randomBytesOf(serialBytes);
  serial[0] = (serial[0]! & 0x7f) | 0x01; // positive without a 0x00 prefix, and never zero
  return serial;
}

/**
 * A private key PEM that does not print itself: `toJSON` and `util.inspect` show only the
 * certificate, so an identity passed to a logger by mistake does not leak the key.
 */
class TlsIdentityPems implements TlsIdentity {
  constructor(
    readonly certificatePem: string,
    readonly privateKeyPem: string,
  ) {}

  toJSON(): { certificatePem: string } {
    return { certificatePem: this.certificatePem };
  }

  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return 'TlsIdentity { certificatePem, privateKeyPem: [secret] }';
  }
}

/**
 * A self-signed X.509 v3 certificate for `key` (the structure is in the module comment), and
 * `key`'s private half as PKCS#8 PEM, ready for node's `tls`/`https` options.
 *
 * Security-sensitive: the returned `privateKeyPem` is the node's identity key; never log it. It
 * is a JavaScript string and cannot be wiped from memory, so create it once per process.
 * @throws FsError `invalid` when an option is out of range.
 */
export function createSelfSignedCertificate(
  key: SigningKeyPair,
  options: SelfSignedCertificateOptions,
): TlsIdentity {
  const validDays = options.validDays ?? defaultValidDays;
  if (!Number.isInteger(validDays) || validDays < 1 || validDays > 100 * 366) {
    throw invalid('validDays must be a whole number of days between 1 and 36600');
  }
  const notBefore = options.notBefore ?? new Date(Date.now() - defaultBackdateMs);
  const start = Math.floor(notBefore.getTime() / 1000) * 1000;
  const tbs = tbsCertificate({
    commonName: options.commonName,
    serial: options.serial ?? randomSerial(),
    notBefore: new Date(start),
    notAfter: new Date(start + validDays * dayMs),
    subjectPublicKey: key.publicKey,
  });
  const certificatePem = toPem('CERTIFICATE', assembleCertificate(tbs, key.signRaw(tbs)));

  // PKCS#8 PrivateKeyInfo (RFC 8410 §7): { version 0, id-Ed25519, OCTET STRING { OCTET STRING
  // seed } }. The structure is written around 32 zero bytes and the seed copied in last, so that
  // exactly one copy of it exists outside the key pair, and it is wiped once node has parsed it.
  const pkcs8 = der.sequence(
    der.integer(0),
    algorithmEd25519(),
    der.octetString(der.octetString(new Uint8Array(keyBytes))),
  );
  let privateKeyPem: string;
  try {
    pkcs8.set(key.seed().expose(), pkcs8.length - keyBytes);
    const exported = createPrivateKey({
      key: Buffer.from(pkcs8.buffer, pkcs8.byteOffset, pkcs8.byteLength),
      format: 'der',
      type: 'pkcs8',
    }).export({ format: 'pem', type: 'pkcs8' });
    privateKeyPem = typeof exported === 'string' ? exported : exported.toString('utf8');
  } finally {
    pkcs8.fill(0);
  }
  return new TlsIdentityPems(certificatePem, privateKeyPem);
}

function parseCertificate(
  certificate: string | Uint8Array | X509Certificate,
  op: string,
): X509Certificate {
  if (certificate instanceof X509Certificate) return certificate;
  try {
    return new X509Certificate(
      typeof certificate === 'string' ? certificate : Buffer.from(certificate),
    );
  } catch {
    throw integrityError(op);
  }
}

/** The certificate's key, as a KeyObject and raw; any failure (node throws on a malformed key) is `integrity`. */
function ed25519Key(cert: X509Certificate, op: string): { keyObject: KeyObject; raw: Uint8Array } {
  let raw: Uint8Array;
  let keyObject: KeyObject;
  try {
    keyObject = cert.publicKey;
    if (keyObject.asymmetricKeyType !== 'ed25519') throw integrityError(op);
    const jwk = keyObject.export({ format: 'jwk' });
    if (typeof jwk.x !== 'string') throw integrityError(op);
    raw = new Uint8Array(Buffer.from(jwk.x, 'base64url'));
  } catch {
    throw integrityError(op);
  }
  if (raw.length !== keyBytes) throw integrityError(op);
  return { keyObject, raw };
}

/**
 * The raw 32-byte Ed25519 public key a certificate carries (PEM text, DER bytes or a parsed
 * certificate). Checks nothing else: use {@link verifySelfSignedCertificate} for a certificate
 * presented by a peer.
 * @throws FsError `integrity` when it does not parse or does not carry an Ed25519 key.
 */
export function publicKeyOfCertificate(
  certificate: string | Uint8Array | X509Certificate,
): Uint8Array {
  const op = 'tls-certificate.public-key';
  return ed25519Key(parseCertificate(certificate, op), op).raw;
}

/**
 * Checks a certificate presented by a peer and returns its raw Ed25519 key: it must carry an
 * Ed25519 key, be signed by that same key, and `now` must lie within its validity period.
 *
 * Security-sensitive. The caller must still compare the returned key with its pin: anyone can
 * make a certificate that passes this check. The self-signature adds little against an attacker
 * (TLS's CertificateVerify already proves possession of the key) but refuses certificates that
 * were tampered with or assembled from parts, so that what we accept is exactly what we issue.
 * @throws FsError `integrity` on any failure, whatever its cause.
 */
export function verifySelfSignedCertificate(
  certificate: string | Uint8Array | X509Certificate,
  now: Date = new Date(),
): Uint8Array {
  const op = 'tls-certificate.verify';
  const cert = parseCertificate(certificate, op);
  const key = ed25519Key(cert, op);
  let signed: boolean;
  try {
    signed = cert.verify(key.keyObject);
  } catch {
    signed = false;
  }
  if (!signed) throw integrityError(op);
  // node prints validity as e.g. "Jan  1 00:00:00 2030 GMT", which Date.parse reads; an
  // unparsable date gives NaN, and every comparison with NaN is false, so it is refused.
  const from = Date.parse(cert.validFrom);
  const to = Date.parse(cert.validTo);
  const t = now.getTime();
  if (!(from <= t && t <= to)) throw integrityError(op);
  return key.raw;
}

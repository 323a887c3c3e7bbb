/**
 * TLS 1.3 between PeerVault nodes, authenticated by pinning identity keys instead of by a
 * certificate authority.
 *
 * Every node presents a self-signed certificate carrying its Ed25519 identity key
 * (tls-certificate.ts). There is no CA to check it against, so OpenSSL's chain verification is
 * switched off (`rejectUnauthorized: false`) and replaced by our own check once the handshake
 * has completed, before the connection is handed to undici and before a single byte of a
 * request is written: the key in the server's certificate must equal the pinned key (or have the
 * pinned fingerprint), the certificate must be signed by that key, and it must be within its
 * validity period. TLS 1.3's CertificateVerify has already proved that the server holds the
 * private key of the certificate's key, so a matching pin authenticates the server.
 *
 * Security-sensitive throughout. Choices that matter:
 * - TLS 1.3 only (`minVersion`): no RSA key exchange, no renegotiation, a signed transcript.
 * - No session resumption: a resumed session skips the certificate, and with it our check, so
 *   the client never offers a session ticket and every connection is a full handshake.
 * - The pin check runs on `secureConnect`, the earliest point node exposes the peer certificate
 *   to us; with a mismatch the socket is destroyed and undici never sees it, so no request
 *   (headers or body) reaches the impostor.
 * - Failures are FsErrors: `integrity` for a wrong or bad certificate, `unavailable` when no
 *   TLS 1.3 connection could be made at all (refused, timed out, protocol mismatch).
 */
import type { Socket } from 'node:net';
import { isIP } from 'node:net';
import {
  type ConnectionOptions,
  connect as tlsConnect,
  createSecureContext,
  type SecureContext,
  TLSSocket,
} from 'node:tls';
import { Agent, type buildConnector } from 'undici';
import { FsError } from '../interface/errors.js';
import { constantTimeEqual } from '../crypto/bytes.js';
import { fingerprint, fingerprintMatches, parseFingerprint } from '../crypto/identity.js';
import { keyBytes } from '../crypto/keys.js';
import {
  publicKeyOfCertificate,
  type TlsIdentity,
  verifySelfSignedCertificate,
} from './tls-certificate.js';

/**
 * What a client expects the server's identity key to be: its human fingerprint (as a person
 * typed it: any case, dashes optional), its raw 32-byte key, or both (then both must match).
 */
export type TlsPin =
  { fingerprint: string; publicKey?: Uint8Array } | { fingerprint?: string; publicKey: Uint8Array };

/** Options of {@link pinnedTlsConnector} and {@link createPinnedAgent}. */
export interface PinnedTlsOptions {
  /** Local address to connect from. */
  localAddress?: string;
  /** Our own identity, presented when the server asks for a client certificate (mutual TLS). */
  clientCertificate?: TlsIdentity;
  /** Milliseconds to wait for TCP and the TLS handshake together; default 10 000. */
  connectTimeoutMs?: number;
  /** Who the server is, for error messages; default `the directory`. */
  peerName?: string;
}

/** The default of {@link PinnedTlsOptions.connectTimeoutMs}. */
export const defaultConnectTimeoutMs = 10_000;

const op = 'tls.connect';

interface CheckedPin {
  matches(key: Uint8Array): boolean;
  /** The pinned fingerprint in canonical form (public, for messages). */
  expected: string;
}

function checkedPin(pin: TlsPin): CheckedPin {
  const invalid = (message: string) => new FsError('invalid', message, { op: 'tls.pin' });
  const byKey = pin.publicKey === undefined ? undefined : Uint8Array.from(pin.publicKey);
  // Parsed once here, so that a mistyped fingerprint fails at configuration time with `invalid`
  // rather than on every connection.
  const byFingerprint =
    pin.fingerprint === undefined ? undefined : parseFingerprint(pin.fingerprint);
  if (byKey === undefined && byFingerprint === undefined) {
    throw invalid('a TLS pin needs a fingerprint or a public key');
  }
  if (byKey !== undefined && byKey.length !== keyBytes) {
    throw invalid('a pinned public key is 32 bytes');
  }
  if (byKey !== undefined && byFingerprint !== undefined && fingerprint(byKey) !== byFingerprint) {
    throw invalid('the pinned fingerprint is not that of the pinned public key');
  }
  return {
    expected: byFingerprint ?? fingerprint(byKey!),
    // Security-sensitive: constant-time comparisons, and every configured pin must match.
    matches(key) {
      const keyOk = byKey === undefined || constantTimeEqual(key, byKey);
      const fingerprintOk = byFingerprint === undefined || fingerprintMatches(key, byFingerprint);
      return keyOk && fingerprintOk;
    },
  };
}

/**
 * One TLS context per connector, built once: TLS 1.3 only, and our certificate when we have one
 * for mutual TLS (so the private key PEM is parsed once, not per connection).
 */
function clientContext(identity: TlsIdentity | undefined): SecureContext {
  try {
    return createSecureContext({
      minVersion: 'TLSv1.3',
      ...(identity === undefined
        ? {}
        : { cert: identity.certificatePem, key: identity.privateKeyPem }),
    });
  } catch {
    // No cause: OpenSSL's message is about the key material, which we do not pass on.
    throw new FsError('invalid', 'the client certificate or its private key is not usable', {
      op: 'tls.client-certificate',
    });
  }
}

/**
 * An undici connector (`buildConnector.connector`) that opens TLS 1.3 connections and accepts
 * only a server whose certificate carries the pinned identity key; see the module comment.
 *
 * The callback is called exactly once: with the socket after every check has passed, or with an
 * FsError — `integrity` when the server's certificate does not match the pin, is not validly
 * self-signed or is outside its validity period; `unavailable` when no TLS 1.3 connection could
 * be made; `invalid` for a URL that is not `https:`. The socket is destroyed on every failure.
 * @throws FsError `invalid` at once when the pin or the client certificate is malformed.
 */
export function pinnedTlsConnector(
  pin: TlsPin,
  options: PinnedTlsOptions = {},
): buildConnector.connector {
  const checked = checkedPin(pin);
  const timeoutMs = options.connectTimeoutMs ?? defaultConnectTimeoutMs;
  const peerName = options.peerName ?? 'the directory';
  const secureContext = clientContext(options.clientCertificate);

  return (target, callback) => {
    const unavailable = (cause?: unknown): FsError =>
      new FsError('unavailable', `could not open a TLS 1.3 connection to ${peerName}`, {
        op,
        ...(cause === undefined ? {} : { cause }), // network and TLS errors hold no secrets
      });
    if (target.protocol !== 'https:') {
      // Never plain HTTP: a pinned agent exists to authenticate the server.
      callback(new FsError('invalid', `${peerName} must be reached over https`, { op }), null);
      return;
    }

    const localAddress = options.localAddress ?? target.localAddress ?? undefined;
    // `localAddress` is passed on to net.connect by tls.connect, though its type does not say so.
    const connectOptions: ConnectionOptions & { localAddress?: string } = {
      host: target.hostname,
      port: Number(target.port) || 443,
      // SNI only for names: RFC 6066 forbids IP addresses there (and node warns).
      ...(target.servername
        ? { servername: target.servername }
        : isIP(target.hostname) === 0
          ? { servername: target.hostname }
          : {}),
      ...(target.httpSocket === undefined ? {} : { socket: target.httpSocket }),
      ...(localAddress === undefined ? {} : { localAddress }),
      // The context carries minVersion TLSv1.3 and our certificate; minVersion is repeated here
      // so that the rule is visible where the connection is made.
      secureContext,
      minVersion: 'TLSv1.3',
      ALPNProtocols: ['http/1.1'],
      // No CA: OpenSSL's chain check is replaced by the pin check below (security-sensitive;
      // do not remove the `secureConnect` check without restoring verification).
      rejectUnauthorized: false,
      checkServerIdentity: () => undefined,
      // No `session`: never resume, so every connection shows us the certificate.
    };
    let socket: TLSSocket;
    try {
      socket = tlsConnect(connectOptions);
    } catch (err) {
      callback(unavailable(err), null);
      return;
    }

    // From here on the callback is called through `fail` or the success path below, each of
    // which first sets `settled`: never twice, whatever order the socket's events come in.
    let settled = false;
    const timer = setTimeout(() => {
      socket.destroy();
      fail(unavailable());
    }, timeoutMs);
    timer.unref();
    const fail = (err: FsError): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      callback(err, null);
    };
    const onError = (err: Error): void => {
      socket.destroy();
      fail(unavailable(err));
    };
    const onClose = (): void => fail(unavailable());
    // Stays attached after a failure, so a late error on the destroyed socket is not unhandled.
    socket.on('error', onError);
    socket.once('close', onClose);

    socket.once('secureConnect', () => {
      if (settled) return;
      let problem: FsError | undefined;
      if (socket.getProtocol() !== 'TLSv1.3' || socket.isSessionReused()) {
        // Belt and braces: minVersion and the absent session already rule these out.
        problem = unavailable();
      } else {
        try {
          problem = checkServer(socket, checked, peerName);
        } catch {
          // A throw in an event handler would crash the process and leave undici waiting;
          // anything unexpected while checking the certificate is a refusal.
          problem = new FsError('integrity', `${peerName}'s certificate could not be checked`, {
            op,
          });
        }
      }
      if (problem !== undefined) {
        socket.destroy();
        fail(problem);
        return;
      }
      settled = true;
      clearTimeout(timer);
      socket.off('error', onError);
      socket.off('close', onClose);
      socket.setNoDelay(true);
      socket.setKeepAlive(true, 60_000);
      callback(null, socket);
    });
  };
}

/** The pin check; returns the error to fail with, or undefined when the server is the one pinned. */
function checkServer(socket: TLSSocket, pin: CheckedPin, peerName: string): FsError | undefined {
  const certificate = socket.getPeerX509Certificate();
  if (certificate === undefined) {
    return new FsError('integrity', `${peerName} presented no certificate`, { op });
  }
  let presented: Uint8Array;
  try {
    presented = publicKeyOfCertificate(certificate);
  } catch {
    return new FsError(
      'integrity',
      `${peerName} presented a certificate without an Ed25519 identity key`,
      { op },
    );
  }
  if (!pin.matches(presented)) {
    // Fingerprints are public; the message helps a person see whom they reached instead.
    return new FsError(
      'integrity',
      `${peerName}'s identity did not match its pinned fingerprint (pinned ${pin.expected}, presented ${fingerprint(presented)})`,
      { op },
    );
  }
  try {
    verifySelfSignedCertificate(certificate);
  } catch {
    return new FsError(
      'integrity',
      `${peerName}'s certificate is not validly self-signed or is outside its validity period`,
      { op },
    );
  }
  return undefined;
}

/**
 * An undici `Agent` whose every connection goes through {@link pinnedTlsConnector}: use it as the
 * `dispatcher` of requests to the pinned node. One agent per pinned identity; any origin it is
 * used for must present that identity.
 * @throws FsError `invalid` at once when the pin or the client certificate is malformed.
 */
export function createPinnedAgent(pin: TlsPin, options: PinnedTlsOptions = {}): Agent {
  return new Agent({ connect: pinnedTlsConnector(pin, options) });
}

/** What {@link tlsServerOptions} returns: options for `https.createServer` or fastify's `https`. */
export interface PinnedTlsServerOptions {
  /** The private key PEM. Security-sensitive: never log these options. */
  key: string;
  /** The self-signed certificate PEM. */
  cert: string;
  /** Always TLS 1.3. */
  minVersion: 'TLSv1.3';
  /** Set for mutual TLS: ask every client for its certificate. */
  requestCert?: boolean;
  /** Set to false for mutual TLS: there is no CA; the application pins with {@link peerPublicKey}. */
  rejectUnauthorized?: boolean;
}

/**
 * Server-side TLS options for a node with `identity`: TLS 1.3 only, our self-signed certificate.
 *
 * With `requestClientCertificate`, clients are asked for their certificate (mutual TLS), but
 * none is required or checked by TLS: there is no CA. The application reads the client's key
 * with {@link peerPublicKey} and decides (security-sensitive: a request whose `peerPublicKey` is
 * undefined is unauthenticated).
 */
export function tlsServerOptions(
  identity: TlsIdentity,
  options: { requestClientCertificate?: boolean } = {},
): PinnedTlsServerOptions {
  const base = {
    key: identity.privateKeyPem,
    cert: identity.certificatePem,
    minVersion: 'TLSv1.3' as const,
  };
  return options.requestClientCertificate === true
    ? { ...base, requestCert: true, rejectUnauthorized: false }
    : base;
}

/**
 * The raw Ed25519 identity key of the client at the other end of a server-side socket (e.g.
 * `request.raw.socket` in fastify), or undefined when the client presented no certificate, a
 * certificate that is not a valid self-signed Ed25519 one within its validity period, or the
 * connection is not TLS 1.3 or was resumed (our clients never resume, and a resumed session
 * does not present a certificate afresh).
 *
 * Security-sensitive: the caller pins, i.e. compares the result with the key it expects
 * (constant time) or looks it up; the handshake has already proved the client holds its key.
 */
export function peerPublicKey(socket: Socket): Uint8Array | undefined {
  if (!(socket instanceof TLSSocket)) return undefined;
  if (socket.getProtocol() !== 'TLSv1.3' || socket.isSessionReused()) return undefined;
  const certificate = socket.getPeerX509Certificate();
  if (certificate === undefined) return undefined;
  try {
    return verifySelfSignedCertificate(certificate);
  } catch {
    return undefined;
  }
}

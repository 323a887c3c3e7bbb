/**
 * Pinned TLS 1.3, from the attacker's side, over real sockets on 127.0.0.1: the genuine server
 * is reached; a man in the middle with his own valid certificate, a server that will not speak
 * TLS 1.3, a certificate carrying the pinned key but not signed by it, an expired certificate and
 * a certificate of another key type are all refused before a single byte of the request is
 * sent. The server side reads a mutual-TLS client's key, and nothing for a forged one.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type ServerOptions } from 'node:https';
import { type AddressInfo, createServer as createNetServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import Fastify from 'fastify';
import { Agent, type buildConnector, request } from 'undici';
import { afterAll, describe, expect, it } from 'vitest';
import { toHex } from '../../src/crypto/bytes.js';
import { fingerprint } from '../../src/crypto/identity.js';
import { SigningKeyPair } from '../../src/crypto/keys.js';
import { FsError } from '../../src/interface/errors.js';
import {
  createPinnedAgent,
  peerPublicKey,
  pinnedTlsConnector,
  type TlsPin,
  tlsServerOptions,
} from '../../src/wire/pinned-tls.js';
import {
  assembleCertificate,
  createSelfSignedCertificate,
  tbsCertificate,
  type TlsIdentity,
  toPem,
} from '../../src/wire/tls-certificate.js';
import { expectKind, expectKindAsync } from '../helpers/expect-error.js';

const directoryKey = SigningKeyPair.generate();
const directory = createSelfSignedCertificate(directoryKey, { commonName: 'peervault directory' });
const attackerKey = SigningKeyPair.generate();
const attacker = createSelfSignedCertificate(attackerKey, { commonName: 'peervault directory' });
const clientKey = SigningKeyPair.generate();
const clientIdentity = createSelfSignedCertificate(clientKey, { commonName: 'peervault peer' });

const secretBody = 'a request body the impostor must never see';

/** A certificate carrying `carried`'s public key but signed by `signer` (the attacker's forgery). */
function forgedIdentity(carried: SigningKeyPair, signer: SigningKeyPair): TlsIdentity {
  const now = Date.now();
  const tbs = tbsCertificate({
    commonName: 'peervault directory',
    serial: Uint8Array.of(0x42),
    notBefore: new Date(now - 3_600_000),
    notAfter: new Date(now + 3_600_000),
    subjectPublicKey: carried.publicKey,
  });
  return {
    certificatePem: toPem('CERTIFICATE', assembleCertificate(tbs, signer.signRaw(tbs))),
    // The server must hold the carried key's private half for TLS to work at all; the test is
    // whether the client notices the certificate around it is not the one that key signed.
    privateKeyPem: createSelfSignedCertificate(carried, { commonName: 'x' }).privateKeyPem,
  };
}

interface TestServer {
  url: string;
  port: number;
  /** HTTP requests that reached the handler. */
  requests: number;
  /** Decrypted application bytes received on any connection. */
  bytesReceived: number;
  /** TCP connections accepted. */
  connections: number;
  protocols: (string | null)[];
  resumed: boolean[];
  peerKeys: (Uint8Array | undefined)[];
  close(): Promise<void>;
}

const servers: TestServer[] = [];
afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
});

async function startServer(
  options: ServerOptions,
  handle: (res: ServerResponse) => void = () => undefined,
): Promise<TestServer> {
  const server = createHttpsServer(options, (req, res) => {
    state.requests++;
    const socket = req.socket as TLSSocket;
    state.protocols.push(socket.getProtocol());
    state.resumed.push(socket.isSessionReused());
    state.peerKeys.push(peerPublicKey(req.socket));
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      handle(res);
      res.end(`echo:${Buffer.concat(chunks).toString()}`);
    });
  });
  server.on('connection', () => state.connections++);
  server.on('secureConnection', (socket: TLSSocket) => {
    socket.on('data', (chunk: Buffer) => (state.bytesReceived += chunk.length));
  });
  server.on('tlsClientError', () => undefined); // refused handshakes are the point of some tests
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  let closed: Promise<void> | undefined;
  const state: TestServer = {
    url: `https://127.0.0.1:${port}`,
    port,
    requests: 0,
    bytesReceived: 0,
    connections: 0,
    protocols: [],
    resumed: [],
    peerKeys: [],
    close() {
      closed ??= new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      });
      return closed;
    },
  };
  servers.push(state);
  return state;
}

async function withAgent<T>(agent: Agent, fn: (agent: Agent) => Promise<T>): Promise<T> {
  try {
    return await fn(agent);
  } finally {
    await agent.close();
  }
}

async function post(url: string, agent: Agent): Promise<string> {
  const res = await request(`${url}/echo`, { dispatcher: agent, method: 'POST', body: secretBody });
  return res.body.text();
}

const settle = () => new Promise((resolve) => setTimeout(resolve, 100));

describe('the pinned agent reaching the genuine directory', () => {
  it('makes a TLS 1.3 HTTPS round trip, pinned by raw key', async () => {
    const server = await startServer(tlsServerOptions(directory));
    const body = await withAgent(createPinnedAgent({ publicKey: directoryKey.publicKey }), (a) =>
      post(server.url, a),
    );
    expect(body).toBe(`echo:${secretBody}`);
    expect(server.protocols).toEqual(['TLSv1.3']);
  });

  it('accepts the fingerprint as people type it', async () => {
    const server = await startServer(tlsServerOptions(directory));
    const canonical = fingerprint(directoryKey.publicKey);
    for (const typed of [
      canonical,
      canonical.toLowerCase(),
      canonical.replace(/-/g, '').toLowerCase(),
      canonical.replace(/-/g, ' '),
    ]) {
      const body = await withAgent(createPinnedAgent({ fingerprint: typed }), (a) =>
        post(server.url, a),
      );
      expect(body, typed).toBe(`echo:${secretBody}`);
    }
    const both = createPinnedAgent({
      fingerprint: canonical.toLowerCase(),
      publicKey: directoryKey.publicKey,
    });
    expect(await withAgent(both, (a) => post(server.url, a))).toBe(`echo:${secretBody}`);
  });

  it('never resumes a TLS session, so every connection shows the certificate', async () => {
    const server = await startServer(tlsServerOptions(directory), (res) =>
      res.setHeader('connection', 'close'),
    );
    await withAgent(createPinnedAgent({ publicKey: directoryKey.publicKey }), async (a) => {
      for (let i = 0; i < 3; i++) await post(server.url, a);
    });
    expect(server.resumed).toEqual([false, false, false]);
    expect(server.connections).toBe(3);
    // Control: undici's own connector does resume with this server, so the check above means
    // something.
    const control = new Agent({ connect: { rejectUnauthorized: false } });
    await withAgent(control, async (a) => {
      for (let i = 0; i < 2; i++) await post(server.url, a);
    });
    expect(server.resumed.slice(3)).toEqual([false, true]);
  });
});

describe('impostors are refused before the request is sent', () => {
  it('refuses a man in the middle with his own valid self-signed certificate', async () => {
    const mitm = await startServer(tlsServerOptions(attacker));
    for (const pin of [
      { fingerprint: fingerprint(directoryKey.publicKey) },
      { publicKey: directoryKey.publicKey },
    ] satisfies TlsPin[]) {
      const err = await withAgent(createPinnedAgent(pin), (a) =>
        expectKindAsync('integrity', post(mitm.url, a)),
      );
      expect(err.message).not.toContain(toHex(attackerKey.publicKey));
    }
    await settle();
    expect(mitm.connections).toBeGreaterThan(0); // the attack really reached the impostor …
    expect(mitm.requests).toBe(0); // … which saw no request,
    expect(mitm.bytesReceived).toBe(0); // not even a byte of one
  });

  it('refuses a server that offers only TLS 1.2', async () => {
    const old = await startServer({
      ...tlsServerOptions(directory),
      minVersion: 'TLSv1.2',
      maxVersion: 'TLSv1.2',
    });
    // The server is the genuine one and works over TLS 1.2 …
    const legacy = tlsConnect({
      host: '127.0.0.1',
      port: old.port,
      rejectUnauthorized: false,
      maxVersion: 'TLSv1.2',
    });
    await new Promise<void>((resolve, reject) => {
      legacy.once('secureConnect', resolve).once('error', reject);
    });
    expect(legacy.getProtocol()).toBe('TLSv1.2');
    legacy.destroy();
    // … and the pinned agent will not use it.
    await withAgent(createPinnedAgent({ publicKey: directoryKey.publicKey }), (a) =>
      expectKindAsync('unavailable', post(old.url, a)),
    );
    await settle();
    expect(old.requests).toBe(0);
    expect(old.bytesReceived).toBe(0);
  });

  it('refuses a certificate that carries the pinned key but is signed by another key', async () => {
    const forged = await startServer(tlsServerOptions(forgedIdentity(directoryKey, attackerKey)));
    await withAgent(createPinnedAgent({ publicKey: directoryKey.publicKey }), (a) =>
      expectKindAsync('integrity', post(forged.url, a)),
    );
    await settle();
    expect(forged.connections).toBeGreaterThan(0);
    expect(forged.requests).toBe(0);
    expect(forged.bytesReceived).toBe(0);
  });

  it('refuses an expired and a not-yet-valid certificate of the pinned key', async () => {
    const day = 24 * 60 * 60 * 1000;
    for (const notBefore of [new Date(Date.now() - 3 * day), new Date(Date.now() + day)]) {
      const identity = createSelfSignedCertificate(directoryKey, {
        commonName: 'peervault directory',
        notBefore,
        validDays: 1,
      });
      const server = await startServer(tlsServerOptions(identity));
      await withAgent(createPinnedAgent({ publicKey: directoryKey.publicKey }), (a) =>
        expectKindAsync('integrity', post(server.url, a)),
      );
      expect(server.requests).toBe(0);
    }
  });

  it('refuses a certificate with another key type', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'peervault-ec-'));
    try {
      execFileSync(
        'openssl',
        ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'].concat(
          ['-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-subj', '/CN=ec'],
          ['-days', '1'],
        ),
        { stdio: 'ignore' },
      );
      const server = await startServer({
        key: readFileSync(join(dir, 'key.pem')),
        cert: readFileSync(join(dir, 'cert.pem')),
        minVersion: 'TLSv1.3',
      });
      await withAgent(createPinnedAgent({ publicKey: directoryKey.publicKey }), (a) =>
        expectKindAsync('integrity', post(server.url, a)),
      );
      expect(server.requests).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses plain HTTP, unreachable servers and malformed pins', async () => {
    const server = await startServer(tlsServerOptions(directory));
    await withAgent(createPinnedAgent({ publicKey: directoryKey.publicKey }), async (a) => {
      await expectKindAsync(
        'invalid',
        request(`http://127.0.0.1:${server.port}/`, { dispatcher: a }),
      );
      const closed = await startServer(tlsServerOptions(directory));
      await closed.close();
      await expectKindAsync('unavailable', post(closed.url, a));
    });
    expectKind('invalid', () => createPinnedAgent({ fingerprint: 'not a fingerprint' }));
    expectKind('invalid', () => createPinnedAgent({ publicKey: new Uint8Array(31) }));
    expectKind('invalid', () => createPinnedAgent({} as TlsPin));
    expectKind('invalid', () =>
      createPinnedAgent({
        fingerprint: fingerprint(attackerKey.publicKey),
        publicKey: directoryKey.publicKey,
      }),
    );
    expectKind('invalid', () =>
      createPinnedAgent(
        { publicKey: directoryKey.publicKey },
        { clientCertificate: { certificatePem: 'x', privateKeyPem: 'y' } },
      ),
    );
  });
});

describe('the connector itself', () => {
  type Call = Parameters<buildConnector.Callback>;

  function connectOnce(
    connector: buildConnector.connector,
    port: number,
  ): Promise<{ calls: Call[] }> {
    const calls: Call[] = [];
    return new Promise((resolve) => {
      connector(
        {
          hostname: '127.0.0.1',
          host: `127.0.0.1:${port}`,
          protocol: 'https:',
          port: String(port),
        },
        (...args) => {
          calls.push(args);
          // Wait a little for a second call that must never come.
          setTimeout(() => resolve({ calls }), 150);
        },
      );
    });
  }

  it('calls back exactly once: with the socket, or with one error', async () => {
    const genuine = await startServer(tlsServerOptions(directory));
    const mitm = await startServer(tlsServerOptions(attacker));
    const connector = pinnedTlsConnector({ publicKey: directoryKey.publicKey });

    const ok = await connectOnce(connector, genuine.port);
    expect(ok.calls).toHaveLength(1);
    const [okError, socket] = ok.calls[0]!;
    expect(okError).toBeNull();
    expect((socket as TLSSocket).getProtocol()).toBe('TLSv1.3');
    (socket as Socket).destroy();

    const refused = await connectOnce(connector, mitm.port);
    expect(refused.calls).toHaveLength(1);
    const [error, none] = refused.calls[0]!;
    expect(error).toBeInstanceOf(FsError);
    expect((error as FsError).kind).toBe('integrity');
    expect(none).toBeNull();
  });

  it('gives up on a server that never completes the handshake', async () => {
    const sockets: Socket[] = [];
    const silent = createNetServer((s) => sockets.push(s)); // accepts TCP, never speaks TLS
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    try {
      const port = (silent.address() as AddressInfo).port;
      const connector = pinnedTlsConnector(
        { publicKey: directoryKey.publicKey },
        { connectTimeoutMs: 200 },
      );
      const { calls } = await connectOnce(connector, port);
      expect(calls).toHaveLength(1);
      expect((calls[0]![0] as FsError).kind).toBe('unavailable');
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    }
  });
});

describe('mutual TLS: the server reads the client key', () => {
  async function whoAmI(
    serverOptions: ReturnType<typeof tlsServerOptions>,
    client: TlsIdentity | undefined,
  ): Promise<string | null> {
    const app = Fastify({ https: serverOptions });
    app.get('/whoami', (req) => {
      const key = peerPublicKey(req.raw.socket);
      return { key: key === undefined ? null : toHex(key) };
    });
    await app.listen({ port: 0, host: '127.0.0.1' });
    try {
      const { port } = app.server.address() as AddressInfo;
      const agent = createPinnedAgent(
        { publicKey: directoryKey.publicKey },
        client === undefined ? {} : { clientCertificate: client },
      );
      return await withAgent(agent, async (a) => {
        const res = await request(`https://127.0.0.1:${port}/whoami`, { dispatcher: a });
        return ((await res.body.json()) as { key: string | null }).key;
      });
    } finally {
      await app.close();
    }
  }

  const mutual = tlsServerOptions(directory, { requestClientCertificate: true });

  it("gives the client's identity key when it presents its certificate", async () => {
    expect(await whoAmI(mutual, clientIdentity)).toBe(toHex(clientKey.publicKey));
  });

  it('gives nothing for a client without a certificate', async () => {
    expect(await whoAmI(mutual, undefined)).toBeNull();
  });

  it("gives nothing for a certificate carrying the client's key but signed by another", async () => {
    expect(await whoAmI(mutual, forgedIdentity(clientKey, attackerKey))).toBeNull();
  });

  it('gives nothing when the server did not ask for certificates', async () => {
    expect(await whoAmI(tlsServerOptions(directory), clientIdentity)).toBeNull();
  });

  it('refuses TLS 1.2 clients on the server side too', async () => {
    const server = await startServer(mutual);
    const legacy = tlsConnect({
      host: '127.0.0.1',
      port: server.port,
      rejectUnauthorized: false,
      maxVersion: 'TLSv1.2',
    });
    await expect(
      new Promise((resolve, reject) => legacy.once('secureConnect', resolve).once('error', reject)),
    ).rejects.toThrow();
    legacy.destroy();
  });
});

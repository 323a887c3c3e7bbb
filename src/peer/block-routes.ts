/**
 * The peer-to-peer block protocol, server side (DESIGN.md section 9): HTTPS over mutual TLS 1.3
 * between peers, each pinning the other's identity key, and a capability on every request.
 *
 * | Route                             | Capability op | Body                      | Answer                      |
 * | --------------------------------- | ------------- | ------------------------- | --------------------------- |
 * | `PUT /v1/blocks/:id`              | `put`         | the sealed block (octets) | 201 `{id}`                  |
 * | `GET /v1/blocks/:id`              | `get`         | —                         | 200, the block's octets     |
 * | `HEAD /v1/blocks/:id`             | `has`         | —                         | 200 present, 404 absent     |
 * | `POST /v1/blocks/:id/challenge`   | `challenge`   | `{nonce}` (16-64 bytes)   | `{proof}` (see below)       |
 *
 * Every request passes three gates, in this order, before its body is read:
 * 1. **Who is connected**: the client's key from its mutual-TLS certificate (the handshake proved
 *    it holds the private key) must be a live peer the registry knows (`peerAllowed`).
 * 2. **What they may do**: the `x-peervault-capability` header must hold a capability signed by
 *    the current key of the user it names, addressed to this peer, unexpired, and naming this
 *    operation and this block (src/wire/capability.ts).
 * 3. **Whose file**: the issuer must be the owner or a writer (to store) or a grantee (to read)
 *    of the file the capability names, and a block is served only under the file it was stored
 *    under (`authorizeFile`, src/peer/file-access.ts).
 *
 * A failure answers `{kind, op, message}` with the status of its kind (403 for every gate) and
 * calls `onRefusal`, so the monitor sees forged or replayed capabilities and unknown peers. A
 * validly signed capability for another peer, or long expired, also calls `onCapabilityMisuse`
 * (the peer tells the directory, docs/monitor.md `capability-misuse`).
 * The challenge proof is SHA-256(label || nonce || block) (see block-client.ts
 * `challengeProof`): only a peer that still holds the whole block can compute it for a fresh
 * nonce.
 *
 * Security-sensitive throughout: this is the edge where other peers' bytes and claims arrive.
 */
import type { Socket } from 'node:net';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { BlockStore } from '../interface/block-store.js';
import { maxBlockBytes } from '../interface/block-store.js';
import { type ErrorKind, FsError, isFsError } from '../interface/errors.js';
import { type BlockId, parseBlockId } from '../interface/ids.js';
import type { UserName } from '../interface/names.js';
import { constantTimeEqual } from '../crypto/bytes.js';
import { claimedSigner } from '../crypto/sign.js';
import { fromBase64url, toBase64url } from '../wire/base64.js';
import {
  type BlockOp,
  type Capability,
  capabilityHeader,
  type CapabilityMisuse,
  capabilityMisuse,
  CapabilityRefusedError,
  checkCapability,
  claimedIssuer,
} from '../wire/capability.js';
import { installErrorHandlers, sendWireError, wireErrorOf } from '../wire/http-errors.js';
import { peerPublicKey, tlsServerOptions } from '../wire/pinned-tls.js';
import type { TlsIdentity } from '../wire/tls-certificate.js';
import { challengeProof } from './block-client.js';

/** Paths of the block protocol (`:id` is a block id). */
export const blockRoutes = {
  block: '/v1/blocks/:id',
  challenge: '/v1/blocks/:id/challenge',
} as const;

/** Bounds of a challenge nonce, in bytes. */
export const challengeNonceBytes = { min: 16, max: 64 } as const;

/**
 * Largest capability header the server reads (base64url characters). A capability naming the
 * most blocks allowed (1024) is about 62 000 characters; anything longer is refused unread.
 */
export const maxCapabilityHeaderChars = 80 * 1024;

/**
 * Node's HTTP header limit for the block server: room for the largest capability. Node's
 * default (16 KiB) would cap a capability at about 270 blocks.
 */
export const blockServerMaxHeaderBytes = 96 * 1024;

/** A refused (or failed) block request, as reported to the monitor. */
export interface BlockRefusal {
  /** The operation that was attempted. */
  op: BlockOp;
  /** The error kind answered (`permission` for both gates). */
  kind: ErrorKind;
  /** The block, when the request named a valid id. */
  block?: BlockId;
  /** Why, in our words. Never block contents, never capability bytes. */
  reason: string;
  /** The client's mutual-TLS key, base64url (as peer ids are), when it presented one. */
  clientKey?: string;
  /** The user the capability claimed to be from, when it could be read (not proof of anything). */
  issuer?: string;
}

/** What the block routes need; narrow, so tests can hand in a memory store and fixed keys. */
export interface BlockRoutesDeps {
  /** Where blocks live; it verifies hashes on put and re-hashes on get. */
  store: BlockStore;
  /** This peer's identity key: capabilities must be addressed to it. */
  self: Uint8Array;
  /**
   * The current signing key of `user`, from their verified key log.
   * @throws FsError `not-exist` for an unknown user (answered as `permission`).
   */
  issuerKey(user: UserName, lookup?: { fresh?: boolean }): Promise<Uint8Array>;
  /**
   * Called (and not awaited) when a capability did not verify under the issuer's current key,
   * with the key that signed it, so that the peer can tell the directory when it is one the user
   * revoked. Must not throw.
   */
  onBadSigner?(issuer: UserName, signer: Uint8Array): void;
  /**
   * Called (and not awaited) when a capability that `issuer`'s key validly signed was refused
   * as a replay: addressed to another peer (`foreign`) or expired more than
   * `staleCapabilityMarginMs` ago (`stale`), so that the peer can tell the directory. Never for
   * a capability whose signature did not verify. Must not throw.
   */
  onCapabilityMisuse?(issuer: UserName, misuse: CapabilityMisuse): void;
  /** Whether the key is a registered, live peer allowed to talk to us. */
  peerAllowed(clientKey: Uint8Array): Promise<boolean>;
  /** Called once for every error answer, with nothing secret in it. Must not throw. */
  onRefusal(event: BlockRefusal): void;
  /**
   * Called after each successful put, with the verified capability that authorized it (the
   * peer records who stored the block, so only they can release it). A throw is logged; the
   * put still succeeds, since the block is stored.
   */
  onStored?(id: BlockId, capability: Capability): void;
  /**
   * Checks that the capability's issuer may do `op` on blocks of the file it names (and that
   * the block belongs to that file, where that is known).
   * @throws FsError `permission` when not; anything else answers as its kind.
   */
  authorizeFile?(capability: Capability, op: BlockOp, block: BlockId): Promise<void>;
  /** The clock, in milliseconds since the epoch (tests move it). */
  now(): number;
}

/** What a request has proved so far, for the refusal report. */
interface RequestFacts {
  block?: BlockId;
  clientKey?: string;
  issuer?: string;
}

const permission = (message: string, op: string): FsError =>
  new FsError('permission', message, { op });

/**
 * The client key of a socket, computed once per connection: TLS 1.3 never renegotiates, so the
 * certificate cannot change under a kept-alive connection, and parsing plus verifying it on
 * every request would be wasted work. `null` caches "no valid certificate".
 */
const socketKeys = new WeakMap<Socket, Uint8Array | null>();
function clientKeyOf(socket: Socket): Uint8Array | undefined {
  let key = socketKeys.get(socket);
  if (key === undefined) {
    key = peerPublicKey(socket) ?? null;
    socketKeys.set(socket, key);
  }
  return key ?? undefined;
}

/** The raw JSON body parser of the scope: small bodies only (the challenge). */
function parseJson(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString('utf8')) as unknown;
  } catch {
    throw new FsError('invalid', 'the request body is not valid JSON', { op: 'request.parse' });
  }
}

/** Reads `{nonce}` strictly. @throws FsError `invalid` */
function parseChallengeBody(body: unknown, op: string): Uint8Array {
  if (
    typeof body !== 'object' ||
    body === null ||
    Array.isArray(body) ||
    Object.keys(body).length !== 1 ||
    typeof (body as { nonce?: unknown }).nonce !== 'string'
  ) {
    throw new FsError('invalid', 'the challenge body must be {nonce}', { op });
  }
  const nonce = fromBase64url((body as { nonce: string }).nonce, 'nonce', {
    maxBytes: challengeNonceBytes.max,
  });
  if (nonce.length < challengeNonceBytes.min || nonce.length > challengeNonceBytes.max) {
    throw new FsError(
      'invalid',
      `a challenge nonce is ${challengeNonceBytes.min} to ${challengeNonceBytes.max} bytes`,
      { op },
    );
  }
  return nonce;
}

/**
 * Registers the block routes on `app`, inside their own encapsulated scope: the scope has its
 * own body parsers (raw octets up to {@link maxBlockBytes} for blocks, small JSON for
 * challenges) and its own error answers, so the host app's other routes are not disturbed.
 * The routes are added when the app becomes ready (fastify plugin semantics).
 *
 * The host's HTTP server must allow headers of {@link blockServerMaxHeaderBytes} for large
 * capabilities; {@link buildBlockServer} does.
 */
export function registerBlockRoutes(app: FastifyInstance, deps: BlockRoutesDeps): void {
  void app.register((scope, _options, done) => {
    const facts = new WeakMap<FastifyRequest, RequestFacts>();
    /** The verified capability of each authorized request (kept apart from refusal facts). */
    const granted = new WeakMap<FastifyRequest, Capability>();

    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser(
      'application/octet-stream',
      { parseAs: 'buffer', bodyLimit: maxBlockBytes },
      (_request, body, parsed) => parsed(null, body),
    );
    scope.addContentTypeParser(
      'application/json',
      { parseAs: 'buffer', bodyLimit: 1024 },
      (_request, body, parsed) => {
        try {
          parsed(null, parseJson(body as Buffer));
        } catch (err) {
          parsed(err as Error, undefined);
        }
      },
    );

    /**
     * Tells `onCapabilityMisuse` when a refusal shows a replayed capability (`capabilityMisuse`:
     * validly signed by `issuer`'s key, and another peer's or long expired). Never throws:
     * the refusal goes out whatever happens here.
     */
    const noteMisuse = (issuer: UserName, err: unknown, now: number): void => {
      const misuse = capabilityMisuse(err, now);
      if (misuse === undefined || deps.onCapabilityMisuse === undefined) return;
      try {
        deps.onCapabilityMisuse(issuer, misuse);
      } catch (thrown) {
        console.error('peer: onCapabilityMisuse threw:', thrown);
      }
    };

    /**
     * The two gates (see the module comment), as an `onRequest` hook: they run before the
     * body is read, so an unauthenticated client cannot make us buffer a block.
     * Security-sensitive: every request to these routes passes here; do not reorder.
     */
    const authorize =
      (op: BlockOp) =>
      async (request: FastifyRequest): Promise<void> => {
        const known: RequestFacts = {};
        facts.set(request, known);
        const where = `block.${op}`;

        // Gate 1: the mutual-TLS client key, then the peer registry.
        const clientKey = clientKeyOf(request.raw.socket);
        if (clientKey === undefined) {
          throw permission('a client certificate of a peer is required', where);
        }
        known.clientKey = toBase64url(clientKey);
        if (!(await deps.peerAllowed(clientKey))) {
          throw permission('this client is not a registered live peer', where);
        }

        // The block id is parsed before the capability so refusals name the block.
        const { id } = request.params as { id: string };
        known.block = parseBlockId(id);

        // Gate 2: the capability.
        const header = request.headers[capabilityHeader];
        if (header === undefined || Array.isArray(header) || header.length === 0) {
          throw permission('a capability is required', where);
        }
        let envelope: Uint8Array;
        try {
          envelope = fromBase64url(header, 'capability', {
            maxBytes: Math.floor((maxCapabilityHeaderChars * 3) / 4),
          });
        } catch {
          throw permission('the capability is malformed', where);
        }
        // Only to find whose key to check against: nothing is trusted until checkCapability.
        const issuer = claimedIssuer(envelope);
        known.issuer = issuer;
        let key: Uint8Array;
        try {
          key = await deps.issuerKey(issuer);
        } catch (err) {
          // An unknown issuer is a bad capability, not a missing block: answering 404 would
          // be mistaken for "this peer lost the block".
          if (isFsError(err, 'not-exist')) {
            throw permission("the capability's issuer is unknown", where);
          }
          throw err;
        }
        const expect = { op, block: known.block, self: deps.self, now: deps.now() };
        let capability: Capability;
        try {
          capability = checkCapability(envelope, key, expect);
        } catch (err) {
          // Validly signed but refused for what it says (another peer's, expired, …): a fresh
          // key cannot change that. A replay is told to the monitor.
          if (!(err instanceof CapabilityRefusedError) || err.fault !== 'signature') {
            noteMisuse(issuer, err, expect.now);
            throw err;
          }
          // The key we hold may be stale (the user replaced theirs a moment ago): check once
          // more against a freshly read key log before refusing.
          const fresh = await deps.issuerKey(issuer, { fresh: true }).catch(() => key);
          if (constantTimeEqual(fresh, key)) {
            // Signed by a key the user revoked? Then someone holds it: the monitor is told.
            deps.onBadSigner?.(issuer, claimedSigner(envelope, 'capability'));
            throw err;
          }
          try {
            capability = checkCapability(envelope, fresh, expect);
          } catch (again) {
            noteMisuse(issuer, again, expect.now);
            throw again;
          }
        }
        // Gate 3: may the issuer use this file's blocks at all (its owner or a grantee)?
        if (deps.authorizeFile) await deps.authorizeFile(capability, op, known.block);
        granted.set(request, capability);
      };

    /** Turns any failure into `{kind, op, message}` and reports it; never a stack or a cause. */
    const answerError =
      (op: BlockOp) =>
      (error: unknown, request: FastifyRequest, reply: FastifyReply): void => {
        const wire = wireErrorOf(error, `block.${op}`, 'peer', request);
        const known = facts.get(request) ?? {};
        try {
          deps.onRefusal({ op, kind: wire.kind, reason: wire.message, ...known });
        } catch (err) {
          console.error('peer: onRefusal threw:', err);
        }
        sendWireError(reply, wire);
      };

    /** The block id of a request that passed {@link authorize}. */
    const blockOf = (request: FastifyRequest): BlockId => {
      const block = facts.get(request)?.block;
      if (block === undefined)
        throw new FsError('internal', 'unauthorized request', { op: 'block' });
      return block;
    };

    scope.put(
      blockRoutes.block,
      {
        onRequest: authorize('put'),
        errorHandler: answerError('put'),
        bodyLimit: maxBlockBytes,
      },
      async (request, reply) => {
        const id = blockOf(request);
        if (!Buffer.isBuffer(request.body)) {
          throw new FsError('invalid', 'a block is sent as application/octet-stream', {
            op: 'block.put',
          });
        }
        // The store checks that the bytes hash to the id and refuses them otherwise.
        await deps.store.put(id, request.body);
        const capability = granted.get(request);
        if (deps.onStored !== undefined && capability !== undefined) {
          try {
            deps.onStored(id, capability);
          } catch (err) {
            console.error('peer: onStored threw:', err);
          }
        }
        return reply.status(201).send({ id });
      },
    );

    scope.head(
      blockRoutes.block,
      { onRequest: authorize('has'), errorHandler: answerError('has') },
      async (request, reply) => {
        const present = await deps.store.has(blockOf(request));
        return reply.status(present ? 200 : 404).send();
      },
    );

    scope.get(
      blockRoutes.block,
      {
        onRequest: authorize('get'),
        errorHandler: answerError('get'),
        exposeHeadRoute: false, // HEAD is `has`, with its own capability op
      },
      async (request, reply) => {
        // The store re-hashes before returning: a corrupted block becomes `integrity` (and is
        // reported by the store), and its bytes are never sent.
        const bytes = await deps.store.get(blockOf(request));
        return reply
          .status(200)
          .type('application/octet-stream')
          .send(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
      },
    );

    scope.post(
      blockRoutes.challenge,
      {
        onRequest: authorize('challenge'),
        errorHandler: answerError('challenge'),
        bodyLimit: 1024,
      },
      async (request) => {
        const id = blockOf(request);
        const nonce = parseChallengeBody(request.body, 'block.challenge');
        const block = await deps.store.get(id);
        return { proof: toBase64url(challengeProof(nonce, block)) };
      },
    );

    done();
  });
}

/**
 * Builds a peer's block server (not listening): HTTPS with TLS 1.3 only, our self-signed
 * certificate, client certificates requested (mutual TLS; the routes pin them), the block
 * routes, and `{kind, op, message}` answers for everything else (unknown routes are
 * `not-exist`). Call `listen` on the result.
 */
export function buildBlockServer(
  deps: BlockRoutesDeps & { identity: TlsIdentity },
): FastifyInstance {
  const { identity, ...routeDeps } = deps;
  const app = Fastify({
    logger: false,
    // Closing must not wait for other peers: an idle connection a peer opened but never used
    // (undici reconnects after an aborted request) would otherwise hold `close` open for as
    // long as the peer likes. An upload cut off this way is not stored (puts are atomic).
    forceCloseConnections: true,
    // Bounds how long a slow client may hold a request open (an 8 MiB block at 100 KB/s
    // takes 80 s).
    requestTimeout: 120_000,
    https: {
      ...tlsServerOptions(identity, { requestClientCertificate: true }),
      maxHeaderSize: blockServerMaxHeaderBytes,
    },
  }) as unknown as FastifyInstance;

  installErrorHandlers(app, 'peer');

  registerBlockRoutes(app, routeDeps);
  return app;
}

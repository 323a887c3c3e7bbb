/**
 * The peer-to-peer block protocol, client side (DESIGN.md section 9; the routes are in
 * block-routes.ts): put, get, has and challenge against other peers over mutual TLS 1.3.
 *
 * Trust: every connection is pinned to the peer's identity key (from the directory's signed
 * peer registry), and we present our own certificate so the peer can pin us. Pinning tells us
 * whom we reached, not whether they are honest, so every block read is re-hashed against its
 * id: a peer serving forged, corrupted or truncated bytes is caught on every read, and the bad
 * bytes are never returned. Responses are bounded before they are buffered.
 *
 * Errors are FsErrors: the peer's `{kind, op, message}` answers keep their kind; a connection
 * that cannot be made is `unavailable`; a peer that is not the pinned key, or that serves bytes
 * other than the block asked for, is `integrity`.
 */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { type Agent, type Dispatcher, request as httpRequest } from 'undici';
import { type AbortOptions, maxBlockBytes } from '../interface/block-store.js';
import { errorKinds, type ErrorKind, FsError, isErrorKind } from '../interface/errors.js';
import type { BlockId } from '../interface/ids.js';
import { verifyBlock } from '../crypto/block-id.js';
import { fingerprint } from '../crypto/identity.js';
import { labelBytes, labels } from '../crypto/labels.js';
import { fromBase64url, toBase64url } from '../wire/base64.js';
import { capabilityHeader } from '../wire/capability.js';
import { httpStatus } from '../wire/directory-api.js';
import { createPinnedAgent } from '../wire/pinned-tls.js';
import type { TlsIdentity } from '../wire/tls-certificate.js';

/** A peer to talk to: where it listens and the identity key it must prove it holds. */
export interface PeerAddress {
  /** `host:port` (an IPv6 host in brackets). */
  address: string;
  /** The peer's raw 32-byte Ed25519 identity key, from the signed peer registry. */
  key: Uint8Array;
}

/** Settings of {@link createBlockClient}. */
export interface BlockClientInit {
  /** Our own TLS identity, presented to peers as our client certificate (mutual TLS). */
  identity: TlsIdentity;
  /** Milliseconds to wait for TCP and the TLS handshake together; default 10 000. */
  connectTimeoutMs?: number;
}

/** The block protocol's client; one per peer process, shared by all its requests. */
export interface BlockClient {
  /**
   * Stores a block at `peer`. The parts are streamed in order without being joined.
   * @throws FsError `invalid` for a block over {@link maxBlockBytes} (nothing is sent);
   *   `permission`, `integrity` (the bytes do not hash to `id`), `unavailable` (the peer is
   *   unreachable or full) as the peer answers.
   */
  put(
    peer: PeerAddress,
    id: BlockId,
    parts: Uint8Array | readonly Uint8Array[],
    capability: Uint8Array,
    options?: AbortOptions,
  ): Promise<void>;
  /**
   * Reads a block from `peer` and checks that its bytes hash to `id`.
   * @throws FsError `integrity` when they do not, or the answer is larger than a block;
   *   `not-exist`, `permission`, `unavailable` as the peer answers.
   */
  get(
    peer: PeerAddress,
    id: BlockId,
    capability: Uint8Array,
    options?: AbortOptions,
  ): Promise<Uint8Array>;
  /** Whether `peer` holds the block (as it claims; audit with {@link BlockClient.challenge}). */
  has(
    peer: PeerAddress,
    id: BlockId,
    capability: Uint8Array,
    options?: AbortOptions,
  ): Promise<boolean>;
  /**
   * Asks `peer` to prove it holds the block: the answer should equal
   * {@link challengeProof}(nonce, block), which the caller compares (the client does not hold
   * the block, so it cannot).
   */
  challenge(
    peer: PeerAddress,
    id: BlockId,
    nonce: Uint8Array,
    capability: Uint8Array,
    options?: AbortOptions,
  ): Promise<Uint8Array>;
  /**
   * Posts a JSON body to another peer's peer-to-peer route `path` (gossip, head-gossip.ts) and
   * returns its JSON answer, read up to `maxAnswerBytes`. No capability: these routes are for
   * peers, authenticated by mutual TLS alone.
   * @throws FsError as the peer answers; `integrity` for a malformed or oversized answer.
   */
  exchange(
    peer: PeerAddress,
    path: string,
    body: unknown,
    maxAnswerBytes: number,
  ): Promise<unknown>;
  /** Closes every connection; idempotent. Later calls fail with `unavailable`. */
  close(): Promise<void>;
}

/** Errors that mean "the peer could not be reached at all" (not an answer it gave). */
const unreachableErrors = new WeakSet<FsError>();

/**
 * Whether `error` means the peer could not be reached (connection refused, reset, timed out),
 * as opposed to an answer it gave (full, refused, not found): callers may stop placing blocks
 * on such a peer for a while.
 */
export function wasUnreachable(error: unknown): boolean {
  return error instanceof FsError && unreachableErrors.has(error);
}

/** Largest error body we read from a peer. */
const maxErrorBodyBytes = 16 * 1024;
/** Largest JSON success body (`{id}`, `{proof}`). */
const maxJsonBodyBytes = 4 * 1024;

const challengeLabel = labelBytes(labels.challenge);

/**
 * The proof of storage for a challenge: SHA-256(label "peervault/v1/challenge\0" || nonce ||
 * block). The block route computes it over the stored block; an auditor who kept the block (or
 * precomputed proofs for nonces it will use later) compares the peer's answer with it.
 */
export function challengeProof(
  nonce: Uint8Array,
  block: Uint8Array | readonly Uint8Array[],
): Uint8Array {
  const hash = createHash('sha256').update(challengeLabel).update(nonce);
  if (block instanceof Uint8Array) hash.update(block);
  else for (const part of block) hash.update(part);
  return new Uint8Array(hash.digest());
}

/** The first kind with `status`, for answers without a body (HEAD). */
function kindOfStatus(status: number): ErrorKind {
  return errorKinds.find((kind) => httpStatus[kind] === status) ?? 'internal';
}

/**
 * `https://host:port` of a peer address, refusing anything that is not exactly a host and a
 * port: the address comes from another peer's record, and must not smuggle a path, user info
 * or another scheme into our URLs.
 */
function originOf(address: string, op: string): string {
  const invalid = () => new FsError('invalid', 'a peer address is host:port', { op });
  if (!/^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/.test(address)) throw invalid();
  let url: URL;
  try {
    url = new URL(`https://${address}`);
  } catch {
    throw invalid();
  }
  if (url.port === '' || Number(url.port) === 0) throw invalid();
  return url.origin;
}

/** Reads a response body up to `limit` bytes. @returns undefined when it is larger. */
async function readBounded(
  body: Dispatcher.ResponseData['body'],
  limit: number,
): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let length = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    length += chunk.length;
    if (length > limit) {
      body.destroy();
      return undefined;
    }
    chunks.push(chunk);
  }
  return chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, length);
}

/** Creates a block client presenting `init.identity` to every peer. */
export function createBlockClient(init: BlockClientInit): BlockClient {
  /** One pinned agent per peer key (base64url): a connection pool that only that key can serve. */
  const agents = new Map<string, Agent>();
  let closed = false;

  const agentFor = (peer: PeerAddress, op: string): Agent => {
    if (closed) throw new FsError('unavailable', 'the block client is closed', { op });
    const keyText = toBase64url(peer.key);
    let agent = agents.get(keyText);
    if (agent === undefined) {
      // Security-sensitive: the pin is the peer's registered key; the agent's connector refuses
      // any other server before a byte of our request (or capability) is written.
      agent = createPinnedAgent(
        { publicKey: peer.key },
        {
          clientCertificate: init.identity,
          peerName: `peer ${fingerprint(peer.key)}`,
          ...(init.connectTimeoutMs === undefined
            ? {}
            : { connectTimeoutMs: init.connectTimeoutMs }),
        },
      );
      agents.set(keyText, agent);
    }
    return agent;
  };

  /** Sends one request; network failures become `unavailable`, pin failures stay `integrity`. */
  const send = async (
    peer: PeerAddress,
    op: string,
    method: 'GET' | 'PUT' | 'HEAD' | 'POST',
    path: string,
    capability: Uint8Array | null,
    extra: { headers?: Record<string, string>; body?: Buffer | Readable; signal?: AbortSignal },
  ): Promise<Dispatcher.ResponseData> => {
    const url = originOf(peer.address, op) + path;
    const dispatcher = agentFor(peer, op);
    try {
      return await httpRequest(url, {
        method,
        dispatcher,
        headers:
          capability === null
            ? { ...extra.headers }
            : { ...extra.headers, [capabilityHeader]: toBase64url(capability) },
        body: extra.body ?? null,
        ...(extra.signal === undefined ? {} : { signal: extra.signal }),
      });
    } catch (err) {
      if (err instanceof FsError) {
        // The pinned connector's own failure to connect (a pin failure stays `integrity`).
        if (err.kind === 'unavailable' && extra.signal?.aborted !== true)
          unreachableErrors.add(err);
        throw err;
      }
      const unreachable = new FsError(
        'unavailable',
        `could not reach peer ${fingerprint(peer.key)}`,
        {
          op,
          cause: err,
        },
      );
      // An abort is the caller's decision, not the peer's state.
      if (extra.signal?.aborted !== true) unreachableErrors.add(unreachable);
      throw unreachable;
    }
  };

  /** Reads a body, mapping a connection lost half-way to `unavailable`. */
  const read = async (
    response: Dispatcher.ResponseData,
    limit: number,
    op: string,
  ): Promise<Buffer | undefined> => {
    try {
      return await readBounded(response.body, limit);
    } catch (err) {
      throw new FsError('unavailable', 'the peer closed the connection mid-answer', {
        op,
        cause: err,
      });
    }
  };

  /** The FsError a non-2xx answer describes (as directory-client.ts `call` does). */
  const failure = async (response: Dispatcher.ResponseData, op: string): Promise<FsError> => {
    const status = response.statusCode;
    const text = await read(response, maxErrorBodyBytes, op).catch(() => undefined);
    let error: { kind?: unknown; op?: unknown; message?: unknown } | undefined;
    try {
      error =
        text === undefined || text.length === 0
          ? undefined
          : (JSON.parse(text.toString()) as typeof error);
    } catch {
      error = undefined;
    }
    const kind = isErrorKind(error?.kind) ? error.kind : kindOfStatus(status);
    // The message is the peer's text, shown to a person; it is never interpreted.
    const message = typeof error?.message === 'string' ? error.message : `HTTP ${status}`;
    return new FsError(kind, message, { op: typeof error?.op === 'string' ? error.op : op });
  };

  /** A JSON success body, bounded. */
  const json = async (
    response: Dispatcher.ResponseData,
    op: string,
    limit = maxJsonBodyBytes,
  ): Promise<unknown> => {
    const body = await read(response, limit, op);
    try {
      if (body === undefined) throw new Error('too large');
      return JSON.parse(body.toString('utf8')) as unknown;
    } catch {
      throw new FsError('integrity', 'the peer sent a malformed answer', { op });
    }
  };

  const blockPath = (id: BlockId): string => `/v1/blocks/${id}`;

  /**
   * Runs one call; when the caller aborted it, rethrows the signal's reason (an AbortError)
   * rather than the `unavailable` the torn connection looks like: aborting is the caller's
   * decision, not the peer's fault, and must not be counted against the peer.
   */
  const honourAbort = async <T>(
    signal: AbortSignal | undefined,
    run: () => Promise<T>,
  ): Promise<T> => {
    try {
      return await run();
    } catch (err) {
      if (signal?.aborted === true) throw signal.reason;
      throw err;
    }
  };

  return {
    put(peer, id, parts, capability, options = {}) {
      return honourAbort(options.signal, async () => {
        const op = 'block.put';
        const list: readonly Uint8Array[] = parts instanceof Uint8Array ? [parts] : parts;
        const length = list.reduce((sum, part) => sum + part.byteLength, 0);
        if (length > maxBlockBytes) {
          throw new FsError('invalid', `a block is at most ${maxBlockBytes} bytes`, { op });
        }
        // Streamed part by part (no join): undici writes each part as it is pulled, and checks
        // that the total matches the content length we announce.
        const body = Readable.from(list, { objectMode: false });
        const response = await send(peer, op, 'PUT', blockPath(id), capability, {
          headers: {
            'content-type': 'application/octet-stream',
            'content-length': String(length),
          },
          body,
          ...(options.signal === undefined ? {} : { signal: options.signal }),
        });
        if (response.statusCode !== 201) throw await failure(response, op);
        await read(response, maxJsonBodyBytes, op);
      });
    },

    get(peer, id, capability, options = {}) {
      return honourAbort(options.signal, async () => {
        const op = 'block.get';
        const response = await send(peer, op, 'GET', blockPath(id), capability, {
          ...(options.signal === undefined ? {} : { signal: options.signal }),
        });
        if (response.statusCode !== 200) throw await failure(response, op);
        // Security-sensitive: bound what a peer can make us buffer, then verify every byte.
        const announced = Number(response.headers['content-length']);
        if (Number.isFinite(announced) && announced > maxBlockBytes) {
          response.body.destroy();
          throw new FsError('integrity', 'the peer answered with more than a block', { op });
        }
        const bytes = await read(response, maxBlockBytes, op);
        if (bytes === undefined) {
          throw new FsError('integrity', 'the peer answered with more than a block', { op });
        }
        const block = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
        verifyBlock(id, block); // integrity: forged, corrupted or truncated bytes never get out
        return block;
      });
    },

    has(peer, id, capability, options = {}) {
      return honourAbort(options.signal, async () => {
        const op = 'block.has';
        const response = await send(peer, op, 'HEAD', blockPath(id), capability, {
          ...(options.signal === undefined ? {} : { signal: options.signal }),
        });
        await read(response, maxErrorBodyBytes, op).catch(() => undefined); // HEAD: no body
        if (response.statusCode === 200) return true;
        if (response.statusCode === 404) return false;
        throw new FsError(kindOfStatus(response.statusCode), `HTTP ${response.statusCode}`, { op });
      });
    },

    challenge(peer, id, nonce, capability, options = {}) {
      return honourAbort(options.signal, async () => {
        const op = 'block.challenge';
        const response = await send(peer, op, 'POST', `${blockPath(id)}/challenge`, capability, {
          headers: { 'content-type': 'application/json' },
          body: Buffer.from(JSON.stringify({ nonce: toBase64url(nonce) })),
          ...(options.signal === undefined ? {} : { signal: options.signal }),
        });
        if (response.statusCode !== 200) throw await failure(response, op);
        const answer = (await json(response, op)) as { proof?: unknown } | null;
        if (typeof answer?.proof !== 'string') {
          throw new FsError('integrity', 'the peer sent a malformed answer', { op });
        }
        try {
          return fromBase64url(answer.proof, 'proof', { length: 32 });
        } catch {
          throw new FsError('integrity', 'the peer sent a malformed proof', { op });
        }
      });
    },

    async exchange(peer, path, body, maxAnswerBytes) {
      const op = 'peer.exchange';
      const response = await send(peer, op, 'POST', path, null, {
        headers: { 'content-type': 'application/json' },
        body: Buffer.from(JSON.stringify(body)),
      });
      if (response.statusCode !== 200) throw await failure(response, op);
      return json(response, op, maxAnswerBytes);
    },

    async close() {
      if (closed) return;
      closed = true;
      const all = [...agents.values()];
      agents.clear();
      await Promise.all(all.map((agent) => agent.close()));
    },
  };
}

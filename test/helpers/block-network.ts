/**
 * A small in-process network of real block peers for tests: each peer is buildBlockServer over
 * a memory store, with its own identity key and TLS certificate, listening on 127.0.0.1:0 with
 * mutual TLS 1.3, and one client peer (with a real block client) that every server accepts.
 * Capabilities come from one user whose key every server knows.
 *
 * A peer can be stopped (its address then refuses connections, as a peer that went down) or
 * made to lie (its store serves every block with one byte flipped, and the server sends those
 * bytes: only the client's re-hash catches it).
 */
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { blockIdOf } from '../../src/crypto/block-id.js';
import { SigningKeyPair } from '../../src/crypto/keys.js';
import type { BlockStore } from '../../src/interface/block-store.js';
import { FsError } from '../../src/interface/errors.js';
import { type BlockId, fileIdFromBytes } from '../../src/interface/ids.js';
import { parseUserName } from '../../src/interface/names.js';
import {
  type BlockClient,
  createBlockClient,
  type PeerAddress,
} from '../../src/peer/block-client.js';
import { buildBlockServer } from '../../src/peer/block-routes.js';
import { createMemoryBlockStore } from '../../src/peer/blockstore/memory-store.js';
import { type BlockOp, issueCapability } from '../../src/wire/capability.js';
import { createSelfSignedCertificate, type TlsIdentity } from '../../src/wire/tls-certificate.js';
import { flipByte } from './expect-error.js';

/** One block peer of a {@link BlockNetwork}. */
export interface NetworkPeer {
  /** Where it listens and its identity key, as the registry would list it. */
  address: PeerAddress;
  /** Its memory store (use corruptForTesting from block-stores.ts to rot a block). */
  store: BlockStore;
  app: FastifyInstance;
  /** Whether its store serves flipped bytes (the server then sends them as they are). */
  lying: boolean;
  /** Whether it answers `has` with yes for every block, held or not (a hollow peer). */
  claimsAll: boolean;
  /** Stops listening; later connections to its address are refused. Idempotent. */
  stop(): Promise<void>;
}

/** The network: peers, a client peer, and a user who issues capabilities. */
export interface BlockNetwork {
  peers: NetworkPeer[];
  /** The client peer's block client. */
  client: BlockClient;
  /** A capability from the user for `ops` on `blocks` at `peer`. */
  capability: (
    peer: PeerAddress,
    blocks: readonly BlockId[],
    ops: readonly BlockOp[],
  ) => Uint8Array;
  /** Starts one more peer and adds it to `peers`. */
  addPeer(): Promise<NetworkPeer>;
  /** Closes the client, then every peer. Idempotent. */
  close(): Promise<void>;
}

/** A sealed-looking block: random bytes and their id. */
export function randomBlock(size = 4096): { id: BlockId; bytes: Uint8Array } {
  const bytes = new Uint8Array(randomBytes(size));
  return { id: blockIdOf(bytes), bytes };
}

const tlsIdentityOf = (key: SigningKeyPair): TlsIdentity =>
  createSelfSignedCertificate(key, { commonName: 'peervault peer' });

/**
 * A view of `store` whose reads flip a byte when `peer.lying` says so, without re-hashing, and
 * that claims every block when `peer.claimsAll` says so.
 */
function lyingStore(
  store: BlockStore,
  peer: { readonly lying: boolean; readonly claimsAll: boolean },
): BlockStore {
  return {
    put: (id, bytes, options) => store.put(id, bytes, options),
    get: async (id, options) => {
      const bytes = await store.get(id, options);
      return peer.lying ? flipByte(bytes, Math.floor(bytes.length / 2)) : bytes;
    },
    has: async (id, options) => peer.claimsAll || (await store.has(id, options)),
    delete: (id, options) => store.delete(id, options),
    list: (options) => store.list(options),
    usage: () => store.usage(),
    close: () => store.close(),
  };
}

/** Starts `count` block peers and a client peer on 127.0.0.1. Close it in `afterAll`. */
export async function startBlockNetwork(count: number): Promise<BlockNetwork> {
  const user = parseUserName('alice');
  const userKey = SigningKeyPair.generate();
  const file = fileIdFromBytes(randomBytes(16));
  const clientKey = SigningKeyPair.generate();
  const client = createBlockClient({ identity: tlsIdentityOf(clientKey) });
  const peers: NetworkPeer[] = [];

  const addPeer = async (): Promise<NetworkPeer> => {
    const key = SigningKeyPair.generate();
    const store = createMemoryBlockStore({ capacity: 256 * 1024 * 1024 });
    const peer: Partial<NetworkPeer> & { lying: boolean; claimsAll: boolean } = {
      store,
      lying: false,
      claimsAll: false,
    };
    const app = buildBlockServer({
      identity: tlsIdentityOf(key),
      store: lyingStore(store, peer),
      self: key.publicKey,
      issuerKey: (name) =>
        name === user
          ? Promise.resolve(userKey.publicKey)
          : Promise.reject(new FsError('not-exist', 'no such user', { op: 'keys' })),
      peerAllowed: (candidate) =>
        Promise.resolve(Buffer.from(candidate).equals(Buffer.from(clientKey.publicKey))),
      onRefusal: () => undefined,
      now: () => Date.now(),
    });
    await app.listen({ host: '127.0.0.1', port: 0 });
    let stopped: Promise<void> | undefined;
    Object.assign(peer, {
      app,
      address: {
        address: `127.0.0.1:${(app.server.address() as AddressInfo).port}`,
        key: key.publicKey,
      },
      stop: () => (stopped ??= app.close()),
    });
    peers.push(peer as NetworkPeer);
    return peer as NetworkPeer;
  };

  for (let i = 0; i < count; i++) await addPeer();

  let closed: Promise<void> | undefined;
  return {
    peers,
    client,
    capability: (peer, blocks, ops) =>
      issueCapability(userKey, {
        issuer: user,
        file,
        ops,
        blocks,
        audience: peer.key,
        now: Date.now(),
      }),
    addPeer,
    close: () =>
      (closed ??= (async () => {
        await client.close();
        await Promise.all(peers.map((peer) => peer.stop()));
      })()),
  };
}

/**
 * Peer records (a peer's self-signed registration and heartbeat) and the directory's signed
 * list of live peers.
 *
 * `peer-record/v1` body: { key: bytes(32), address: text "host:port", capacity: uint, time: uint }
 *   signed by `key` itself: only the holder of a key can register or refresh it.
 * `peer-list/v1` body: { time: uint, peers: [{ key: bytes(32), address: text, capacity: uint,
 *   lastSeen: uint }] } signed by the directory's identity key, which clients pin.
 */
import { FsError, integrityError } from '../interface/errors.js';
import { constantTimeEqual } from '../crypto/bytes.js';
import { type CborMap, type CborValue, field, isMap } from '../crypto/canonical.js';
import type { SigningKeyPair } from '../crypto/keys.js';
import { claimedSigner, signMessage, verifyMessage } from '../crypto/sign.js';

/** A peer's claims about itself. */
export interface PeerClaims {
  key: Uint8Array;
  address: string;
  capacity: number;
  time: number;
}

/** A live peer as the directory lists it. */
export interface ListedPeer {
  key: Uint8Array;
  address: string;
  capacity: number;
  lastSeen: number;
}

const addressPattern = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]{1,253}):([0-9]{1,5})$/;

/** Checks a `host:port` address. @throws FsError `invalid` */
export function parsePeerAddress(address: string): string {
  const match = addressPattern.exec(address);
  const port = match ? Number(match[2]) : 0;
  if (!match || port < 1 || port > 65535) {
    throw new FsError('invalid', 'a peer address is host:port', { op: 'peer.address' });
  }
  return address;
}

function exactKeys(map: CborMap, keys: readonly string[], op: string): void {
  const present = Object.keys(map);
  if (present.length !== keys.length || !keys.every((k) => Object.hasOwn(map, k))) {
    throw integrityError(op);
  }
}

/** Signs a peer's registration or heartbeat with its own key. */
export function signPeerRecord(key: SigningKeyPair, claims: Omit<PeerClaims, 'key'>): Uint8Array {
  return signMessage(key, 'peer-record', {
    key: key.publicKey,
    address: claims.address,
    capacity: claims.capacity,
    time: claims.time,
  });
}

/**
 * Verifies a self-signed peer record.
 * @throws FsError `integrity` when malformed or not signed by the key it names.
 */
export function openPeerRecord(envelope: Uint8Array): PeerClaims {
  const op = 'peer-record.open';
  const signer = claimedSigner(envelope, 'peer-record');
  const { body } = verifyMessage(envelope, 'peer-record', [signer]);
  if (!isMap(body)) throw integrityError(op);
  exactKeys(body, ['key', 'address', 'capacity', 'time'], op);
  const key = field.bytes(body, 'key', op, 32);
  if (!constantTimeEqual(key, signer)) throw integrityError(op);
  let address: string;
  try {
    address = parsePeerAddress(field.text(body, 'address', op));
  } catch {
    throw integrityError(op);
  }
  return {
    key,
    address,
    capacity: field.uint(body, 'capacity', op),
    time: field.uint(body, 'time', op),
  };
}

/** Signs the list of live peers (the directory). */
export function signPeerList(
  directoryKey: SigningKeyPair,
  time: number,
  peers: readonly ListedPeer[],
): Uint8Array {
  return signMessage(directoryKey, 'peer-list', {
    time,
    peers: peers.map((p) => ({
      key: p.key,
      address: p.address,
      capacity: p.capacity,
      lastSeen: p.lastSeen,
    })),
  });
}

/**
 * Verifies the directory's peer list against its pinned key.
 * @throws FsError `integrity`
 */
export function openPeerList(
  envelope: Uint8Array,
  directoryKey: Uint8Array,
): { time: number; peers: ListedPeer[] } {
  const op = 'peer-list.open';
  const { body } = verifyMessage(envelope, 'peer-list', [directoryKey]);
  if (!isMap(body)) throw integrityError(op);
  exactKeys(body, ['time', 'peers'], op);
  const list = body['peers'];
  if (!Array.isArray(list)) throw integrityError(op);
  const peers = (list as readonly CborValue[]).map((map) => {
    if (!isMap(map)) throw integrityError(op);
    exactKeys(map, ['key', 'address', 'capacity', 'lastSeen'], op);
    return {
      key: field.bytes(map, 'key', op, 32),
      address: field.text(map, 'address', op),
      capacity: field.uint(map, 'capacity', op),
      lastSeen: field.uint(map, 'lastSeen', op),
    };
  });
  return { time: field.uint(body, 'time', op), peers };
}

/**
 * Key logs: each user's append-only, hash-chained, signed list of key events.
 *
 * Anyone can fetch a user's log from the directory and check it without trusting the directory:
 * event 0 (`created`) is signed by the key it introduces; every later event names the hash of
 * the one before (`prev`) and is signed by the key that was current before it, so the directory
 * can neither forge an event, drop one from the middle, nor reorder them. It can withhold the
 * newest events (rollback); clients remember the head they have seen and refuse to go back
 * (a later issue gossips heads to catch forks).
 *
 * Body of a `key-log-entry/v1` message (canonical CBOR map):
 *   { user: text, seq: uint, prev: bytes(32), event: "created" | "rotated",
 *     identity: bytes (encoded public identity), time: uint (ms) }
 * `prev` is 32 zero bytes for seq 0, else chainHash(previous envelope).
 */
import { createHash } from 'node:crypto';
import { integrityError } from '../interface/errors.js';
import { parseUserName, type UserName } from '../interface/names.js';
import { concatBytes, constantTimeEqual } from '../crypto/bytes.js';
import { type CborValue, isMap, field } from '../crypto/canonical.js';
import {
  decodePublicIdentity,
  encodePublicIdentity,
  type IdentityKeys,
  type PublicIdentity,
} from '../crypto/identity.js';
import { labelBytes, labels } from '../crypto/labels.js';
import type { SigningKeyPair } from '../crypto/keys.js';
import { claimedSigner, signMessage, verifyMessage } from '../crypto/sign.js';

/**
 * Key events. `rotated` replaces the identity; `revoked` replaces it because the old one may be
 * compromised: signed by the old key and carrying a `proof` signed by the new one, so neither a
 * thief of the old key alone nor a holder of a new key alone can append it.
 */
export const keyEvents = ['created', 'rotated', 'revoked'] as const;
/** One of {@link keyEvents}. */
export type KeyEvent = (typeof keyEvents)[number];

/** A decoded key-log event. */
export interface KeyLogEntry {
  user: UserName;
  seq: number;
  prev: Uint8Array;
  event: KeyEvent;
  identity: PublicIdentity;
  time: number;
}

/** An identity the log replaced, and how. */
export interface ReplacedIdentity {
  identity: PublicIdentity;
  /** The seq of the event that replaced it: nothing it signs counts after that. */
  until: number;
  /** Whether it was revoked (a suspected compromise) rather than rotated. */
  revoked: boolean;
}

/** What a verified log proves: the user's current identity and the head it was read at. */
export interface KeyLogState {
  user: UserName;
  identity: PublicIdentity;
  /** Sequence number of the newest event. */
  seq: number;
  /** chainHash of the newest event's envelope. */
  head: Uint8Array;
  /** The identities it replaced, oldest first. */
  replaced?: readonly ReplacedIdentity[];
}

const zeroHash = new Uint8Array(32);
const entryKeys = ['user', 'seq', 'prev', 'event', 'identity', 'time'];
const revokedKeys = [...entryKeys, 'proof'];

/** The part of a revocation that the new key signs (`key-proof`): it binds the new key to it. */
function proofBody(entry: KeyLogEntry) {
  return {
    user: entry.user,
    seq: entry.seq,
    prev: entry.prev,
    identity: encodePublicIdentity(entry.identity),
  };
}

/** The hash that chains events (and entry versions): SHA-256 of a label and the envelope. */
export function chainHash(envelope: Uint8Array): Uint8Array {
  return new Uint8Array(
    createHash('sha256')
      .update(concatBytes(labelBytes(labels.chainHash), envelope))
      .digest(),
  );
}

function decodeBody(body: CborValue, op: string): KeyLogEntry {
  if (!isMap(body)) throw integrityError(op);
  const event = field.text(body, 'event', op);
  if (!(keyEvents as readonly string[]).includes(event)) throw integrityError(op);
  const expected = event === 'revoked' ? revokedKeys : entryKeys;
  const keys = Object.keys(body);
  if (keys.length !== expected.length || !expected.every((k) => Object.hasOwn(body, k))) {
    throw integrityError(op);
  }
  let user: UserName;
  try {
    user = parseUserName(field.text(body, 'user', op));
  } catch {
    throw integrityError(op);
  }
  const entry: KeyLogEntry = {
    user,
    seq: field.uint(body, 'seq', op),
    prev: field.bytes(body, 'prev', op, 32),
    event: event as KeyEvent,
    identity: decodePublicIdentity(field.bytes(body, 'identity', op)),
    time: field.uint(body, 'time', op),
  };
  if (event === 'revoked') {
    // The new key must have signed this very event (user, place in the log, identity).
    const proof = verifyMessage(field.bytes(body, 'proof', op), 'key-proof', [
      entry.identity.signingKey,
    ]);
    const expectedProof = proofBody(entry);
    if (
      !isMap(proof.body) ||
      proof.body['user'] !== expectedProof.user ||
      proof.body['seq'] !== expectedProof.seq ||
      !(proof.body['prev'] instanceof Uint8Array) ||
      !constantTimeEqual(proof.body['prev'], expectedProof.prev) ||
      !(proof.body['identity'] instanceof Uint8Array) ||
      !constantTimeEqual(proof.body['identity'], expectedProof.identity) ||
      Object.keys(proof.body).length !== 4
    ) {
      throw integrityError(op);
    }
  }
  return entry;
}

function sign(signer: SigningKeyPair, entry: KeyLogEntry, proof?: Uint8Array): Uint8Array {
  return signMessage(signer, 'key-log-entry', {
    user: entry.user,
    seq: entry.seq,
    prev: entry.prev,
    event: entry.event,
    identity: encodePublicIdentity(entry.identity),
    time: entry.time,
    ...(proof === undefined ? {} : { proof }),
  });
}

/** The first event of a new user's log, signed by the identity it introduces. */
export function makeGenesis(user: UserName, keys: IdentityKeys, now: number): Uint8Array {
  return sign(keys.signing, {
    user,
    seq: 0,
    prev: zeroHash,
    event: 'created',
    identity: keys.public,
    time: now,
  });
}

/**
 * A rotation to `next`, signed by the current key. (The revocation issue adds a second
 * signature by the new key and revocation events.)
 */
export function makeRotation(
  state: KeyLogState,
  current: SigningKeyPair,
  next: PublicIdentity,
  now: number,
): Uint8Array {
  return sign(current, {
    user: state.user,
    seq: state.seq + 1,
    prev: state.head,
    event: 'rotated',
    identity: next,
    time: now,
  });
}

/**
 * A revocation: the identity is replaced by `next` because the current one may be compromised.
 * Signed by the current key, with a proof signed by the new one (`next` must be its key pair).
 */
export function makeRevocation(
  state: KeyLogState,
  current: SigningKeyPair,
  next: IdentityKeys,
  now: number,
): Uint8Array {
  const entry: KeyLogEntry = {
    user: state.user,
    seq: state.seq + 1,
    prev: state.head,
    event: 'revoked',
    identity: next.public,
    time: now,
  };
  return sign(current, entry, signMessage(next.signing, 'key-proof', proofBody(entry)));
}

/** Reads an event's body after checking its signature by `signer`. */
function openEntry(envelope: Uint8Array, signers: Uint8Array[], op: string): KeyLogEntry {
  return decodeBody(verifyMessage(envelope, 'key-log-entry', signers).body, op);
}

/**
 * Verifies a whole key log and returns what it proves.
 * @throws FsError `integrity` when any event is malformed, out of sequence, unchained, signed
 *   by the wrong key, or about another user; or when the log is empty.
 */
export function verifyKeyLog(user: UserName, envelopes: readonly Uint8Array[]): KeyLogState {
  const op = 'key-log.verify';
  const [first, ...rest] = envelopes;
  if (first === undefined) throw integrityError(op);
  // Genesis is self-signed: the signer must be the key the event introduces.
  const genesis = openEntry(first, [claimedSigner(first, 'key-log-entry')], op);
  if (
    genesis.user !== user ||
    genesis.seq !== 0 ||
    genesis.event !== 'created' ||
    !constantTimeEqual(genesis.prev, zeroHash) ||
    !constantTimeEqual(genesis.identity.signingKey, claimedSigner(first, 'key-log-entry'))
  ) {
    throw integrityError(op);
  }
  let state: KeyLogState = { user, identity: genesis.identity, seq: 0, head: chainHash(first) };
  for (const envelope of rest) state = verifyKeyLogAppend(state, envelope);
  return state;
}

/**
 * Verifies one event appended after `state` and returns the new state.
 * @throws FsError `integrity` as for {@link verifyKeyLog}.
 */
export function verifyKeyLogAppend(state: KeyLogState, envelope: Uint8Array): KeyLogState {
  const op = 'key-log.verify';
  const entry = openEntry(envelope, [state.identity.signingKey], op);
  if (
    entry.user !== state.user ||
    entry.seq !== state.seq + 1 ||
    !constantTimeEqual(entry.prev, state.head) ||
    entry.event === 'created'
  ) {
    throw integrityError(op);
  }
  return {
    user: state.user,
    identity: entry.identity,
    seq: entry.seq,
    head: chainHash(envelope),
    replaced: [
      ...(state.replaced ?? []),
      { identity: state.identity, until: entry.seq, revoked: entry.event === 'revoked' },
    ],
  };
}

/**
 * Capabilities: short-lived, signed permissions to put or read named blocks at one peer.
 *
 * Body of a `capability/v1` message (canonical CBOR map; docs/formats.md):
 *   { iss: user, file: file id, ops: ["put" | "get" | "has" | "challenge"…],
 *     blocks: [block id…] (1-1024), aud: bytes(32) (the peer's key), iat: uint, exp: uint,
 *     nonce: bytes(16) }
 * signed by the issuer's current identity key. A peer accepts a request only with a capability
 * addressed to it (`aud`), unexpired, at most {@link maxCapabilityLifetimeMs} long, naming the
 * operation and the block, and signed by the current key of the user it names.
 */
import { FsError, integrityError } from '../interface/errors.js';
import { type BlockId, type FileId, parseBlockId, parseFileId } from '../interface/ids.js';
import { parseUserName, type UserName } from '../interface/names.js';
import { constantTimeEqual } from '../crypto/bytes.js';
import { type CborValue, decodeCanonical, field, isMap } from '../crypto/canonical.js';
import type { SigningKeyPair } from '../crypto/keys.js';
import { randomBytesOf } from '../crypto/random.js';
import { signMessage, verifyMessage } from '../crypto/sign.js';

/** Operations a capability can grant. */
export const blockOps = ['put', 'get', 'has', 'challenge'] as const;
/** One of {@link blockOps}. */
export type BlockOp = (typeof blockOps)[number];
/** Longest lifetime a peer accepts. */
export const maxCapabilityLifetimeMs = 10 * 60 * 1000;
/** Clock skew a peer tolerates on `iat`. */
export const capabilitySkewMs = 60 * 1000;
/** Most blocks one capability may name. */
export const maxCapabilityBlocks = 1024;
/** The header that carries a capability (base64url of the envelope). */
export const capabilityHeader = 'x-peervault-capability';

/** What a capability grants. */
export interface Capability {
  issuer: UserName;
  file: FileId;
  ops: readonly BlockOp[];
  blocks: readonly BlockId[];
  audience: Uint8Array;
  issuedAt: number;
  expiresAt: number;
}

const keys = ['iss', 'file', 'ops', 'blocks', 'aud', 'iat', 'exp', 'nonce'];

/** Issues a capability (the issuer's agent does this). */
export function issueCapability(
  issuerKey: SigningKeyPair,
  grant: Omit<Capability, 'issuedAt' | 'expiresAt'> & { now: number; lifetimeMs?: number },
): Uint8Array {
  const lifetime = Math.min(grant.lifetimeMs ?? 5 * 60 * 1000, maxCapabilityLifetimeMs);
  if (grant.blocks.length === 0 || grant.blocks.length > maxCapabilityBlocks) {
    throw new RangeError(`a capability names 1 to ${maxCapabilityBlocks} blocks`);
  }
  return signMessage(issuerKey, 'capability', {
    iss: grant.issuer,
    file: grant.file,
    ops: [...grant.ops],
    blocks: [...grant.blocks],
    aud: grant.audience,
    iat: grant.now,
    exp: grant.now + lifetime,
    nonce: randomBytesOf(16),
  });
}

function decodeBody(body: CborValue, op: string): Capability {
  if (!isMap(body)) throw integrityError(op);
  const present = Object.keys(body);
  if (present.length !== keys.length || !keys.every((k) => Object.hasOwn(body, k)))
    throw integrityError(op);
  const ops = body['ops'];
  const blocks = body['blocks'];
  if (!Array.isArray(ops) || !Array.isArray(blocks)) throw integrityError(op);
  if (
    blocks.length === 0 ||
    blocks.length > maxCapabilityBlocks ||
    ops.length === 0 ||
    ops.length > blockOps.length
  ) {
    throw integrityError(op);
  }
  try {
    return {
      issuer: parseUserName(field.text(body, 'iss', op)),
      file: parseFileId(field.text(body, 'file', op)),
      ops: (ops as readonly CborValue[]).map((o) => {
        if (typeof o !== 'string' || !(blockOps as readonly string[]).includes(o))
          throw integrityError(op);
        return o as BlockOp;
      }),
      blocks: (blocks as readonly CborValue[]).map((b) => {
        if (typeof b !== 'string') throw integrityError(op);
        return parseBlockId(b);
      }),
      audience: field.bytes(body, 'aud', op, 32),
      issuedAt: field.uint(body, 'iat', op),
      expiresAt: field.uint(body, 'exp', op),
    };
  } catch {
    throw integrityError(op);
  }
}

/** Reads who a capability claims to be from, WITHOUT verifying (to look up their key). */
export function claimedIssuer(envelope: Uint8Array): UserName {
  const op = 'capability.read';
  try {
    const outer = decodeCanonical(envelope, op, 256 * 1024);
    if (!isMap(outer)) throw integrityError(op);
    return decodeBody(decodeCanonical(field.bytes(outer, 'body', op), op), op).issuer;
  } catch {
    throw new FsError('permission', 'the capability is malformed', { op });
  }
}

/**
 * Why {@link checkCapability} refused a capability. A peer branches on this, never on the
 * message. Every fault but `signature` comes with a capability whose signature verified.
 */
export type CapabilityFault =
  'signature' | 'audience' | 'lifetime' | 'expired' | 'not-yet-valid' | 'op' | 'block';

/**
 * The `permission` error of {@link checkCapability}: an {@link FsError} (the wire sees
 * `{kind, op, message}` as for any other), with the typed reason and, when the signature
 * verified, the capability itself.
 */
export class CapabilityRefusedError extends FsError {
  /** Which check failed. */
  readonly fault: CapabilityFault;
  /** The capability, when it was validly signed (every fault but `signature`). */
  readonly capability: Capability | undefined;

  constructor(fault: CapabilityFault, message: string, capability?: Capability) {
    super('permission', message, { op: 'capability.check' });
    this.fault = fault;
    this.capability = capability;
  }
}

/**
 * How long after its expiry a refused capability counts as a replay (`stale`) rather than an
 * honest agent's slow transfer. A capability lives at most {@link maxCapabilityLifetimeMs}
 * (10 min); an agent issues it just before it sends, and a request that starts after expiry
 * is late by the seconds or minutes of a slow transfer or a clock a little off. A clock more
 * than 5 minutes off cannot talk to the directory at all (request-auth's `maxClockSkewMs`),
 * so no working agent's capability arrives 10 minutes past its expiry: that is someone
 * sending one they kept.
 */
export const staleCapabilityMarginMs = 10 * 60 * 1000;

/**
 * What a refusal says about the bearer, for the peer's report to the directory (the monitor's
 * `capability-misuse`): `foreign` for a validly signed capability addressed to another peer
 * (an honest agent never sends one; a peer replaying one it received does), `stale` for one
 * that expired more than {@link staleCapabilityMarginMs} before `now` (a captured capability
 * replayed). Undefined for everything else, above all a capability whose signature did not
 * verify: anyone can write a user's name in a junk header, so that names nobody.
 */
export type CapabilityMisuse = 'foreign' | 'stale';

/** The {@link CapabilityMisuse} that `err` (a refusal of {@link checkCapability}) shows, if any. */
export function capabilityMisuse(err: unknown, now: number): CapabilityMisuse | undefined {
  if (!(err instanceof CapabilityRefusedError) || err.capability === undefined) return undefined;
  if (err.fault === 'audience') return 'foreign';
  if (err.fault === 'expired' && now - err.capability.expiresAt > staleCapabilityMarginMs) {
    return 'stale';
  }
  return undefined;
}

/**
 * Checks that `envelope` lets its bearer do `op` on `block` at the peer `self`, now.
 * @param issuerKey the issuer's current signing key (from their verified key log).
 * @throws CapabilityRefusedError (an FsError `permission`) for any failure, with its
 *   {@link CapabilityFault}: a bad signature, another peer, a lifetime over the limit, expired
 *   or not yet valid, another operation or block. The message says which, for the refusal log.
 */
export function checkCapability(
  envelope: Uint8Array,
  issuerKey: Uint8Array,
  request: { op: BlockOp; block: BlockId; self: Uint8Array; now: number },
): Capability {
  let capability: Capability;
  try {
    capability = decodeBody(
      verifyMessage(envelope, 'capability', [issuerKey]).body,
      'capability.check',
    );
  } catch {
    throw new CapabilityRefusedError(
      'signature',
      'the capability is not validly signed by its issuer',
    );
  }
  const refuse = (fault: CapabilityFault, message: string) =>
    new CapabilityRefusedError(fault, message, capability);
  if (!constantTimeEqual(capability.audience, request.self)) {
    throw refuse('audience', 'the capability is for another peer');
  }
  if (capability.expiresAt - capability.issuedAt > maxCapabilityLifetimeMs) {
    throw refuse('lifetime', 'the capability lives longer than allowed');
  }
  if (request.now > capability.expiresAt) {
    throw refuse('expired', 'the capability has expired');
  }
  if (request.now + capabilitySkewMs < capability.issuedAt) {
    throw refuse('not-yet-valid', 'the capability is not yet valid');
  }
  if (!capability.ops.includes(request.op)) {
    throw refuse('op', `the capability does not allow "${request.op}"`);
  }
  if (!capability.blocks.includes(request.block)) {
    throw refuse('block', 'the capability does not name this block');
  }
  return capability;
}

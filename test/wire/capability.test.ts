/**
 * Capabilities from the side of a peer that must refuse everything not granted.
 */
import { describe, expect, it } from 'vitest';
import { blockIdOf } from '../../src/crypto/block-id.js';
import { SigningKeyPair } from '../../src/crypto/keys.js';
import { newFileId } from '../../src/crypto/random.js';
import { signMessage } from '../../src/crypto/sign.js';
import { parseUserName } from '../../src/interface/names.js';
import {
  type CapabilityFault,
  capabilityMisuse,
  CapabilityRefusedError,
  checkCapability,
  claimedIssuer,
  issueCapability,
  maxCapabilityLifetimeMs,
  staleCapabilityMarginMs,
} from '../../src/wire/capability.js';
import { expectKind, flipByte } from '../helpers/expect-error.js';

const alice = SigningKeyPair.generate();
const peer = SigningKeyPair.generate().publicKey;
const otherPeer = SigningKeyPair.generate().publicKey;
const block = blockIdOf(Uint8Array.of(1));
const otherBlock = blockIdOf(Uint8Array.of(2));
const now = 1_800_000_000_000;
const file = newFileId();
const cap = issueCapability(alice, {
  issuer: parseUserName('alice'),
  file,
  ops: ['get', 'has'],
  blocks: [block],
  audience: peer,
  now,
});

describe('capabilities', () => {
  it('grant what they name, to the peer they name, while fresh', () => {
    expect(claimedIssuer(cap)).toBe('alice');
    const granted = checkCapability(cap, alice.publicKey, {
      op: 'get',
      block,
      self: peer,
      now: now + 1000,
    });
    expect(granted.file).toBe(file);
  });

  it('refuse another operation, block or peer', () => {
    expectKind('permission', () =>
      checkCapability(cap, alice.publicKey, { op: 'put', block, self: peer, now }),
    );
    expectKind('permission', () =>
      checkCapability(cap, alice.publicKey, { op: 'get', block: otherBlock, self: peer, now }),
    );
    expectKind('permission', () =>
      checkCapability(cap, alice.publicKey, { op: 'get', block, self: otherPeer, now }),
    );
  });

  it('refuse when expired or not yet valid', () => {
    expectKind('permission', () =>
      checkCapability(cap, alice.publicKey, {
        op: 'get',
        block,
        self: peer,
        now: now + 5 * 60_000 + 1,
      }),
    );
    expectKind('permission', () =>
      checkCapability(cap, alice.publicKey, {
        op: 'get',
        block,
        self: peer,
        now: now - 2 * 60_000,
      }),
    );
  });

  it('refuse a signer other than the issuer’s current key, and any altered byte', () => {
    expectKind('permission', () =>
      checkCapability(cap, SigningKeyPair.generate().publicKey, {
        op: 'get',
        block,
        self: peer,
        now,
      }),
    );
    for (let i = 0; i < cap.length; i += 5) {
      expectKind('permission', () =>
        checkCapability(flipByte(cap, i), alice.publicKey, { op: 'get', block, self: peer, now }),
      );
    }
  });

  it('refuse a lifetime longer than allowed, even when properly signed', () => {
    const long = signMessage(alice, 'capability', {
      iss: 'alice',
      file,
      ops: ['get'],
      blocks: [block],
      aud: peer,
      iat: now,
      exp: now + maxCapabilityLifetimeMs + 1,
      nonce: new Uint8Array(16),
    });
    expectKind('permission', () =>
      checkCapability(long, alice.publicKey, { op: 'get', block, self: peer, now }),
    );
  });

  it('reads a malformed capability as permission refused, never a crash', () => {
    expectKind('permission', () => claimedIssuer(Uint8Array.of(1, 2, 3)));
  });
});

describe('refusals say why, typed, for the monitor', () => {
  const exp = now + 5 * 60_000;
  /** The refusal of `cap` (alice's, for `peer`) under `request`, as thrown. */
  const refusal = (
    request: Partial<Parameters<typeof checkCapability>[2]>,
    key = alice.publicKey,
  ): CapabilityRefusedError => {
    const err = expectKind('permission', () =>
      checkCapability(cap, key, { op: 'get', block, self: peer, now, ...request }),
    );
    expect(err).toBeInstanceOf(CapabilityRefusedError);
    return err as CapabilityRefusedError;
  };

  it('names the failed check, with the capability whenever the signature verified', () => {
    const cases: [CapabilityFault, CapabilityRefusedError][] = [
      ['audience', refusal({ self: otherPeer })],
      ['expired', refusal({ now: exp + 1 })],
      ['not-yet-valid', refusal({ now: now - 2 * 60_000 })],
      ['op', refusal({ op: 'put' })],
      ['block', refusal({ block: otherBlock })],
    ];
    for (const [fault, err] of cases) {
      expect(err.fault).toBe(fault);
      expect(err.capability?.issuer).toBe('alice');
    }
    const forged = refusal({}, SigningKeyPair.generate().publicKey);
    expect(forged.fault).toBe('signature');
    expect(forged.capability).toBeUndefined();
  });

  it('calls a replay only a validly signed capability for another peer or long expired', () => {
    expect(capabilityMisuse(refusal({ self: otherPeer }), now)).toBe('foreign');
    const late = exp + staleCapabilityMarginMs + 1;
    expect(capabilityMisuse(refusal({ now: late }), late)).toBe('stale');
    // A slow transfer: expired by seconds, or by up to the margin.
    for (const at of [exp + 1, exp + 30_000, exp + staleCapabilityMarginMs]) {
      expect(capabilityMisuse(refusal({ now: at }), at)).toBeUndefined();
    }
    // Not signed by alice's key: it names alice, but proves nothing about her.
    const junk = refusal({ self: otherPeer, now: late }, SigningKeyPair.generate().publicKey);
    expect(capabilityMisuse(junk, late)).toBeUndefined();
    expect(capabilityMisuse(refusal({ op: 'put' }), now)).toBeUndefined();
    expect(capabilityMisuse(new Error('other'), now)).toBeUndefined();
  });
});

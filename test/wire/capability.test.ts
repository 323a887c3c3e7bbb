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
  checkCapability,
  claimedIssuer,
  issueCapability,
  maxCapabilityLifetimeMs,
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

/**
 * Key logs, from the side of a directory that wants to lie about someone's keys: forged,
 * reordered, dropped, spliced or relabelled events must all fail verification.
 */
import { describe, expect, it } from 'vitest';
import { encodePublicIdentity, IdentityKeys } from '../../src/crypto/identity.js';
import { signMessage } from '../../src/crypto/sign.js';
import { parseUserName } from '../../src/interface/names.js';
import {
  chainHash,
  makeGenesis,
  makeRevocation,
  makeRotation,
  verifyKeyLog,
  verifyKeyLogAppend,
} from '../../src/wire/key-log.js';
import { expectKind, flipByte } from '../helpers/expect-error.js';

const alice = parseUserName('alice');
const bob = parseUserName('bob');

function threeEvents() {
  const k0 = IdentityKeys.generate();
  const k1 = IdentityKeys.generate();
  const k2 = IdentityKeys.generate();
  const e0 = makeGenesis(alice, k0, 1000);
  const s0 = verifyKeyLog(alice, [e0]);
  const e1 = makeRotation(s0, k0.signing, k1.public, 2000);
  const s1 = verifyKeyLogAppend(s0, e1);
  const e2 = makeRotation(s1, k1.signing, k2.public, 3000);
  return { keys: [k0, k1, k2], events: [e0, e1, e2] };
}

describe('key log', () => {
  it('verifies a genesis and a chain of rotations, ending at the newest key', () => {
    const { keys, events } = threeEvents();
    const state = verifyKeyLog(alice, events);
    expect(state.seq).toBe(2);
    expect(Buffer.compare(state.identity.signingKey, keys[2]!.signing.publicKey)).toBe(0);
    expect(Buffer.compare(state.head, chainHash(events[2]!))).toBe(0);
  });

  it('refuses an empty log, and a log presented for another user', () => {
    const { events } = threeEvents();
    expectKind('integrity', () => verifyKeyLog(alice, []));
    expectKind('integrity', () => verifyKeyLog(bob, events));
  });

  it('refuses a genesis signed by a key other than the one it introduces', () => {
    const victim = IdentityKeys.generate();
    const mallory = IdentityKeys.generate();
    // Mallory signs an event that claims alice's identity is the victim's keys.
    const forged = signMessage(mallory.signing, 'key-log-entry', {
      user: alice,
      seq: 0,
      prev: new Uint8Array(32),
      event: 'created',
      identity: encodePublicIdentity(victim.public),
      time: 1,
    });
    expectKind('integrity', () => verifyKeyLog(alice, [forged]));
  });

  it('refuses a rotation signed by the new key instead of the current one (takeover)', () => {
    const { events } = threeEvents();
    const s0 = verifyKeyLog(alice, [events[0]!]);
    const mallory = IdentityKeys.generate();
    const takeover = makeRotation(s0, mallory.signing, mallory.public, 5000);
    expectKind('integrity', () => verifyKeyLogAppend(s0, takeover));
  });

  it('refuses dropped, reordered and duplicated events', () => {
    const { events } = threeEvents();
    expectKind('integrity', () => verifyKeyLog(alice, [events[0]!, events[2]!]));
    expectKind('integrity', () => verifyKeyLog(alice, [events[0]!, events[2]!, events[1]!]));
    expectKind('integrity', () => verifyKeyLog(alice, [events[0]!, events[1]!, events[1]!]));
    expectKind('integrity', () => verifyKeyLog(alice, [events[1]!, events[2]!]));
  });

  it('refuses events spliced from another user’s log', () => {
    const theirs = threeEvents();
    const ours = threeEvents();
    expectKind('integrity', () => verifyKeyLog(alice, [ours.events[0]!, theirs.events[1]!]));
  });

  it('refuses any single-byte change to any event', () => {
    const { events } = threeEvents();
    for (let e = 0; e < events.length; e++) {
      for (let i = 0; i < events[e]!.length; i += 3) {
        const tampered = events.map((ev, j) => (j === e ? flipByte(ev, i) : ev));
        expectKind('integrity', () => verifyKeyLog(alice, tampered));
      }
    }
  });

  describe('revocation', () => {
    const start = () => {
      const k0 = IdentityKeys.generate();
      const e0 = makeGenesis(alice, k0, 1000);
      return { k0, e0, s0: verifyKeyLog(alice, [e0]) };
    };

    it('replaces a key with one signed by the old key and proved by the new, and remembers the old', () => {
      const { k0, e0, s0 } = start();
      const k1 = IdentityKeys.generate();
      const e1 = makeRevocation(s0, k0.signing, k1, 2000);
      const state = verifyKeyLog(alice, [e0, e1]);
      expect(state.seq).toBe(1);
      expect(Buffer.compare(state.identity.signingKey, k1.signing.publicKey)).toBe(0);
      expect(state.replaced).toHaveLength(1);
      expect(state.replaced![0]).toMatchObject({ until: 1, revoked: true });
      expect(Buffer.compare(state.replaced![0]!.identity.signingKey, k0.signing.publicKey)).toBe(0);
    });

    it('refuses a revocation signed by the thief of the old key with a proof by another key', () => {
      const { k0, s0 } = start();
      const wanted = IdentityKeys.generate();
      const thief = IdentityKeys.generate();
      // The proof must be by the key the event introduces: a proof by any other key fails.
      const genuine = makeRevocation(s0, k0.signing, thief, 2000);
      const swapped = makeRevocation(s0, k0.signing, wanted, 2000);
      expect(() => verifyKeyLogAppend(s0, genuine)).not.toThrow();
      // Re-sign the body of one with the proof of the other: integrity.
      const forged = signMessage(k0.signing, 'key-log-entry', {
        user: alice,
        seq: 1,
        prev: s0.head,
        event: 'revoked',
        identity: encodePublicIdentity(wanted.public),
        time: 2000,
        proof: signMessage(thief.signing, 'key-proof', {
          user: alice,
          seq: 1,
          prev: s0.head,
          identity: encodePublicIdentity(wanted.public),
        }),
      });
      expectKind('integrity', () => verifyKeyLogAppend(s0, forged));
      expect(() => verifyKeyLogAppend(s0, swapped)).not.toThrow();
    });

    it('refuses a revocation without a proof, with a proof for another place, or signed by the new key only', () => {
      const { k0, e0, s0 } = start();
      const k1 = IdentityKeys.generate();
      const noProof = signMessage(k0.signing, 'key-log-entry', {
        user: alice,
        seq: 1,
        prev: s0.head,
        event: 'revoked',
        identity: encodePublicIdentity(k1.public),
        time: 2000,
      });
      expectKind('integrity', () => verifyKeyLogAppend(s0, noProof));
      const elsewhere = signMessage(k0.signing, 'key-log-entry', {
        user: alice,
        seq: 1,
        prev: s0.head,
        event: 'revoked',
        identity: encodePublicIdentity(k1.public),
        time: 2000,
        proof: signMessage(k1.signing, 'key-proof', {
          user: alice,
          seq: 7,
          prev: s0.head,
          identity: encodePublicIdentity(k1.public),
        }),
      });
      expectKind('integrity', () => verifyKeyLogAppend(s0, elsewhere));
      const selfSigned = makeRevocation(s0, k1.signing, k1, 2000);
      expectKind('integrity', () => verifyKeyLog(alice, [e0, selfSigned]));
    });
  });
});

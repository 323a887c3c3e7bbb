/**
 * Signed messages from the attacker's side: a signature for one message type must not verify
 * as another; re-encoded, reordered or altered messages must not verify; a valid signature by
 * a key the caller does not trust must not verify either.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { concatBytes, utf8 } from '../../src/crypto/bytes.js';
import { type CborValue, decodeCanonical, encodeCanonical } from '../../src/crypto/canonical.js';
import { SigningKeyPair } from '../../src/crypto/keys.js';
import { labelBytes, labels } from '../../src/crypto/labels.js';
import { claimedSigner, signMessage, verifyMessage } from '../../src/crypto/sign.js';
import { expectKind, flipByte } from '../helpers/expect-error.js';

/** A CBOR map with its entries in the given order (canonical encoders would sort them). */
function encodeMapInOrder(entries: [string, CborValue][]): Uint8Array {
  if (entries.length > 23) throw new Error('test helper handles small maps only');
  return concatBytes(
    Uint8Array.of(0xa0 + entries.length),
    ...entries.flatMap(([key, value]) => [encodeCanonical(key), encodeCanonical(value)]),
  );
}

const owner = SigningKeyPair.generate();
const mallory = SigningKeyPair.generate();
const body = { file: 'AAAAAAAAAAAAAAAAAAAAAA', version: 7, writers: ['alice', 'carol'] };

describe('signMessage / verifyMessage', () => {
  it('verifies a message from a trusted signer and returns its body', () => {
    const envelope = signMessage(owner, 'dir-entry', body);
    const verified = verifyMessage(envelope, 'dir-entry', [mallory.publicKey, owner.publicKey]);
    expect(verified.body).toEqual(body);
    expect(Buffer.compare(verified.signer, owner.publicKey)).toBe(0);
    expect(Buffer.compare(claimedSigner(envelope, 'dir-entry'), owner.publicKey)).toBe(0);
  });

  it('round-trips arbitrary bodies', () => {
    fc.assert(
      fc.property(
        fc.dictionary(
          fc.string({ maxLength: 6 }).filter((k) => k !== '__proto__'),
          fc.oneof(fc.string(), fc.maxSafeInteger(), fc.uint8Array({ maxLength: 20 })),
        ),
        (b) => {
          expect(
            verifyMessage(signMessage(owner, 'test', b), 'test', [owner.publicKey]).body,
          ).toEqual(b);
        },
      ),
      { numRuns: 100 },
    );
  });

  it('refuses a signature made for one message type presented as another', () => {
    const capability = signMessage(owner, 'capability', body);
    expectKind('integrity', () => verifyMessage(capability, 'dir-entry', [owner.publicKey]));
    // Even relabelling the envelope's type field does not help: the label is under the signature.
    const fields = decodeCanonical(capability, 't') as Record<string, never>;
    const relabelled = encodeCanonical({ ...fields, type: 'dir-entry' });
    expectKind('integrity', () => verifyMessage(relabelled, 'dir-entry', [owner.publicKey]));
  });

  it('refuses a valid signature by a key the caller does not trust', () => {
    const forged = signMessage(mallory, 'dir-entry', body);
    expectKind('integrity', () => verifyMessage(forged, 'dir-entry', [owner.publicKey]));
  });

  it('refuses a signer swapped into the envelope', () => {
    const envelope = signMessage(mallory, 'dir-entry', body);
    const fields = decodeCanonical(envelope, 't') as Record<string, never>;
    const swapped = encodeCanonical({ ...fields, signer: owner.publicKey });
    expectKind('integrity', () => verifyMessage(swapped, 'dir-entry', [owner.publicKey]));
  });

  it('refuses any single-byte change of the envelope', () => {
    const envelope = signMessage(owner, 'dir-entry', body);
    fc.assert(
      fc.property(
        fc.nat({ max: envelope.length - 1 }),
        fc.integer({ min: 1, max: 255 }),
        (index, delta) => {
          expectKind('integrity', () =>
            verifyMessage(flipByte(envelope, index, delta), 'dir-entry', [owner.publicKey]),
          );
        },
      ),
      { numRuns: 500 },
    );
  });

  it('refuses a body re-encoded with reordered keys, even under a genuine signature of those bytes', () => {
    // The attacker holds a real key here: the point is that only canonical bytes are accepted,
    // so one value never has two signed forms.
    const reordered = encodeMapInOrder([
      ['writers', ['alice']],
      ['file', 'x'],
    ]);
    const canonical = encodeCanonical({ writers: ['alice'], file: 'x' });
    expect(Buffer.compare(reordered, canonical)).not.toBe(0);
    const tbs = concatBytes(labelBytes(labels.signature), labelBytes('test/v1'), reordered);
    const envelope = encodeCanonical({
      v: 1,
      type: 'test',
      tv: 1,
      signer: owner.publicKey,
      body: reordered,
      sig: owner.signRaw(tbs),
    });
    expectKind('integrity', () => verifyMessage(envelope, 'test', [owner.publicKey]));
  });

  it('refuses an envelope whose outer encoding is not canonical', () => {
    const envelope = signMessage(owner, 'test', body);
    const fields = decodeCanonical(envelope, 't') as Record<string, CborValue>;
    const loose = encodeMapInOrder(Object.entries(fields).reverse());
    expect(Buffer.compare(loose, envelope)).not.toBe(0);
    expectKind('integrity', () => verifyMessage(loose, 'test', [owner.publicKey]));
  });

  it('refuses an unknown envelope or body format version', () => {
    const envelope = signMessage(owner, 'test', body);
    const fields = decodeCanonical(envelope, 't') as Record<string, never>;
    expectKind('integrity', () =>
      verifyMessage(encodeCanonical({ ...fields, v: 2 }), 'test', [owner.publicKey]),
    );
    expectKind('integrity', () =>
      verifyMessage(encodeCanonical({ ...fields, tv: 2 }), 'test', [owner.publicKey]),
    );
  });

  it('rejects arbitrary bytes with the one integrity error', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (junk) => {
        expectKind('integrity', () => verifyMessage(junk, 'test', [owner.publicKey]));
      }),
      { numRuns: 500 },
    );
    expectKind('integrity', () => verifyMessage(utf8('{"v":1}'), 'test', [owner.publicKey]));
  });
});

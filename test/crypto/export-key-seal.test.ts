/**
 * Private keys sealed under the OPAQUE export key: open only with that key and context.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { toHex, utf8 } from '../../src/crypto/bytes.js';
import { openWithExportKey, sealWithExportKey } from '../../src/crypto/export-key-seal.js';
import { SecretBytes } from '../../src/crypto/secret.js';
import { expectKind, flipByte } from '../helpers/expect-error.js';

const exportKey = SecretBytes.copyOf(new Uint8Array(64).fill(5));
const secret = () => SecretBytes.copyOf(utf8('private identity bytes'));
const ctx = utf8('peervault/v1/user-keys\0alice');

describe('export-key sealing', () => {
  it('round-trips', () => {
    expect(
      toHex(
        openWithExportKey(exportKey, sealWithExportKey(exportKey, secret(), ctx), ctx).expose(),
      ),
    ).toBe(toHex(secret().expose()));
  });

  it('refuses another export key (another password) and another user', () => {
    const sealed = sealWithExportKey(exportKey, secret(), ctx);
    expectKind('integrity', () =>
      openWithExportKey(SecretBytes.copyOf(new Uint8Array(64).fill(6)), sealed, ctx),
    );
    expectKind('integrity', () =>
      openWithExportKey(exportKey, sealed, utf8('peervault/v1/user-keys\0bob')),
    );
  });

  it('refuses any single-byte change and arbitrary bytes', () => {
    const sealed = sealWithExportKey(exportKey, secret(), ctx);
    fc.assert(
      fc.property(fc.nat({ max: sealed.length - 1 }), fc.integer({ min: 1, max: 255 }), (i, d) => {
        expectKind('integrity', () => openWithExportKey(exportKey, flipByte(sealed, i, d), ctx));
      }),
      { numRuns: 300 },
    );
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (junk) => {
        expectKind('integrity', () => openWithExportKey(exportKey, junk, ctx));
      }),
      { numRuns: 300 },
    );
  });
});

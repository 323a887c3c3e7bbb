/**
 * Password sealing, from the side of a thief of the directory's database and of a malicious
 * directory: wrong passwords, moved or altered blobs, weakened or inflated parameters.
 * Argon2id is slow on purpose, so these tests use the cheapest parameters we accept.
 */
import { decode } from 'cborg';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { toHex, utf8 } from '../../src/crypto/bytes.js';
import { encodeCanonical } from '../../src/crypto/canonical.js';
import {
  defaultArgon2Params,
  maxArgon2Params,
  minArgon2Params,
  openWithPassword,
  passwordFromString,
  sealedParams,
  sealWithPassword,
} from '../../src/crypto/password-seal.js';
import { SecretBytes } from '../../src/crypto/secret.js';
import { expectKindAsync, flipByte } from '../helpers/expect-error.js';

const cheap = minArgon2Params;
const secret = () => SecretBytes.copyOf(utf8('the private keys of alice'));
const alice = utf8('user:alice');

describe('sealWithPassword / openWithPassword', () => {
  it('opens with the right password and context', async () => {
    const sealed = await sealWithPassword(
      passwordFromString('correct horse battery staple'),
      secret(),
      alice,
      cheap,
    );
    const opened = await openWithPassword(
      passwordFromString('correct horse battery staple'),
      sealed,
      alice,
    );
    expect(toHex(opened.expose())).toBe(toHex(secret().expose()));
  });

  it('records the parameters in the blob, and seals with RFC 9106 defaults unless told otherwise', async () => {
    const sealed = await sealWithPassword(passwordFromString('pw'), secret(), alice);
    expect(sealedParams(sealed)).toEqual(defaultArgon2Params);
    expect(defaultArgon2Params).toEqual({ memoryKiB: 65536, passes: 3, parallelism: 4 });
  });

  it('treats canonically equivalent passwords as equal (NFC)', async () => {
    const sealed = await sealWithPassword(passwordFromString('caf\u00e9'), secret(), alice, cheap);
    await expect(
      openWithPassword(passwordFromString('cafe\u0301'), sealed, alice),
    ).resolves.toBeInstanceOf(SecretBytes);
  });

  it('refuses a wrong password', async () => {
    const sealed = await sealWithPassword(passwordFromString('right'), secret(), alice, cheap);
    await expectKindAsync(
      'integrity',
      openWithPassword(passwordFromString('wrong'), sealed, alice),
    );
  });

  it('refuses a blob moved to another account (context)', async () => {
    const sealed = await sealWithPassword(
      passwordFromString('same password'),
      secret(),
      alice,
      cheap,
    );
    await expectKindAsync(
      'integrity',
      openWithPassword(passwordFromString('same password'), sealed, utf8('user:bob')),
    );
  });

  it('refuses any single-byte change of the blob', async () => {
    const password = passwordFromString('pw');
    const sealed = await sealWithPassword(password, secret(), alice, cheap);
    await fc.assert(
      fc.asyncProperty(
        fc.nat({ max: sealed.length - 1 }),
        fc.integer({ min: 1, max: 255 }),
        async (index, delta) => {
          await expectKindAsync(
            'integrity',
            openWithPassword(password, flipByte(sealed, index, delta), alice),
          );
        },
      ),
      { numRuns: 40 },
    );
  });

  it('refuses parameters weakened below the floor, even with a valid-looking blob', async () => {
    const password = passwordFromString('pw');
    const sealed = await sealWithPassword(password, secret(), alice, cheap);
    const fields = decode(sealed) as Record<string, never>;
    const weakenings: Record<string, number>[] = [{ m: 8 }, { t: 1 }, { p: 0 }];
    for (const weaker of weakenings) {
      await expectKindAsync(
        'integrity',
        openWithPassword(password, encodeCanonical({ ...fields, ...weaker }), alice),
      );
    }
  });

  it('refuses inflated parameters without running them (a malicious directory cannot make a client hang)', async () => {
    const password = passwordFromString('pw');
    const sealed = await sealWithPassword(password, secret(), alice, cheap);
    const fields = decode(sealed) as Record<string, never>;
    const started = Date.now();
    const inflations: Record<string, number>[] = [
      { m: maxArgon2Params.memoryKiB + 1 },
      { t: 1_000_000 },
      { p: 255 },
    ];
    for (const huge of inflations) {
      await expectKindAsync(
        'integrity',
        openWithPassword(password, encodeCanonical({ ...fields, ...huge }), alice),
      );
    }
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('refuses to seal with parameters outside the bounds', async () => {
    await expectKindAsync(
      'invalid',
      sealWithPassword(passwordFromString('pw'), secret(), alice, { ...cheap, memoryKiB: 1024 }),
    );
    await expectKindAsync(
      'invalid',
      sealWithPassword(passwordFromString('pw'), secret(), alice, { ...cheap, passes: 1 }),
    );
  });

  it('rejects arbitrary bytes with the one integrity error', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 200 }), async (junk) => {
        await expectKindAsync('integrity', openWithPassword(passwordFromString('pw'), junk, alice));
      }),
      { numRuns: 200 },
    );
  });
});

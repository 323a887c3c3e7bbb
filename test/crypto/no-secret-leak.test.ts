/**
 * "No secret in an error message, a log line or a thrown object's fields", tested from the
 * attacker's side: provoke every failure of the crypto core with known secrets in play, then
 * search everything the thrown error exposes for those secrets in every common encoding.
 */
import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { toHex, utf8 } from '../../src/crypto/bytes.js';
import { joinSealedChunk, openChunk, sealChunk } from '../../src/crypto/chunk.js';
import { decryptName, encryptName } from '../../src/crypto/names.js';
import {
  openWithPassword,
  minArgon2Params,
  passwordFromString,
  sealWithPassword,
} from '../../src/crypto/password-seal.js';
import { newFileId, newSymmetricKey } from '../../src/crypto/random.js';
import { SecretBytes } from '../../src/crypto/secret.js';
import { EncryptionKeyPair } from '../../src/crypto/keys.js';
import { unwrapKey, wrapKey } from '../../src/crypto/wrap.js';
import { parseEntryName } from '../../src/interface/names.js';

function encodings(secret: Uint8Array): string[] {
  const b = Buffer.from(secret);
  return [
    toHex(secret),
    b.toString('base64'),
    b.toString('base64url'),
    b.toString('latin1'),
    [...secret].join(','),
  ].filter((s) => s.length >= 8);
}

async function thrown(fn: () => unknown): Promise<unknown> {
  try {
    await fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected a failure');
}

function everythingExposed(err: unknown): string {
  const e = err as Error & Record<string, unknown>;
  return [
    String(err),
    e.message,
    e.stack ?? '',
    JSON.stringify(err),
    JSON.stringify(Object.getOwnPropertyNames(e).map((k) => [k, String(e[k])])),
    inspect(err, { depth: 10, showHidden: true }),
    inspect(e.cause, { depth: 10, showHidden: true }),
  ].join('\n');
}

describe('failures expose no secret', () => {
  const fileKey = newSymmetricKey();
  const nameKey = newSymmetricKey();
  const fileId = newFileId();
  const content = utf8('TOP SECRET CONTENT 1234567890');
  const password = 'hunter2-is-my-password';
  const recipient = EncryptionKeyPair.generate();
  const secrets = [
    fileKey.expose(),
    nameKey.expose(),
    content,
    utf8(password),
    recipient.privateKey().expose(),
    utf8('secret-file-name.txt'),
  ];

  function assertClean(err: unknown): void {
    const exposed = everythingExposed(err);
    for (const secret of secrets) {
      for (const form of encodings(secret)) expect(exposed).not.toContain(form);
      expect(exposed).not.toContain(new TextDecoder().decode(secret));
    }
  }

  it('chunk opening with a wrong position or altered bytes', async () => {
    const sealed = joinSealedChunk(
      sealChunk(fileKey, { fileId, version: 1, index: 0, final: true }, content),
    );
    assertClean(
      await thrown(() => openChunk(fileKey, { fileId, version: 2, index: 0, final: true }, sealed)),
    );
    assertClean(
      await thrown(() =>
        openChunk(fileKey, { fileId, version: 1, index: 0, final: true }, sealed.subarray(3)),
      ),
    );
  });

  it('name decryption under a wrong entry', async () => {
    const sealed = encryptName(nameKey, fileId, parseEntryName('secret-file-name.txt'));
    assertClean(await thrown(() => decryptName(nameKey, newFileId(), sealed)));
  });

  it('password opening with a wrong password', async () => {
    const sealed = await sealWithPassword(
      passwordFromString(password),
      SecretBytes.copyOf(content),
      utf8('ctx'),
      minArgon2Params,
    );
    assertClean(
      await thrown(() => openWithPassword(passwordFromString('wrong'), sealed, utf8('ctx'))),
    );
    assertClean(
      await thrown(() => openWithPassword(passwordFromString(password), sealed, utf8('other'))),
    );
  });

  it('unwrapping for a wrong purpose', async () => {
    const wrapped = await wrapKey(recipient.publicKey, fileKey, 'file-key', utf8('ctx'));
    assertClean(await thrown(() => unwrapKey(recipient, wrapped, 'name-key', utf8('ctx'))));
  });

  it('a SecretBytes inside any object prints as [secret]', () => {
    const holder = { key: fileKey, nested: { password: passwordFromString(password) } };
    const shown = inspect(holder, { depth: 10 }) + JSON.stringify(holder) + `${String(fileKey)}`;
    expect(shown).toContain('[secret]');
    for (const secret of secrets.slice(0, 4))
      for (const form of encodings(secret)) expect(shown).not.toContain(form);
  });

  it('a disposed secret is zeroed and can no longer be read', () => {
    const bytes = new Uint8Array(32).fill(9);
    const secret = new SecretBytes(bytes);
    secret.dispose();
    expect(bytes.every((b) => b === 0)).toBe(true);
    expect(() => secret.expose()).toThrow();
  });
});

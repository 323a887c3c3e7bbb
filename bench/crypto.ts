/**
 * The crypto core beside its physical limits, in one run: raw node:crypto AES-256-GCM and
 * SHA-256 on 1 MiB buffers, then our chunk sealing and opening and block ids, judged against
 * them (issue target: chunks within 70% of raw AEAD); then Argon2id, HPKE and Ed25519 latencies.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { blockIdOf } from '../src/crypto/block-id.js';
import { openChunk, sealChunk, joinSealedChunk } from '../src/crypto/chunk.js';
import { EncryptionKeyPair, SigningKeyPair, verifyRaw } from '../src/crypto/keys.js';
import {
  defaultArgon2Params,
  passwordFromString,
  sealWithPassword,
} from '../src/crypto/password-seal.js';
import { newFileId, newSymmetricKey } from '../src/crypto/random.js';
import { SecretBytes } from '../src/crypto/secret.js';
import { unwrapKey, wrapKey } from '../src/crypto/wrap.js';
import type { Bench } from './harness.js';

const MiB = 1024 * 1024;

/**
 * Every probe stores its output here, the raw limits and our code alike. Measured: whether a
 * 1 MiB result is kept or dropped at once changes node:crypto's throughput by up to 2x (a V8
 * garbage-collection effect), so a limit that dropped its output would not be a fair limit.
 */
export let sink: unknown;
const encryptLimit = 'raw AES-256-GCM encrypt';
const decryptLimit = 'raw AES-256-GCM decrypt';
const hashLimit = 'raw SHA-256';

/** Adds the crypto probes to `bench`. `mibPerSample` sets how much data one sample processes. */
export async function addCryptoProbes(bench: Bench, mibPerSample: number): Promise<void> {
  const chunk = randomBytes(MiB);
  const key = randomBytes(32);
  const nonce = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, nonce);
  const rawCiphertext = Buffer.concat([cipher.update(chunk), cipher.final()]);
  const rawTag = cipher.getAuthTag();
  const fileKey = newSymmetricKey();
  const position = { fileId: newFileId(), version: 1, index: 0, final: false };
  const sealed = sealChunk(fileKey, position, chunk);
  const sealedBytes = joinSealedChunk(sealed);

  bench.throughput(`${encryptLimit}`, MiB, mibPerSample, () => {
    const c = createCipheriv('aes-256-gcm', key, nonce);
    sink = c.update(chunk);
    c.final();
    sink = c.getAuthTag();
  });
  bench.throughput(
    'sealChunk 1 MiB',
    MiB,
    mibPerSample,
    () => (sink = sealChunk(fileKey, position, chunk)),
    {
      name: encryptLimit,
      target: 0.7,
    },
  );
  bench.throughput(`${decryptLimit}`, MiB, mibPerSample, () => {
    const d = createDecipheriv('aes-256-gcm', key, nonce);
    d.setAuthTag(rawTag);
    sink = d.update(rawCiphertext);
    d.final();
  });
  bench.throughput(
    'openChunk 1 MiB',
    MiB,
    mibPerSample,
    () => (sink = openChunk(fileKey, position, sealedBytes)),
    {
      name: decryptLimit,
      target: 0.7,
    },
  );
  bench.throughput(
    `${hashLimit}`,
    MiB,
    mibPerSample,
    () => (sink = createHash('sha256').update(chunk).digest()),
  );
  bench.throughput(
    'blockIdOf 1 MiB chunk',
    MiB,
    mibPerSample,
    () => (sink = blockIdOf(sealed.parts)),
    {
      name: hashLimit,
      target: 0.9,
    },
  );

  const p = defaultArgon2Params;
  const password = passwordFromString('benchmark password');
  const secret = SecretBytes.copyOf(randomBytes(96));
  bench.latency(
    `Argon2id seal (${p.memoryKiB / 1024} MiB, t=${p.passes}, p=${p.parallelism})`,
    2,
    () => sealWithPassword(password, secret, new Uint8Array(0)),
  );
  const recipient = EncryptionKeyPair.generate();
  const none = new Uint8Array(0);
  const wrapped = await wrapKey(recipient.publicKey, fileKey, 'file-key', none);
  bench.latency('HPKE wrap a file key', 50, () =>
    wrapKey(recipient.publicKey, fileKey, 'file-key', none),
  );
  bench.latency('HPKE unwrap a file key', 50, () =>
    unwrapKey(recipient, wrapped, 'file-key', none),
  );
  const signer = SigningKeyPair.generate();
  const message = randomBytes(256);
  const signature = signer.signRaw(message);
  bench.latency('Ed25519 sign 256 B', 500, () => Promise.resolve(signer.signRaw(message)));
  bench.latency('Ed25519 verify 256 B', 500, () =>
    Promise.resolve(verifyRaw(signer.publicKey, message, signature)),
  );
}

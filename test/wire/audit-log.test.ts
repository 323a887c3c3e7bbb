/**
 * The audit log's formats: the record hash (a known answer, computed independently from
 * docs/formats.md), the bounds on details, and checkpoints that verify only under the
 * directory's key and only as checkpoints.
 */
import { describe, expect, it } from 'vitest';
import { toHex } from '../../src/crypto/bytes.js';
import type { AuditDetails } from '../../src/interface/audit.js';
import { SigningKeyPair } from '../../src/crypto/keys.js';
import { signMessage } from '../../src/crypto/sign.js';
import {
  AuditChainVerifier,
  auditDetailsText,
  auditRecordHash,
  normaliseSubjects,
  openAuditCheckpoint,
  signAuditCheckpoint,
  zeroAuditHash,
} from '../../src/wire/audit-log.js';
import { expectKind, flipByte } from '../helpers/expect-error.js';

const record = {
  seq: 1,
  time: 1_700_000_000_000,
  event: 'entry.shared',
  actor: 'alice',
  subjects: ['bob', 'alice'],
  entry: 'AAAAAAAAAAAAAAAAAAAAAA',
  source: '127.0.0.1',
  details: '{"grants":["bob:r"],"version":2}',
  prev: zeroAuditHash,
};

describe('audit record hash', () => {
  it('matches the known answer: SHA-256 of the label and the canonical CBOR map', () => {
    // Computed with a separate CBOR encoder from the description in docs/formats.md.
    expect(toHex(auditRecordHash(record))).toBe(
      '173c7cfa636f951e5bab1992265c40b5f2fd28a0f57b80469f830012bd3c3649',
    );
  });

  it('changes with every field, and not with the order subjects come in', () => {
    const base = toHex(auditRecordHash(record));
    expect(toHex(auditRecordHash({ ...record, subjects: ['alice', 'bob', 'bob'] }))).toBe(base);
    const changed = [
      { seq: 2 },
      { time: record.time + 1 },
      { event: 'entry.unshared' },
      { actor: null },
      { subjects: ['alice'] },
      { entry: null },
      { source: '127.0.0.2' },
      { details: '{"grants":["bob:w"],"version":2}' },
      { prev: flipByte(zeroAuditHash, 0) },
    ];
    const hashes = changed.map((change) => toHex(auditRecordHash({ ...record, ...change })));
    expect(new Set([base, ...hashes]).size).toBe(changed.length + 1);
  });

  it('keeps subjects sorted bytewise and unique', () => {
    expect(normaliseSubjects(['carol', 'Bob', 'alice', 'carol'])).toEqual([
      'Bob',
      'alice',
      'carol',
    ]);
  });
});

describe('audit details', () => {
  it('are JSON with sorted keys and no spaces', () => {
    expect(auditDetailsText({ version: 2, grants: ['bob:r'], purged: true, op: 'entry.get' })).toBe(
      '{"grants":["bob:r"],"op":"entry.get","purged":true,"version":2}',
    );
    expect(auditDetailsText({})).toBe('{}');
  });

  it('refuse what would make them large or ambiguous', () => {
    const many = Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`k${i}`, i]));
    const refused: AuditDetails[] = [
      many,
      { 'not a key': 1 },
      { Upper: 1 },
      { n: 1.5 },
      { n: Number.MAX_SAFE_INTEGER + 1 },
      { text: 'x'.repeat(257) },
      { list: Array.from({ length: 65 }, () => 'a') },
      { list: [1] as unknown as string[] },
      { nested: { a: 1 } as unknown as string },
    ];
    for (const details of refused) {
      expectKind('invalid', () => auditDetailsText(details));
    }
  });
});

describe('audit checkpoints', () => {
  const directory = SigningKeyPair.generate();
  const head = { seq: 1200, hash: flipByte(zeroAuditHash, 3), time: 1_700_000_000_000 };

  it('open under the directory key to what was signed', () => {
    expect(openAuditCheckpoint(signAuditCheckpoint(directory, head), directory.publicKey)).toEqual(
      head,
    );
  });

  it('refuse another key, a flipped byte, and another signed type with the same body', () => {
    const envelope = signAuditCheckpoint(directory, head);
    const other = SigningKeyPair.generate();
    expectKind('integrity', () => openAuditCheckpoint(envelope, other.publicKey));
    expectKind('integrity', () =>
      openAuditCheckpoint(signAuditCheckpoint(other, head), directory.publicKey),
    );
    expectKind('integrity', () =>
      openAuditCheckpoint(flipByte(envelope, envelope.length - 5), directory.publicKey),
    );
    const asPeerList = signMessage(directory, 'peer-list', { ...head });
    expectKind('integrity', () => openAuditCheckpoint(asPeerList, directory.publicKey));
    const extra = signMessage(directory, 'audit-checkpoint', { ...head, more: 1 });
    expectKind('integrity', () => openAuditCheckpoint(extra, directory.publicKey));
  });
});

describe('checking a log against witnesses', () => {
  const directory = SigningKeyPair.generate();
  /** A chain of `n` records, each hashed over the one before. */
  const chain = (n: number, event = 'login.ok') => {
    const records = [];
    let prev = zeroAuditHash;
    for (let seq = 1; seq <= n; seq++) {
      const contents = { ...record, seq, event, prev };
      const hash = auditRecordHash(contents);
      records.push({ ...contents, subjects: normaliseSubjects(contents.subjects), hash });
      prev = hash;
    }
    return records;
  };
  const checkpointOf = (r: { seq: number; hash: Uint8Array }, key = directory) => ({
    seq: r.seq,
    hash: r.hash,
    time: 1,
    envelope: signAuditCheckpoint(key, { seq: r.seq, hash: r.hash, time: 1 }),
  });
  const verify = (
    records: ReturnType<typeof chain>,
    checkpoints: ReturnType<typeof checkpointOf>[],
    witnesses: ReturnType<typeof checkpointOf>[],
  ) => {
    const verifier = new AuditChainVerifier(directory.publicKey, checkpoints, witnesses);
    for (const r of records) verifier.add(r);
    return verifier.finish();
  };

  it('passes a log that still holds what a peer saw', () => {
    const log = chain(10);
    const result = verify(log, [checkpointOf(log[9]!)], [checkpointOf(log[4]!)]);
    expect(result).toMatchObject({ ok: true, witnesses: 1 });
  });

  it('catches a log rewritten and signed again by the directory key (its own checkpoints all pass)', () => {
    const seen = chain(10);
    const rewritten = chain(12, 'register'); // another history, with fresh signed checkpoints
    const own = [checkpointOf(rewritten[11]!)];
    expect(verify(rewritten, own, []).ok).toBe(true);
    const result = verify(rewritten, own, [checkpointOf(seen[4]!)]);
    expect(result.ok).toBe(false);
    expect(result.problems.map((p) => ({ kind: p.kind, seq: p.seq }))).toEqual([
      { kind: 'witness-mismatch', seq: 5 },
    ]);
  });

  it('catches a log cut back below what a peer saw, and ignores a witness another key signed', () => {
    const log = chain(10);
    const cut = verify(log.slice(0, 6), [checkpointOf(log[5]!)], [checkpointOf(log[8]!)]);
    expect(cut.problems.map((p) => p.kind)).toEqual(['truncated']);
    const foreign = verify(log, [], [checkpointOf(log[2]!, SigningKeyPair.generate())]);
    expect(foreign.problems.map((p) => p.kind)).toEqual(['checkpoint-signature']);
  });
});

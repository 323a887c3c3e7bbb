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

/**
 * The audit log's formats (docs/formats.md): how a record is hashed into the chain, how the
 * directory signs a checkpoint of the chain's head, and how a whole stored log is checked.
 *
 * Record hash:
 *     hash = SHA-256("peervault/v1/audit-record" 0x00 || canonical CBOR of
 *       { v: 1, seq: uint, time: uint, event: text, actor: text | null, subjects: [text],
 *         entry: text | null, source: text, details: text, prev: bytes(32) })
 *   `subjects` sorted (by UTF-16 code units) without duplicates; `details` the JSON text of a flat
 *   map with sorted keys, exactly as stored; `prev` the hash of record seq - 1, or 32 zero bytes
 *   for record 1. Because `prev` is inside the hash, editing, removing or reordering a record
 *   breaks the chain at that record.
 *
 * `audit-checkpoint/v1` body: { seq: uint, hash: bytes(32), time: uint }, signed by the
 *   directory's identity key (the key clients pin): the directory vouches that record `seq` of
 *   its log has this hash, so everything up to it is fixed.
 *
 * Security: a checkpoint is only as good as the key that checks it. A directory that holds its
 * key can rewrite the whole chain and sign new checkpoints; catching that needs checkpoints kept
 * by someone else (docs/threat-model.md).
 */
import { createHash } from 'node:crypto';
import {
  type AuditCheckpointRecord,
  type AuditDetails,
  type AuditRecord,
  maxAuditDetails,
} from '../interface/audit.js';
import { FsError, integrityError } from '../interface/errors.js';
import { concatBytes, constantTimeEqual } from '../crypto/bytes.js';
import { encodeCanonical, field, isMap } from '../crypto/canonical.js';
import type { SigningKeyPair } from '../crypto/keys.js';
import { labelBytes, labels } from '../crypto/labels.js';
import { signMessage, verifyMessage } from '../crypto/sign.js';

/** The format version inside every record hash. */
export const auditRecordVersion = 1;

/** Bytes of a record hash (SHA-256). */
export const auditHashBytes = 32;

/** The `prev` of record 1. */
export const zeroAuditHash: Uint8Array = new Uint8Array(auditHashBytes);

const detailKey = /^[a-z][A-Za-z0-9]{0,31}$/;
const maxTextBytes = 256;
const maxListItems = 64;

/**
 * The details of an event as the JSON text that is stored and hashed: keys sorted, no spaces.
 * @throws FsError `invalid` for more than {@link maxAuditDetails} keys, a key that is not a short
 *   camelCase word, a number that is not a safe integer, or texts or lists beyond their bounds
 *   (the directory writes details; this keeps them small and unambiguous).
 */
export function auditDetailsText(details: AuditDetails): string {
  const op = 'audit.details';
  const bad = (why: string) => new FsError('invalid', `audit details: ${why}`, { op });
  const keys = Object.keys(details).sort();
  if (keys.length > maxAuditDetails) throw bad(`more than ${maxAuditDetails} keys`);
  const sorted: Record<string, unknown> = {};
  for (const key of keys) {
    if (!detailKey.test(key)) throw bad(`"${key}" is not a short camelCase key`);
    const value = details[key];
    if (typeof value === 'number') {
      if (!Number.isSafeInteger(value)) throw bad(`${key} is not a whole number`);
    } else if (typeof value === 'string') {
      if (value.length > maxTextBytes) throw bad(`${key} is too long`);
    } else if (Array.isArray(value)) {
      const list = value as readonly unknown[];
      if (list.length > maxListItems) throw bad(`${key} has too many items`);
      if (!list.every((item) => typeof item === 'string' && item.length <= maxTextBytes)) {
        throw bad(`${key} is not a list of short texts`);
      }
    } else if (typeof value !== 'boolean') {
      throw bad(`${key} has a value of the wrong type`);
    }
    sorted[key] = value;
  }
  return JSON.stringify(sorted);
}

/** Subjects in the form records keep: sorted by UTF-16 code units, without duplicates. */
export function normaliseSubjects(subjects: readonly string[]): string[] {
  return [...new Set(subjects)].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/**
 * The hash of a record over everything but the hash itself (module comment). Subjects are
 * normalised here, so the order a database hands them back in does not matter.
 */
export function auditRecordHash(record: Omit<AuditRecord, 'hash'>): Uint8Array {
  const body = encodeCanonical({
    v: auditRecordVersion,
    seq: record.seq,
    time: record.time,
    event: record.event,
    actor: record.actor,
    subjects: normaliseSubjects(record.subjects),
    entry: record.entry,
    source: record.source,
    details: record.details,
    prev: record.prev,
  });
  return new Uint8Array(
    createHash('sha256')
      .update(concatBytes(labelBytes(labels.auditRecord), body))
      .digest(),
  );
}

/** What a checkpoint says: record `seq` of the log has `hash`, signed at `time`. */
export interface AuditCheckpoint {
  seq: number;
  hash: Uint8Array;
  time: number;
}

/** Signs a checkpoint of the log's head with the directory's identity key. */
export function signAuditCheckpoint(
  directoryKey: SigningKeyPair,
  head: AuditCheckpoint,
): Uint8Array {
  return signMessage(directoryKey, 'audit-checkpoint', {
    seq: head.seq,
    hash: head.hash,
    time: head.time,
  });
}

/**
 * Verifies a checkpoint against the directory's key.
 * @throws FsError `integrity` when it is malformed or not signed by that key.
 */
export function openAuditCheckpoint(
  envelope: Uint8Array,
  directoryKey: Uint8Array,
): AuditCheckpoint {
  const op = 'audit-checkpoint.open';
  const { body } = verifyMessage(envelope, 'audit-checkpoint', [directoryKey]);
  if (!isMap(body)) throw integrityError(op);
  const keys = Object.keys(body);
  if (keys.length !== 3 || !['seq', 'hash', 'time'].every((k) => Object.hasOwn(body, k))) {
    throw integrityError(op);
  }
  return {
    seq: field.uint(body, 'seq', op),
    hash: field.bytes(body, 'hash', op, auditHashBytes),
    time: field.uint(body, 'time', op),
  };
}

/** The ways a stored log can be broken. */
export type AuditProblemKind =
  | 'hash'
  | 'prev'
  | 'missing'
  | 'truncated'
  | 'checkpoint-signature'
  | 'checkpoint-mismatch'
  | 'witness-mismatch'
  | 'key-log';

/** One break, where it is and what it is, as a sentence. */
export interface AuditProblem {
  kind: AuditProblemKind;
  /** The record (or checkpoint) where the break is. */
  seq: number;
  message: string;
}

/** The outcome of checking a whole log. */
export interface AuditVerification {
  ok: boolean;
  /** Records present. */
  records: number;
  /** The highest seq present; 0 for an empty log. */
  head: number;
  /** Checkpoints present, and how many of them verified. */
  checkpoints: number;
  validCheckpoints: number;
  /** The highest seq a valid checkpoint signs; 0 when none. */
  lastCheckpoint: number;
  /** Records after the last valid checkpoint: not yet fixed by a signature. */
  unsigned: number;
  /** Checkpoints held by witnesses (peers) that were checked too, and how many verified. */
  witnesses?: number;
  /** In order of where they are; empty when `ok`. */
  problems: AuditProblem[];
}

/**
 * Checks a log record by record, in `seq` order, so a log of any length is checked in pages.
 * Every record's hash must match its contents; every record's `prev` must be the hash of the
 * record before; seqs must run 1, 2, 3 … without gaps; every checkpoint must be signed by the
 * directory's key and match the record it names; and no valid checkpoint may name a record
 * beyond the last one present (a truncated tail).
 *
 * An edited record is reported at that record only: the next record's `prev` is compared with
 * the stored hash, which the edit left as it was.
 */
export class AuditChainVerifier {
  readonly #signed = new Map<number, Uint8Array>();
  /** Heads that witnesses (peers) hold checkpoints of, by seq (they may disagree). */
  readonly #witnessed = new Map<number, Uint8Array[]>();
  readonly #witnesses: number;
  readonly #problems: AuditProblem[] = [];
  readonly #checkpoints: number;
  #records = 0;
  #head = 0;
  #prevHash: Uint8Array = zeroAuditHash;

  /**
   * `checkpoints`: every stored checkpoint; `directoryKey`: the key that must have signed them;
   * `witnesses`: checkpoints that peers kept (`peervault audit verify --witness`), each of which
   * the log must still match: a directory that rewrote its log and signed it again does not.
   */
  constructor(
    directoryKey: Uint8Array,
    checkpoints: readonly AuditCheckpointRecord[],
    witnesses: readonly Pick<AuditCheckpointRecord, 'seq' | 'envelope'>[] = [],
  ) {
    this.#checkpoints = checkpoints.length;
    this.#witnesses = witnesses.length;
    for (const witness of witnesses) {
      let signed: AuditCheckpoint;
      try {
        signed = openAuditCheckpoint(witness.envelope, directoryKey);
      } catch {
        this.#problems.push({
          kind: 'checkpoint-signature',
          seq: witness.seq,
          message: `a witness's checkpoint at ${witness.seq}: not signed by this directory's key`,
        });
        continue;
      }
      const list = this.#witnessed.get(signed.seq) ?? [];
      if (!list.some((hash) => constantTimeEqual(hash, signed.hash))) list.push(signed.hash);
      this.#witnessed.set(signed.seq, list);
    }
    for (const checkpoint of checkpoints) {
      let signed: AuditCheckpoint;
      try {
        signed = openAuditCheckpoint(checkpoint.envelope, directoryKey);
      } catch {
        this.#problems.push({
          kind: 'checkpoint-signature',
          seq: checkpoint.seq,
          message: `checkpoint at ${checkpoint.seq}: signature invalid`,
        });
        continue;
      }
      if (signed.seq !== checkpoint.seq || !constantTimeEqual(signed.hash, checkpoint.hash)) {
        this.#problems.push({
          kind: 'checkpoint-signature',
          seq: checkpoint.seq,
          message: `checkpoint at ${checkpoint.seq}: signature invalid (it signs record ${signed.seq}, not this row)`,
        });
        continue;
      }
      this.#signed.set(signed.seq, signed.hash);
    }
  }

  /** Checks the next record; records must come in ascending `seq`. */
  add(record: AuditRecord): void {
    const expected = this.#head + 1;
    this.#records += 1;
    if (record.seq < expected) {
      this.#problem('prev', record.seq, `record ${record.seq}: out of order after ${this.#head}`);
      return;
    }
    const gap = record.seq > expected;
    if (gap) {
      const which =
        record.seq - 1 === expected
          ? `record ${expected}`
          : `records ${expected}–${record.seq - 1}`;
      this.#problem(
        'missing',
        expected,
        `${which}: missing (the log goes from ${this.#head} to ${record.seq})`,
      );
    }
    const { hash, ...contents } = record;
    if (!constantTimeEqual(auditRecordHash(contents), hash)) {
      this.#problem('hash', record.seq, `record ${record.seq}: hash does not match its contents`);
    }
    // After a gap the missing record is the break; its successor's prev has nothing to match.
    if (!gap && !constantTimeEqual(record.prev, this.#prevHash)) {
      this.#problem(
        'prev',
        record.seq,
        record.seq === 1
          ? 'record 1: prev is not the all-zero hash of a first record'
          : `record ${record.seq}: prev does not match record ${record.seq - 1}`,
      );
    }
    const signed = this.#signed.get(record.seq);
    if (signed !== undefined && !constantTimeEqual(signed, hash)) {
      this.#problem(
        'checkpoint-mismatch',
        record.seq,
        `checkpoint at ${record.seq}: record ${record.seq} is not the record it signed`,
      );
    }
    for (const held of this.#witnessed.get(record.seq) ?? []) {
      if (!constantTimeEqual(held, hash)) {
        this.#problem(
          'witness-mismatch',
          record.seq,
          `record ${record.seq}: not the record a witness holds a signed checkpoint of (the log was rewritten after a peer saw it)`,
        );
        break;
      }
    }
    this.#head = record.seq;
    this.#prevHash = hash;
  }

  /** The outcome, once every record was added. */
  finish(): AuditVerification {
    const lastCheckpoint = Math.max(0, ...this.#signed.keys());
    if (lastCheckpoint > this.#head) {
      this.#problem(
        'truncated',
        this.#head + 1,
        `records after ${this.#head} were removed: the checkpoint at ${lastCheckpoint} signed a log that reached record ${lastCheckpoint}`,
      );
    }
    const lastWitnessed = Math.max(0, ...this.#witnessed.keys());
    if (lastWitnessed > this.#head && lastWitnessed > lastCheckpoint) {
      this.#problem(
        'truncated',
        this.#head + 1,
        `records after ${this.#head} were removed: a witness holds a checkpoint of record ${lastWitnessed}`,
      );
    }
    const problems = [...this.#problems].sort((a, b) => a.seq - b.seq);
    return {
      ok: problems.length === 0,
      records: this.#records,
      head: this.#head,
      checkpoints: this.#checkpoints,
      validCheckpoints: this.#signed.size,
      lastCheckpoint,
      unsigned: Math.max(0, this.#head - lastCheckpoint),
      ...(this.#witnesses === 0 ? {} : { witnesses: this.#witnesses }),
      problems,
    };
  }

  #problem(kind: AuditProblemKind, seq: number, message: string): void {
    this.#problems.push({ kind, seq, message });
  }
}

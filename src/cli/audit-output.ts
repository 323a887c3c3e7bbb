/**
 * What `audit` and `audit verify` print, shared by the shell and the one-shot commands.
 */
import type { AuditVerification } from '../wire/audit-log.js';
import type { ApiAuditPage, ApiAuditRecord } from './local-api.js';
import { table } from './shell/format.js';
import { formatTime } from './session-options.js';

/** A 32-byte hash or key in base64url, as details carry them (`head`, `peer`, `block`). */
const hashLike = /^[A-Za-z0-9_-]{43}$/;

/**
 * `key=value` words for a record's details, lists joined by commas; hashes and keys cut to
 * their first 12 characters (`--json` has them whole).
 */
function detailWords(details: Record<string, unknown>): string {
  const shown = (value: unknown) =>
    typeof value === 'string' && hashLike.test(value) ? `${value.slice(0, 12)}…` : String(value);
  return Object.entries(details)
    .map(([key, value]) => `${key}=${Array.isArray(value) ? value.join(',') : shown(value)}`)
    .join(' ');
}

/** One row per record: seq, time, event, who, entry, details and (when shown) the address. */
export function auditRecordLines(records: readonly ApiAuditRecord[]): string[] {
  return table([
    ['SEQ', 'TIME', 'EVENT', 'BY', 'ENTRY', 'DETAILS'],
    ...records.map((record: ApiAuditRecord) => [
      String(record.seq),
      formatTime(record.time),
      record.event,
      record.actor ?? '-',
      record.entry ?? '-',
      [detailWords(record.details), record.source === null ? '' : `from ${record.source}`]
        .filter((part) => part !== '')
        .join('  '),
    ]),
  ]);
}

/** A page of records with a word on what it covers and how to read on. */
export function auditPageLines(page: ApiAuditPage, limit: number, more: string): string[] {
  if (page.records.length === 0) {
    return [page.scope === 'all' ? 'no events in the log after that' : 'no events about you'];
  }
  const lines = auditRecordLines(page.records);
  if (page.records.length >= limit) lines.push(`more: ${more} ${page.next}`);
  return lines;
}

/** What a check of the whole log found, break by break. */
export function auditVerificationLines(result: AuditVerification): string[] {
  const counts = `${result.records} records, ${result.validCheckpoints} of ${result.checkpoints} checkpoints valid${
    result.lastCheckpoint > 0 ? ` (last at ${result.lastCheckpoint})` : ''
  }${result.witnesses === undefined ? '' : `, ${result.witnesses} witnessed checkpoints compared`}`;
  const unsigned =
    result.unsigned > 0
      ? [
          `${result.unsigned} records after the last checkpoint are not signed yet: cutting them off would not be noticed.`,
        ]
      : [];
  if (result.ok) return [`audit log intact: ${counts}.`, ...unsigned];
  return [
    `audit log BROKEN: ${result.problems.length} ${result.problems.length === 1 ? 'problem' : 'problems'}`,
    ...result.problems.map((problem) => `  ${problem.message}`),
    `${counts}.`,
    ...unsigned,
  ];
}

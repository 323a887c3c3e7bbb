/**
 * Telling the directory that this device found a forged, rolled-back or forked version of an
 * entry (`POST /v1/reports/entry`, docs/monitor.md `entry-integrity`): the owner and the
 * directory's admins get an alert. The directory itself is the suspect of a rollback or a fork,
 * so this is no defence on its own: it is for a directory whose database an intruder edited,
 * whose honest operator wants to know. The device keeps its own alert whatever becomes of this
 * report (src/client/seen-versions.ts).
 */
import type { FileId } from '../interface/ids.js';
import { maxEntryReportDetail, routes } from '../wire/directory-api.js';
import type { AgentContext } from './entry-verify.js';

/** What was found wrong with a version of an entry. */
export type EntryIntegrityKind = 'forged' | 'rollback' | 'fork';

/**
 * `detail` as the route accepts it: printable characters only (control, format and line
 * separators become spaces) and at most {@link maxEntryReportDetail} characters.
 */
export function entryReportDetail(detail: string): string {
  let out = '';
  // By code point, so that a cut never leaves half a surrogate pair (which is not printable).
  for (const char of detail.replace(/[\p{C}\p{Zl}\p{Zp}]/gu, ' ')) {
    if (out.length + char.length > maxEntryReportDetail) break;
    out += char;
  }
  return out;
}

/**
 * Reports a bad version of `entry` to the directory. Never throws, and logs nothing: a
 * directory that refuses or drops the report (it may be the attacker) changes nothing for the
 * caller, which has already refused the version and raised its own alert. `detail` says what
 * was seen (versions, hashes in short); it is recorded in the audit log, so it must name no
 * secret and no file name.
 */
export async function reportEntryIntegrity(
  ctx: AgentContext,
  entry: FileId,
  kind: EntryIntegrityKind,
  detail: string,
): Promise<void> {
  try {
    await ctx.directory.call(
      'POST',
      routes.entryReport,
      { entry, kind, detail: entryReportDetail(detail) },
      ctx.session,
    );
  } catch {
    // Deliberately silent (see above).
  }
}

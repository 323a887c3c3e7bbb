/**
 * Reading the directory's audit log as a user: the records about the logged-in user's account
 * and files (all records, for an admin), a page at a time.
 */
import { type AuditResponse, auditPage, routes } from '../wire/directory-api.js';
import type { AgentContext } from './entry-verify.js';

/** The records after `after` that the session's user may read, at most `limit` of them. */
export function auditRecords(
  ctx: AgentContext,
  options: { after?: number; limit?: number } = {},
): Promise<AuditResponse> {
  const query = new URLSearchParams({
    after: String(options.after ?? 0),
    limit: String(options.limit ?? auditPage.default),
  });
  return ctx.directory.call<AuditResponse>(
    'GET',
    `${routes.audit}?${query.toString()}`,
    undefined,
    ctx.session,
  );
}

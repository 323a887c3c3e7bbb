/**
 * The directory's security alerts as a user reads them (src/directory/monitor.ts): the logged-in
 * user's alerts, unread first (every alert, for an admin), and acknowledging one.
 */
import { type AlertResponse, type AlertsResponse, routes } from '../wire/directory-api.js';
import type { AgentContext } from './entry-verify.js';

/** The alerts the session's user may read, unacknowledged first. */
export function listAlerts(ctx: AgentContext): Promise<AlertsResponse> {
  return ctx.directory.call<AlertsResponse>('GET', routes.alerts, undefined, ctx.session);
}

/** Acknowledges alert `id` (lifting any purge protection it holds). @throws `not-exist` */
export function ackAlert(ctx: AgentContext, id: number): Promise<AlertResponse> {
  return ctx.directory.call<AlertResponse>(
    'POST',
    routes.alertAck.replace(':id', String(id)),
    {},
    ctx.session,
  );
}

/**
 * Alerts of the security monitor (../monitor.ts, docs/monitor.md): `GET /v1/alerts` lists the
 * caller's alerts, unacknowledged first (an admin reads every alert); `POST /v1/alerts/:id/ack`
 * acknowledges one and lifts the purge protection it holds.
 *
 * Who may acknowledge: the alert's audience (the user who must act); an alert for admins only,
 * an admin. An admin cannot acknowledge a user's alert for them: a burst alert protects that
 * user's files until they confirm.
 */
import type { FastifyInstance } from 'fastify';
import type { AlertRecord } from '../../interface/directory-store.js';
import { FsError } from '../../interface/errors.js';
import {
  type AlertResponse,
  type AlertsResponse,
  routes,
  schemas,
} from '../../wire/directory-api.js';
import { authenticate, type DirectoryContext, parseBody } from '../app.js';

function view(alert: AlertRecord): AlertResponse {
  return {
    id: alert.id,
    audience: alert.audience,
    admin: alert.admin,
    rule: alert.rule,
    severity: alert.severity,
    summary: alert.summary,
    action: alert.action,
    firstAt: alert.firstAt,
    lastAt: alert.lastAt,
    count: alert.count,
    ackedAt: alert.ackedAt,
  };
}

/** Registers the alert routes (module comment). */
export function registerAlertRoutes(app: FastifyInstance, ctx: DirectoryContext): void {
  app.get(routes.alerts, async (request): Promise<AlertsResponse> => {
    const user = await authenticate(ctx, request);
    await ctx.monitor.scan();
    // The role is read on every request: taking it away takes effect at once.
    const admin = (await ctx.store.getUser(user))?.role === 'admin';
    const alerts = await ctx.store.listAlerts(admin ? undefined : user);
    return { alerts: alerts.map(view), scope: admin ? 'all' : 'own' };
  });

  app.post(routes.alertAck, async (request): Promise<AlertResponse> => {
    const op = 'alerts.ack';
    const user = await authenticate(ctx, request);
    const { id } = parseBody(schemas.alertParam, request.params, op);
    const alert = await ctx.store.getAlert(id);
    const admin = (await ctx.store.getUser(user))?.role === 'admin';
    const mayAck =
      alert !== undefined && (alert.audience === null ? admin : alert.audience === user);
    if (alert === undefined || !mayAck) {
      // Someone else's alert is not named to the caller.
      throw new FsError('not-exist', `no alert ${id} of yours`, { op });
    }
    return view(await ctx.store.ackAlert(id, ctx.now()));
  });
}

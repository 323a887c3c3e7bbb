/**
 * A user's devices: the live sessions of their account (each made by a login at some peer,
 * signing with its own device key). A user lists them and ends one; ending a device's session
 * does not undo what the device could read while it held the unlocked keys, which is why the
 * front ends follow it with a revocation (`devices revoke`).
 *
 * Also the peers' reports of a user's keys or capabilities being misused (a revoked key used
 * again, a capability replayed), which end in the same advice: check `devices`, `revocate`.
 */
import type { FastifyInstance } from 'fastify';
import { FsError } from '../../interface/errors.js';
import { parseUserName } from '../../interface/names.js';
import { fingerprint } from '../../crypto/identity.js';
import {
  type CapabilityMisuseResponse,
  routes,
  schemas,
  type SessionsResponse,
} from '../../wire/directory-api.js';
import { authenticateSession, type DirectoryContext, parseBody } from '../app.js';
import { keyLogState } from '../identities.js';
import { alertEvent } from '../monitor.js';
import { authenticatePeer } from './releases.js';

/** A revoked key used again is told to its user at most once an hour (then counted). */
const revokedKeyAlertWindowMs = 60 * 60 * 1000;

/** Replayed capabilities are told to their user at most once an hour (then counted). */
const capabilityMisuseWindowMs = 60 * 60 * 1000;

/**
 * How many reports of one `capability-misuse` alert are recorded in the audit log, each naming
 * its peer; later ones only count the alert up. Anyone can register a peer, so without a bound
 * made-up reports could fill the log.
 */
export const maxRecordedMisuseReports = 100;

export function registerSessionRoutes(app: FastifyInstance, ctx: DirectoryContext): void {
  app.get(routes.sessions, async (request): Promise<SessionsResponse> => {
    const { user, session } = await authenticateSession(ctx, request);
    const live = await ctx.store.listSessions(user, ctx.now());
    return {
      sessions: live.map((s) => ({
        id: s.id,
        device: fingerprint(s.deviceKey),
        createdAt: s.createdAt,
        expiresAt: s.expiresAt,
        current: s.id === session,
      })),
    };
  });

  app.delete(routes.session, async (request) => {
    const op = 'sessions.end';
    const { user } = await authenticateSession(ctx, request);
    const { id } = parseBody(schemas.sessionParam, request.params, op);
    if (!(await ctx.store.revokeSession(user, id, ctx.now()))) {
      throw new FsError('not-exist', `you have no live session ${id}; \`devices\` lists them`, {
        op,
      });
    }
    return { id };
  });

  // A peer refused a capability signed with a key the user revoked: whoever signed it holds the
  // old key. The user (and admins) are told; the peer cannot say more than that (it saw only
  // the capability), so the directory checks that the user did revoke a key.
  app.post(routes.revokedKeyUse, async (request) => {
    const op = 'keys.revoked-use';
    const peer = await authenticatePeer(ctx, request);
    const { user: name } = parseBody(schemas.revokedKeyUse, request.body, op);
    const user = parseUserName(name);
    const state = await keyLogState(ctx.store, user);
    if (!(state.replaced ?? []).some((old) => old.revoked)) {
      throw new FsError('invalid', `${user} has revoked no key`, { op });
    }
    const { alert } = await ctx.store.raiseAlert(
      {
        audience: user,
        admin: true,
        rule: 'revoked-key-use',
        severity: 'critical',
        summary: `a peer refused a request signed with a key you revoked: someone still holds your old key`,
        action:
          'nothing was served to them. If you did not expect this, make sure your password is new (`revocate --new-password`) and check `devices`',
        dedupeKey: `revoked-key-use:${user}`,
        time: ctx.now(),
        count: 1,
      },
      revokedKeyAlertWindowMs,
      [],
      alertEvent,
    );
    request.log.warn(
      { event: 'revoked-key.used', user, peer: fingerprint(peer.key) },
      'revoked key',
    );
    return { alert: alert.id };
  });

  // A peer refused a capability that the user's key validly signed but that was addressed to
  // another peer (`foreign`) or expired long ago (`stale`): someone holds the user's
  // capabilities and replays them. Security-sensitive, and the directory cannot check it (it
  // never sees the capability): a malicious peer (and anyone can register one) can invent
  // reports about any user. What bounds that: one alert per user, counted up while
  // unacknowledged and reported within the hour; only existing users; the alert names the first
  // reporting peer by fingerprint, and the first {@link maxRecordedMisuseReports} reports of an
  // alert are each recorded with their peer, so an admin can tell one noisy peer from many.
  app.post(routes.capabilityMisuse, async (request): Promise<CapabilityMisuseResponse> => {
    const op = 'capabilities.misuse';
    const peer = await authenticatePeer(ctx, request);
    const body = parseBody(schemas.capabilityMisuse, request.body, op);
    const user = parseUserName(body.user);
    await keyLogState(ctx.store, user); // `not-exist` for no such user
    const reporter = fingerprint(peer.key);
    const what =
      body.reason === 'foreign'
        ? 'a capability of yours addressed to another peer'
        : 'a capability of yours that had expired long ago';
    const { alert } = await ctx.store.raiseAlert(
      {
        audience: user,
        admin: true,
        rule: 'capability-misuse',
        severity: 'warning',
        summary: `peer ${reporter} refused ${what}: someone replays your capabilities`,
        action:
          'nothing was served to them. Check `devices` for a device you do not know; if there is one, or this goes on, run `revocate`. An admin can tell from the audit log whether one peer or many reported it',
        dedupeKey: `capability-misuse:${user}`,
        time: ctx.now(),
        count: 1,
      },
      capabilityMisuseWindowMs,
      [],
      alertEvent,
    );
    if (alert.count <= maxRecordedMisuseReports) {
      await ctx.audit.record(request, {
        event: 'capability.misused',
        actor: null,
        subjects: [user],
        details: { reason: body.reason, peer: peer.id, alert: alert.id },
      });
    }
    request.log.warn(
      { event: 'capability.misused', user, reason: body.reason, peer: reporter },
      'capability misuse',
    );
    return { alert: alert.id };
  });
}

/**
 * A user's devices: the live sessions of their account (each made by a login at some peer,
 * signing with its own device key). A user lists them and ends one; ending a device's session
 * does not undo what the device could read while it held the unlocked keys, which is why the
 * front ends follow it with a revocation (`devices revoke`).
 */
import type { FastifyInstance } from 'fastify';
import { FsError } from '../../interface/errors.js';
import { fingerprint } from '../../crypto/identity.js';
import { routes, schemas, type SessionsResponse } from '../../wire/directory-api.js';
import { authenticateSession, type DirectoryContext, parseBody } from '../app.js';

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
}

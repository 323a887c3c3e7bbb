/**
 * Key logs: anyone may fetch a user's log (clients verify it themselves); a user appends to
 * their own log with an event signed by their current key.
 */
import type { FastifyInstance } from 'fastify';
import { FsError } from '../../interface/errors.js';
import { parseUserName } from '../../interface/names.js';
import { fromBase64url, toBase64url } from '../../wire/base64.js';
import { routes, schemas } from '../../wire/directory-api.js';
import { chainHash, verifyKeyLogAppend } from '../../wire/key-log.js';
import { authenticate, authenticateSession, type DirectoryContext, parseBody } from '../app.js';
import { keyLogState } from '../identities.js';

export function registerKeyRoutes(app: FastifyInstance, ctx: DirectoryContext): void {
  app.get(routes.userKeys, async (request) => {
    const { user } = parseBody(schemas.userParam, request.params, 'keys');
    const log = await ctx.store.keyLog(parseUserName(user));
    if (log.length === 0) throw new FsError('not-exist', `no such user: ${user}`, { op: 'keys' });
    return { entries: log.map((record) => toBase64url(record.envelope)) };
  });

  app.post(routes.appendKey, async (request) => {
    const user = await authenticate(ctx, request);
    const body = parseBody(schemas.appendKey, request.body, 'keys.append');
    const envelope = fromBase64url(body.envelope, 'envelope', { maxBytes: 4096 });
    const state = await keyLogState(ctx.store, user);
    let next;
    try {
      next = verifyKeyLogAppend(state, envelope);
      if (next.replaced?.at(-1)?.revoked === true) throw new Error('revocations have their route');
    } catch {
      throw new FsError(
        'integrity',
        'the key event is not signed by your current key or does not follow your log',
        { op: 'keys.append' },
      );
    }
    await ctx.store.appendKeyLog({ user, seq: next.seq, envelope, hash: chainHash(envelope) }, [
      ctx.audit.event(request, {
        event: 'key.appended',
        actor: user,
        subjects: [user],
        details: { seq: next.seq, revoked: false, head: toBase64url(chainHash(envelope)) },
      }),
    ]);
    return { seq: next.seq };
  });

  // A revocation (`revocate`): the key event, the new keys sealed for the next login, and the
  // end of every other session of the user, in one transaction. Old sessions hold the old keys
  // unlocked; they end here, so nothing signed in them is accepted again.
  app.post(routes.revokeKeys, async (request) => {
    const op = 'keys.revoke';
    const { user, session } = await authenticateSession(ctx, request);
    const body = parseBody(schemas.revokeKeys, request.body, op);
    const envelope = fromBase64url(body.envelope, 'envelope', { maxBytes: 4096 });
    const sealedKeys = fromBase64url(body.sealedKeys, 'sealedKeys', { maxBytes: 4096 });
    const state = await keyLogState(ctx.store, user);
    let next;
    try {
      next = verifyKeyLogAppend(state, envelope);
    } catch {
      throw new FsError(
        'integrity',
        'the revocation is not signed by your current key and proved by the new one, or does not follow your log',
        { op },
      );
    }
    if (next.replaced?.at(-1)?.revoked !== true) {
      throw new FsError('invalid', 'this route takes a revocation event', { op });
    }
    await ctx.store.revokeKeys(
      { user, seq: next.seq, envelope, hash: chainHash(envelope) },
      sealedKeys,
      session,
      ctx.now(),
      [
        ctx.audit.event(request, {
          event: 'key.appended',
          actor: user,
          subjects: [user],
          details: { seq: next.seq, revoked: true, head: toBase64url(chainHash(envelope)) },
        }),
      ],
    );
    return { seq: next.seq };
  });
}

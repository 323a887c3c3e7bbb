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
import { authenticate, type DirectoryContext, parseBody } from '../app.js';
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
    } catch {
      throw new FsError(
        'integrity',
        'the key event is not signed by your current key or does not follow your log',
        { op: 'keys.append' },
      );
    }
    await ctx.store.appendKeyLog({ user, seq: next.seq, envelope, hash: chainHash(envelope) });
    return { seq: next.seq };
  });
}

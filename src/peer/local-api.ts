/**
 * The peer's local API, for the user's front ends (shell, web UI, WebDAV): HTTP on loopback,
 * every request carrying the token kept in the peer's data directory (0600), so only the user
 * who can read that file can use it.
 *
 * The peer is the user's agent: login runs OPAQUE with the directory and keeps the unlocked keys
 * in memory for the session, never on disk. Several users may be logged in at one peer at once,
 * each with their own session token. File verbs: mkdir, list, stat, write (streamed), read
 * (streamed), remove, rmdir, under /v1/fs/.
 *
 * Security-sensitive: passwords pass through the login route; they are never logged or stored.
 */
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify';
import { z } from 'zod';
import { FsError } from '../interface/errors.js';
import type { BlockStore } from '../interface/block-store.js';
import { constantTimeEqual, utf8 } from '../crypto/bytes.js';
import { fingerprint } from '../crypto/identity.js';
import type { DirectoryClient, DirectorySession } from '../client/directory-client.js';
import {
  type BlockTransport,
  type FileContext,
  readFile,
  removeFile,
  stat,
  writeFile,
} from '../client/files.js';
import { list, mkdir, rmdir } from '../client/namespace.js';
import { parsePath } from '../interface/paths.js';
import { installErrorHandlers } from '../wire/http-errors.js';

/** The header that carries a user's session token at the local API. */
export const sessionHeader = 'x-peervault-session';

const loginBody = z.strictObject({
  user: z.string().min(1).max(32),
  password: z.string().min(1).max(1024),
});

/** What the local API needs. */
export interface LocalApiDeps {
  token: string;
  directory: DirectoryClient;
  peerKey: Uint8Array;
  store: BlockStore;
  /** How a logged-in user's blocks reach the network (replication with their capabilities). */
  blocksFor(session: DirectorySession): BlockTransport;
}

const pathQuery = z.strictObject({ path: z.string().min(1).max(4096) });
const pathBody = z.strictObject({ path: z.string().min(1).max(4096) });

/** Builds the local API (not listening). */
export function buildLocalApi(deps: LocalApiDeps): FastifyInstance {
  const app = Fastify({ logger: false, bodyLimit: 64 * 1024 });
  const sessions = new Map<string, DirectorySession>();
  const expected = utf8(deps.token);

  app.addHook('onRequest', (request, _reply, done) => {
    const header = request.headers.authorization ?? '';
    const presented = utf8(header.startsWith('Bearer ') ? header.slice(7) : '');
    if (!constantTimeEqual(presented, expected)) {
      done(
        new FsError(
          'permission',
          'the local API needs the token from the peer data directory (api-token)',
          { op: 'api' },
        ),
      );
      return;
    }
    done();
  });

  installErrorHandlers(app, 'peer api');

  const sessionOf = (request: FastifyRequest): { token: string; session: DirectorySession } => {
    const token = request.headers[sessionHeader];
    const session = typeof token === 'string' ? sessions.get(token) : undefined;
    if (typeof token !== 'string' || !session) {
      throw new FsError('permission', 'not logged in at this peer; log in first', { op: 'api' });
    }
    if (session.expiresAt <= Date.now()) {
      sessions.delete(token);
      throw new FsError('revoked', 'the session has ended; log in again', { op: 'api' });
    }
    return { token, session };
  };

  app.get('/v1/status', async () => ({
    peer: fingerprint(deps.peerKey),
    directory: deps.directory.info.fingerprint,
    sessions: sessions.size,
    usage: await deps.store.usage(),
  }));

  app.post('/v1/login', async (request) => {
    const parsed = loginBody.safeParse(request.body);
    if (!parsed.success)
      throw new FsError('invalid', 'login wants {"user", "password"}', { op: 'login' });
    const session = await deps.directory.login(parsed.data.user, parsed.data.password);
    const token = randomBytes(24).toString('base64url');
    sessions.set(token, session);
    return {
      token,
      user: session.user,
      expiresAt: session.expiresAt,
      fingerprint: fingerprint(session.identity.signing.publicKey),
    };
  });

  app.post('/v1/logout', async (request) => {
    const { token, session } = sessionOf(request);
    sessions.delete(token);
    await deps.directory.logout(session);
    return { user: session.user };
  });

  app.get('/v1/whoami', (request) => {
    const { session } = sessionOf(request);
    return {
      user: session.user,
      fingerprint: fingerprint(session.identity.signing.publicKey),
      expiresAt: session.expiresAt,
    };
  });

  // File content streams through untouched: the agent seals it chunk by chunk as it arrives.
  app.addContentTypeParser('application/octet-stream', (_request, payload, done) =>
    done(null, payload),
  );

  const parse = <T extends z.ZodType>(schema: T, value: unknown): z.infer<T> => {
    const parsed = schema.safeParse(value);
    if (!parsed.success) throw new FsError('invalid', 'this call wants a "path"', { op: 'api' });
    return parsed.data;
  };
  const fileContext = (request: FastifyRequest): FileContext => {
    const { session } = sessionOf(request);
    return { directory: deps.directory, session, blocks: deps.blocksFor(session) };
  };
  const pathOf = (ctx: FileContext, raw: string) => parsePath(raw, ctx.session.user);

  app.post('/v1/fs/mkdir', async (request) => {
    const ctx = fileContext(request);
    const entry = await mkdir(ctx, pathOf(ctx, parse(pathBody, request.body).path));
    return { id: entry.body.id };
  });

  app.get('/v1/fs/list', async (request) => {
    const ctx = fileContext(request);
    return { entries: await list(ctx, pathOf(ctx, parse(pathQuery, request.query).path)) };
  });

  app.get('/v1/fs/stat', async (request) => {
    const ctx = fileContext(request);
    return stat(ctx, pathOf(ctx, parse(pathQuery, request.query).path));
  });

  app.put('/v1/fs/file', { bodyLimit: Number.MAX_SAFE_INTEGER }, async (request) => {
    const ctx = fileContext(request);
    const path = pathOf(ctx, parse(pathQuery, request.query).path);
    const body = request.body;
    const source: AsyncIterable<Uint8Array> =
      body instanceof Readable
        ? body
        : Readable.from(body === undefined ? [] : [Buffer.from(JSON.stringify(body))]);
    return writeFile(ctx, path, source);
  });

  app.get('/v1/fs/file', async (request, reply) => {
    const ctx = fileContext(request);
    const file = await readFile(ctx, pathOf(ctx, parse(pathQuery, request.query).path));
    void reply
      .header('content-type', 'application/octet-stream')
      .header('content-length', String(file.size))
      .header('x-peervault-version', String(file.version));
    return reply.send(Readable.from(file.content));
  });

  app.delete('/v1/fs/file', async (request) => {
    const ctx = fileContext(request);
    await removeFile(ctx, pathOf(ctx, parse(pathQuery, request.query).path));
    return { removed: true };
  });

  app.delete('/v1/fs/dir', async (request) => {
    const ctx = fileContext(request);
    await rmdir(ctx, pathOf(ctx, parse(pathQuery, request.query).path));
    return { removed: true };
  });

  app.addHook('onClose', (_instance, done) => {
    // Forget every unlocked key when the peer stops.
    sessions.clear();
    done();
  });
  return app;
}

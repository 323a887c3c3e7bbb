/**
 * The directory's HTTP application (fastify), kept apart from listening so tests can build it
 * around any store. Cross-cutting concerns live here: raw bodies (signatures cover the exact
 * bytes), the error table (FsError kind → status, `{kind, op, message}`, never a stack),
 * request-size and per-source rate limits, and signed-request authentication.
 */
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify';
import { ZodError, type z } from 'zod';
import { FsError } from '../interface/errors.js';
import type { DirectoryStore } from '../interface/directory-store.js';
import { parseUserName, type UserName } from '../interface/names.js';
import { maxRequestBytes } from '../wire/directory-api.js';
import { installErrorHandlers } from '../wire/http-errors.js';
import {
  authHeader,
  maxClockSkewMs,
  readClaimedSession,
  verifyRequest,
} from '../wire/request-auth.js';
import { createDirectoryAudit, type DirectoryAudit } from './audit.js';
import type { DirectoryConfig } from './config.js';
import type { DirectoryKeys } from './keys.js';
import { createDirectoryMonitor, type DirectoryMonitor } from './monitor.js';
import { registerAlertRoutes } from './routes/alerts.js';
import { registerAccountRoutes } from './routes/accounts.js';
import { registerAuditRoutes } from './routes/audit.js';
import { registerEntryRoutes } from './routes/entries.js';
import { registerKeyRoutes } from './routes/keys.js';
import { registerSessionRoutes } from './routes/sessions.js';
import { registerPeerRoutes } from './routes/peers.js';
import { registerReportRoutes } from './routes/reports.js';
import { registerReleaseRoutes } from './routes/releases.js';
import { registerRetentionRoutes } from './routes/retention.js';
import { registerFileAccessRoutes } from './routes/file-access.js';
import { registerGroupRoutes } from './routes/groups.js';

/** What every route handler can use. */
export interface DirectoryContext {
  store: DirectoryStore;
  keys: DirectoryKeys;
  config: DirectoryConfig;
  /** The clock (tests move it). */
  now: () => number;
  /** The audit log (audit.ts); {@link buildDirectoryApp} makes one when not given. */
  audit: DirectoryAudit;
  /** The security monitor (monitor.ts); {@link buildDirectoryApp} makes one when not given. */
  monitor: DirectoryMonitor;
}

declare module 'fastify' {
  interface FastifyRequest {
    rawBody: Buffer;
  }
}

/** Parses `value` with a schema; a failure is an `invalid` FsError naming the first problem. */
export function parseBody<T extends z.ZodType>(schema: T, value: unknown, op: string): z.infer<T> {
  try {
    return schema.parse(value);
  } catch (err) {
    if (err instanceof ZodError) {
      const issue = err.issues[0];
      const where = issue?.path.length ? ` at ${issue.path.join('.')}` : '';
      throw new FsError('invalid', `malformed request${where}: ${issue?.message ?? 'invalid'}`, {
        op,
      });
    }
    throw err;
  }
}

/**
 * Authenticates a signed request: the session exists, is live and not revoked; the signature is
 * by its device key over this method, path and body; the time is fresh; the nonce is new.
 * @returns the session's user.
 * @throws FsError `permission` or `revoked`
 */
export async function authenticate(
  ctx: DirectoryContext,
  request: FastifyRequest,
): Promise<UserName> {
  return (await authenticateSession(ctx, request)).user;
}

/** {@link authenticate}, also naming the session the request was signed in. */
export async function authenticateSession(
  ctx: DirectoryContext,
  request: FastifyRequest,
): Promise<{ user: UserName; session: string }> {
  const header = request.headers[authHeader];
  const claimed = readClaimedSession(Array.isArray(header) ? header[0] : header);
  const session = await ctx.store.getSession(claimed.session);
  const now = ctx.now();
  if (!session)
    throw new FsError('permission', 'unknown session; log in again', { op: 'request.auth' });
  if (session.revokedAt !== null || session.expiresAt <= now) {
    // A revoked session still in use may be a stolen one (the monitor's `session-misuse`);
    // a session that merely expired is ordinary.
    if (session.revokedAt !== null) await noteAuthRefusal(ctx, request, session.user, 'revoked');
    throw new FsError('revoked', 'this session has ended; log in again', { op: 'request.auth' });
  }
  const claims = verifyRequest(claimed.envelope, session, {
    method: request.method,
    path: request.url,
    body: request.rawBody,
    now,
  });
  const fresh = await ctx.store.useNonce(
    session.id,
    claims.nonce,
    claims.time + 2 * maxClockSkewMs,
  );
  if (!fresh) {
    await noteAuthRefusal(ctx, request, session.user, 'replay');
    throw new FsError('permission', 'this request was already used (replay refused)', {
      op: 'request.auth',
    });
  }
  return { user: parseUserName(session.user), session: session.id };
}

/**
 * Records a request refused in `user`'s session (a replay, a revoked session) as `access.refused`
 * with op `request.auth`, about that user: the monitor alerts them when it repeats.
 */
async function noteAuthRefusal(
  ctx: DirectoryContext,
  request: FastifyRequest,
  user: string,
  reason: 'revoked' | 'replay',
): Promise<void> {
  const name = parseUserName(user);
  await ctx.audit.record(request, {
    event: 'access.refused',
    actor: name,
    subjects: [name],
    details: { op: 'request.auth', kind: reason === 'replay' ? 'permission' : 'revoked', reason },
  });
}

/** A per-source token bucket: a DoS guard per process, not security state. */
function rateLimiter(perSecond: number): (source: string, now: number) => boolean {
  const buckets = new Map<string, { tokens: number; at: number }>();
  return (source, now) => {
    const bucket = buckets.get(source) ?? { tokens: perSecond * 2, at: now };
    bucket.tokens = Math.min(perSecond * 2, bucket.tokens + ((now - bucket.at) / 1000) * perSecond);
    bucket.at = now;
    if (buckets.size > 10_000) buckets.clear();
    buckets.set(source, bucket);
    if (bucket.tokens < 1) return false;
    bucket.tokens -= 1;
    return true;
  };
}

/** Options of {@link buildDirectoryApp}. */
export interface DirectoryAppOptions {
  /**
   * Where the app's log goes: pino JSON lines, warnings and worse (for example every refused
   * access, `event: 'access.refused'`, for the monitor). No log when absent. Lines carry user
   * names, operations and opaque ids, never a key, a password or an envelope.
   */
  logStream?: { write(line: string): void };
}

/**
 * Builds the directory's fastify app (not listening). `https` options make it serve TLS. Without
 * `init.audit`, the app makes its own audit log and closes it (signing its head) on close.
 */
export function buildDirectoryApp(
  init: Omit<DirectoryContext, 'audit' | 'monitor'> & {
    audit?: DirectoryAudit;
    monitor?: DirectoryMonitor;
  },
  https?: { key: string; cert: string },
  options: DirectoryAppOptions = {},
): FastifyInstance {
  const ctx: DirectoryContext = {
    ...init,
    audit:
      init.audit ??
      createDirectoryAudit({
        store: init.store,
        key: init.keys.identity,
        config: init.config,
        now: init.now,
      }),
    monitor:
      init.monitor ?? createDirectoryMonitor({ store: init.store, policy: init.config.monitor }),
  };
  const app = Fastify({
    logger: options.logStream ? { level: 'warn', stream: options.logStream } : false,
    bodyLimit: maxRequestBytes,
    ...(https ? { https: { ...https, minVersion: 'TLSv1.3' as const } } : {}),
  }) as unknown as FastifyInstance;

  app.removeAllContentTypeParsers();
  app.addContentTypeParser(
    '*',
    { parseAs: 'buffer', bodyLimit: maxRequestBytes },
    (request, body, done) => {
      request.rawBody = body as Buffer;
      if ((body as Buffer).length === 0) return done(null, undefined);
      try {
        done(null, JSON.parse((body as Buffer).toString('utf8')) as unknown);
      } catch {
        done(
          new FsError('invalid', 'the request body is not valid JSON', { op: 'request.parse' }),
          undefined,
        );
      }
    },
  );
  app.addHook('onRequest', (request, _reply, done) => {
    request.rawBody = Buffer.alloc(0);
    done();
  });

  const allow = rateLimiter(ctx.config.requestsPerSecond);
  app.addHook('onRequest', (request, _reply, done) => {
    if (!allow(request.ip, Date.now())) {
      done(
        new FsError('throttled', 'too many requests from this address; slow down', {
          op: 'request',
        }),
      );
      return;
    }
    done();
  });

  installErrorHandlers(app, 'directory');
  ctx.audit.install(app);
  // After the audit hooks: the refusals they record are scanned before the answer goes out.
  ctx.monitor.install(app);
  app.addHook('onClose', () => {
    ctx.monitor.close();
    return Promise.resolve();
  });
  if (init.audit === undefined) {
    app.addHook('onClose', async () => {
      await ctx.audit.close();
    });
  }

  registerAccountRoutes(app, ctx);
  registerKeyRoutes(app, ctx);
  registerSessionRoutes(app, ctx);
  registerEntryRoutes(app, ctx);
  registerPeerRoutes(app, ctx);
  registerReleaseRoutes(app, ctx);
  registerRetentionRoutes(app, ctx);
  registerFileAccessRoutes(app, ctx);
  registerGroupRoutes(app, ctx);
  registerAuditRoutes(app, ctx);
  registerAlertRoutes(app, ctx);
  registerReportRoutes(app, ctx);
  return app;
}

/**
 * The peer's local API, for the user's front ends (shell, web UI, WebDAV): HTTP on loopback,
 * every request carrying the token kept in the peer's data directory (0600), so only the user
 * who can read that file can use it.
 *
 * The peer is the user's agent: login runs OPAQUE with the directory and keeps the unlocked keys
 * in memory for the session, never on disk. Several users may be logged in at one peer at once,
 * each with their own session token. File verbs: mkdir, list, stat, write (streamed), read
 * (streamed), remove, rmdir, and sharing (share, unshare, perms, shared), under /v1/fs/.
 *
 * Security-sensitive: passwords pass through the login route; they are never logged or stored.
 */
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify';
import { z } from 'zod';
import { FsError, isFsError } from '../interface/errors.js';
import type { BlockStore } from '../interface/block-store.js';
import { constantTimeEqual, utf8 } from '../crypto/bytes.js';
import { fingerprint } from '../crypto/identity.js';
import type { DirectoryClient, DirectorySession } from '../client/directory-client.js';
import {
  type BlockTransport,
  type FileContext,
  listVersions,
  readFile,
  removeFile,
  stat,
  writeFile,
} from '../client/files.js';
import { list, mkdir, removeTree, rmdir } from '../client/namespace.js';
import { permissions, share, sharedWithMe, unshare } from '../client/sharing.js';
import { deleteGroup, listGroups, saveGroup } from '../client/groups.js';
import { type AclGrant, mergeGrants, parseRight } from '../interface/grants.js';
import { parseGrantee, parseGroupName } from '../interface/groups.js';
import { formatPath, parsePath, type PathName } from '../interface/paths.js';
import { parseEntryName, parseUserName } from '../interface/names.js';
import { listTrash, purgeFromTrash, restore } from '../client/restore.js';
import { finishRevocation, revocate } from '../client/revocation.js';
import { fromBase64url, toBase64url } from '../wire/base64.js';
import { installErrorHandlers } from '../wire/http-errors.js';
import type { RepairSummary } from './repair.js';
import { type GarbageSummary, ownRetention, setOwnRetention } from '../client/garbage.js';
import { ackAlert, listAlerts } from '../client/alerts.js';
import type { DeviceAlert } from '../client/seen-versions.js';
import { auditRecords } from '../client/audit.js';
import { type RetentionResponse, routes, type SessionsResponse } from '../wire/directory-api.js';

/** The header that carries a user's session token at the local API. */
export const sessionHeader = 'x-peervault-session';

const loginBody = z.strictObject({
  user: z.string().min(1).max(32),
  password: z.string().min(1).max(1024),
});
const registerBody = z.strictObject({
  user: z.string().min(1).max(32),
  password: z.string().min(1).max(1024),
  invite: z.string().min(1).max(256).optional(),
});
const deviceBody = z.strictObject({ id: z.string().min(1).max(64) });
const revocateBody = z.strictObject({
  resume: z.boolean().optional(),
  newPassword: z.string().min(1).max(1024).optional(),
});
const passwordBody = z.strictObject({
  password: z.string().min(1).max(1024),
  newPassword: z.string().min(1).max(1024),
});

/** What the local API needs. */
export interface LocalApiDeps {
  token: string;
  directory: DirectoryClient;
  peerKey: Uint8Array;
  store: BlockStore;
  /** How a logged-in user's blocks reach the network (replication with their capabilities). */
  blocksFor(session: DirectorySession): BlockTransport;
  /** Purges the user's trash past retention, releasing the blocks first. */
  collectGarbage(session: DirectorySession): Promise<GarbageSummary>;
  /** Runs a repair pass over the user's files now. */
  repair(session: DirectorySession, options: { audit: boolean }): Promise<RepairSummary>;
  /** The sessions held (shared with the repair scheduler); default a new map. */
  sessions?: Map<string, DirectorySession>;
  /** Files up to this size are sealed again at once when a user loses access (rekey.ts). */
  eagerRekeyMaxBytes?: number;
}

const repairBody = z.strictObject({ audit: z.boolean().optional() });
const logoutBody = z.strictObject({ everywhere: z.boolean().optional() });
const restoreBody = z.strictObject({
  path: z.string().min(1).max(4096),
  as: z.string().min(1).max(1024).optional(),
  version: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER).optional(),
});
/** `retentionMs: null` follows the directory's default again. */
const retentionBody = z.strictObject({
  retentionMs: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).nullable(),
});
const pathQuery = z.strictObject({ path: z.string().min(1).max(4096) });
/** A page of the audit log: the records after `after`, at most `limit` (the directory's bound). */
const auditQuery = z.strictObject({
  after: z.coerce.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional(),
  limit: z.coerce.number().int().min(1).max(1000).optional(),
});
/** A device alert as the local API shows it: shaped like the directory's, with its origin. */
function deviceAlertAnswer(alert: DeviceAlert) {
  return {
    id: alert.id,
    origin: 'device' as const,
    audience: alert.user,
    admin: false,
    rule: alert.rule,
    severity: alert.severity,
    summary: alert.summary,
    action: alert.action,
    evidence: alert.evidence,
    subject: alert.subject,
    firstAt: alert.firstAt,
    lastAt: alert.lastAt,
    count: alert.count,
    ackedAt: alert.ackedAt,
  };
}

const alertAckBody = z.strictObject({
  id: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER),
  /** `device` for an alert this peer raised itself (seen-versions.ts). */
  origin: z.enum(['directory', 'device']).optional(),
});
const readQuery = z.strictObject({
  path: z.string().min(1).max(4096),
  version: z.coerce.number().int().min(1).optional(),
});
/** Most grants one request may carry (a guard against absurd input, not a policy). */
const maxGrants = 256;
// A user name, or a group of the owner's: `@team` (one character more).
const userField = z.string().min(1).max(33);
const grantList = z
  .array(z.strictObject({ user: userField, right: z.string().min(1).max(2) }))
  .max(maxGrants);
const writeQuery = z.strictObject({
  path: z.string().min(1).max(4096),
  mode: z.enum(['replace', 'create', 'append']).optional(),
  // `grant=USER:RIGHT`, repeated: the grants of a file being created (mode=create only).
  grant: z.union([z.string().max(40), z.array(z.string().max(40)).max(maxGrants)]).optional(),
});
const rmdirQuery = z.strictObject({
  path: z.string().min(1).max(4096),
  recursive: z.enum(['0', '1']).optional(),
});
const pathBody = z.strictObject({ path: z.string().min(1).max(4096) });
const mkdirBody = z.strictObject({
  path: z.string().min(1).max(4096),
  grants: grantList.optional(),
});
const shareBody = z.strictObject({ path: z.string().min(1).max(4096), grants: grantList.min(1) });
const unshareBody = z.strictObject({
  path: z.string().min(1).max(4096),
  users: z.array(userField).min(1).max(maxGrants),
});
const groupParams = z.strictObject({ name: z.string().min(1).max(33) });
const groupMembers = z.array(z.string().min(1).max(32)).max(256);
const groupSetBody = z.strictObject({ members: groupMembers, create: z.boolean().optional() });
const groupChangeBody = z.strictObject({ members: groupMembers.min(1) });
const groupDeleteQuery = z.strictObject({ force: z.enum(['0', '1']).optional() });

/**
 * Grants as a front end sent them, checked once here: valid user names (or the owner's groups,
 * `@team`), `r`, `w` or `rw`, one grant per user (the stronger right kept), never the owner of
 * `path`.
 * @throws FsError `invalid`
 */
function grantsOf(raw: readonly { user: string; right: string }[], path: PathName): AclGrant[] {
  return mergeGrants(
    raw.map(({ user, right }) => ({ user: parseGrantee(user), right: parseRight(right) })),
    path.owner,
  );
}

/** `USER:RIGHT` query values as grant objects. @throws FsError `invalid` */
function grantsOfQuery(values: string | readonly string[]): { user: string; right: string }[] {
  return (typeof values === 'string' ? [values] : values).map((value) => {
    const colon = value.lastIndexOf(':');
    if (colon === -1) {
      throw new FsError('invalid', `a grant is USER:RIGHT, such as bob:r, not "${value}"`, {
        op: 'write',
      });
    }
    return { user: value.slice(0, colon), right: value.slice(colon + 1) };
  });
}

/** The user's retention as front ends show it: what applies, and whether they chose it. */
function retentionAnswer(answer: RetentionResponse): {
  retentionMs: number;
  own: boolean;
  defaultMs: number;
  minMs: number;
  maxMs: number;
} {
  return {
    retentionMs: answer.retentionMs ?? answer.defaultMs,
    own: answer.retentionMs !== null,
    defaultMs: answer.defaultMs,
    minMs: answer.minMs,
    maxMs: answer.maxMs,
  };
}

/** A path in the form JSON carries: `/owner/a/b`. */
function withPathText<T extends { path: PathName }>(value: T): Omit<T, 'path'> & { path: string } {
  return { ...value, path: formatPath(value.path) };
}

/** Builds the local API (not listening). */
export function buildLocalApi(deps: LocalApiDeps): FastifyInstance {
  const app = Fastify({ logger: false, bodyLimit: 64 * 1024 });
  const sessions = deps.sessions ?? new Map<string, DirectorySession>();
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

  app.post('/v1/register', async (request) => {
    const parsed = registerBody.safeParse(request.body);
    if (!parsed.success)
      throw new FsError('invalid', 'register wants {"user", "password"} and maybe "invite"', {
        op: 'register',
      });
    const { user, password, invite } = parsed.data;
    const keys = await deps.directory.register(
      user,
      password,
      invite === undefined ? {} : { invite },
    );
    return { user, fingerprint: fingerprint(keys.signing.publicKey) };
  });

  app.post('/v1/passwd', async (request) => {
    const { session } = sessionOf(request);
    const parsed = passwordBody.safeParse(request.body);
    if (!parsed.success)
      throw new FsError('invalid', 'passwd wants {"password", "newPassword"}', { op: 'passwd' });
    // A session token alone must not be enough to take over the account: prove the password.
    const check = await deps.directory.login(session.user, parsed.data.password);
    await deps.directory.changePassword(check, parsed.data.newPassword);
    // The directory has ended every session of the user; forget ours too.
    for (const [token, held] of sessions) if (held.user === session.user) sessions.delete(token);
    return { user: session.user };
  });

  // The seed's revocate: new keys, everything owned or written brought under them. The answer
  // streams one JSON line per step done ({"progress": {done, total}}), then the summary, or an
  // error line if it fails midway (running it again finishes the work: revocation.ts).
  app.post('/v1/revocate', (request, reply) => {
    const { session } = sessionOf(request);
    const parsed = revocateBody.safeParse(request.body ?? {});
    if (!parsed.success) {
      throw new FsError('invalid', 'revocate wants {"resume"?: true, "newPassword"?: text}', {
        op: 'revocate',
      });
    }
    const ctx = { directory: deps.directory, session };
    const lines = async function* () {
      const queue: string[] = [];
      let wake: (() => void) | undefined;
      let finished = false;
      const push = (line: unknown) => {
        queue.push(`${JSON.stringify(line)}\n`);
        wake?.();
      };
      const work = (async () => {
        try {
          const onProgress = (progress: { done: number; total: number }) => push({ progress });
          const summary = parsed.data.resume
            ? { seq: 0, ms: 0, ...(await finishRevocation(ctx, { onProgress })) }
            : await revocate(ctx, { onProgress });
          // Other sessions of this user here were ended at the directory: forget them.
          for (const [token, held] of sessions) {
            if (held.user === session.user && held !== session) sessions.delete(token);
          }
          if (parsed.data.newPassword !== undefined) {
            await deps.directory.changePassword(session, parsed.data.newPassword);
            for (const [token, held] of sessions)
              if (held.user === session.user) sessions.delete(token);
          }
          push({ summary: { ...summary, passwordChanged: parsed.data.newPassword !== undefined } });
        } catch (err) {
          const fs =
            err instanceof FsError
              ? err
              : new FsError('internal', 'revocate failed', { op: 'revocate' });
          push({ error: { kind: fs.kind, op: fs.op, message: fs.message } });
        } finally {
          finished = true;
          wake?.();
        }
      })();
      while (!finished || queue.length > 0) {
        if (queue.length === 0) await new Promise<void>((resolve) => (wake = resolve));
        wake = undefined;
        while (queue.length > 0) yield queue.shift()!;
      }
      await work;
    };
    void reply.header('content-type', 'application/x-ndjson');
    return reply.send(Readable.from(lines()));
  });

  // Devices: the user's live sessions at the directory (one per login at some peer).
  app.get('/v1/devices', async (request) => {
    const { session } = sessionOf(request);
    return deps.directory.call<SessionsResponse>('GET', routes.sessions, undefined, session);
  });

  app.post('/v1/devices/end', async (request) => {
    const { session } = sessionOf(request);
    const parsed = deviceBody.safeParse(request.body);
    if (!parsed.success)
      throw new FsError('invalid', 'devices/end wants {"id"}', { op: 'devices' });
    if (parsed.data.id === session.id) {
      throw new FsError('invalid', 'that is this session: use `logout` to end it', {
        op: 'devices',
      });
    }
    await deps.directory.call(
      'DELETE',
      routes.session.replace(':id', encodeURIComponent(parsed.data.id)),
      undefined,
      session,
    );
    return { id: parsed.data.id };
  });

  app.get('/v1/peers', async () => {
    // The signed live list, with each peer's health; quarantined peers are not in the list
    // (the directory leaves them out of placement), so they are added after it.
    const [{ time, peers }, health] = await Promise.all([
      deps.directory.peers(),
      deps.directory.peerHealth(),
    ]);
    const healthOf = new Map(health.peers.map((h) => [h.key, h]));
    const listed = peers.map((peer) => {
      const h = healthOf.get(toBase64url(peer.key));
      return {
        fingerprint: fingerprint(peer.key),
        address: peer.address,
        capacity: peer.capacity,
        lastSeen: peer.lastSeen,
        self: constantTimeEqual(peer.key, deps.peerKey),
        strikes: h?.strikes ?? 0,
        quarantined: false,
      };
    });
    const quarantined = health.peers
      .filter((h) => h.quarantinedAt !== null)
      .map((h) => {
        const key = fromBase64url(h.key, 'peer key', { length: 32 });
        return {
          fingerprint: fingerprint(key),
          address: h.address ?? '',
          capacity: 0,
          lastSeen: 0,
          self: constantTimeEqual(key, deps.peerKey),
          strikes: h.strikes,
          quarantined: true,
        };
      });
    return { time, peers: [...listed, ...quarantined] };
  });

  app.post('/v1/repair', async (request) => {
    const { session } = sessionOf(request);
    const parsed = repairBody.safeParse(request.body ?? {});
    if (!parsed.success)
      throw new FsError('invalid', 'repair wants {"audit": true|false}', { op: 'repair' });
    return deps.repair(session, { audit: parsed.data.audit === true });
  });

  app.post('/v1/gc', async (request) => {
    const { session } = sessionOf(request);
    return deps.collectGarbage(session);
  });

  // Logging out forgets the session here, with its unlocked keys and the device key that signs
  // its requests, so the directory session it stood for cannot be used by anyone any more.
  // Only `everywhere` also ends the user's sessions at other peers and devices.
  app.post('/v1/logout', async (request) => {
    const { token, session } = sessionOf(request);
    const parsed = logoutBody.safeParse(request.body ?? {});
    if (!parsed.success)
      throw new FsError('invalid', 'logout wants {"everywhere": true|false}', { op: 'logout' });
    sessions.delete(token);
    if (parsed.data.everywhere === true) {
      await deps.directory.logout(session);
      for (const [other, held] of sessions) if (held.user === session.user) sessions.delete(other);
    }
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
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const where = issue?.path.join('.') || 'request';
      throw new FsError('invalid', `bad ${where}: ${issue?.message ?? 'malformed'}`, { op: 'api' });
    }
    return parsed.data;
  };
  const fileContext = (request: FastifyRequest): FileContext & { eagerRekeyMaxBytes?: number } => {
    const { session } = sessionOf(request);
    return {
      directory: deps.directory,
      session,
      blocks: deps.blocksFor(session),
      ...(deps.eagerRekeyMaxBytes === undefined
        ? {}
        : { eagerRekeyMaxBytes: deps.eagerRekeyMaxBytes }),
    };
  };
  const pathOf = (ctx: FileContext, raw: string) => parsePath(raw, ctx.session.user);

  app.post('/v1/fs/mkdir', async (request) => {
    const ctx = fileContext(request);
    const body = parse(mkdirBody, request.body);
    const path = pathOf(ctx, body.path);
    const entry = await mkdir(ctx, path, grantsOf(body.grants ?? [], path));
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
    const query = parse(writeQuery, request.query);
    const path = pathOf(ctx, query.path);
    if (query.grant !== undefined && query.mode !== 'create') {
      throw new FsError(
        'invalid',
        'grants come with a new file only (mode=create); share an existing one with /v1/fs/share',
        { op: 'write' },
      );
    }
    const grants = query.grant === undefined ? [] : grantsOf(grantsOfQuery(query.grant), path);
    const body = request.body;
    const source: AsyncIterable<Uint8Array> =
      body instanceof Readable
        ? body
        : Readable.from(body === undefined ? [] : [Buffer.from(JSON.stringify(body))]);
    return writeFile(ctx, path, source, {
      ...(query.mode === undefined ? {} : { mode: query.mode }),
      ...(grants.length === 0 ? {} : { grants }),
    });
  });

  app.get('/v1/fs/file', async (request, reply) => {
    const ctx = fileContext(request);
    const query = parse(readQuery, request.query);
    const file = await readFile(
      ctx,
      pathOf(ctx, query.path),
      query.version === undefined ? {} : { version: query.version },
    );
    void reply
      .header('content-type', 'application/octet-stream')
      .header('content-length', String(file.size))
      .header('x-peervault-version', String(file.version));
    return reply.send(Readable.from(file.content));
  });

  app.post('/v1/fs/share', async (request) => {
    const ctx = fileContext(request);
    const body = parse(shareBody, request.body);
    const path = pathOf(ctx, body.path);
    return withPathText(await share(ctx, path, grantsOf(body.grants, path)));
  });

  app.post('/v1/fs/unshare', async (request) => {
    const ctx = fileContext(request);
    const body = parse(unshareBody, request.body);
    const users = [...new Set(body.users.map(parseGrantee))];
    return withPathText(await unshare(ctx, pathOf(ctx, body.path), users));
  });

  app.get('/v1/fs/perms', async (request) => {
    const ctx = fileContext(request);
    return withPathText(await permissions(ctx, pathOf(ctx, parse(pathQuery, request.query).path)));
  });

  app.get('/v1/fs/shared', async (request) => {
    const ctx = fileContext(request);
    return { items: (await sharedWithMe(ctx)).map(withPathText) };
  });

  // Groups (`@team` in grants): the logged-in user's own. A change of members re-applies every
  // entry shared with the group (client/groups.ts); `entries` says how many got a new version.
  app.get('/v1/groups', async (request) => {
    const ctx = fileContext(request);
    return { groups: await listGroups(ctx) };
  });

  app.put('/v1/groups/:name', async (request) => {
    const ctx = fileContext(request);
    const name = parseGroupName(parse(groupParams, request.params).name);
    const body = parse(groupSetBody, request.body);
    const members = body.members.map(parseUserName);
    return saveGroup(ctx, name, body.create === true ? { create: members } : { set: members });
  });

  app.post('/v1/groups/:name/add', async (request) => {
    const ctx = fileContext(request);
    const name = parseGroupName(parse(groupParams, request.params).name);
    const members = parse(groupChangeBody, request.body).members.map(parseUserName);
    return saveGroup(ctx, name, { add: members });
  });

  app.post('/v1/groups/:name/remove', async (request) => {
    const ctx = fileContext(request);
    const name = parseGroupName(parse(groupParams, request.params).name);
    const members = parse(groupChangeBody, request.body).members.map(parseUserName);
    return saveGroup(ctx, name, { remove: members });
  });

  app.delete('/v1/groups/:name', async (request) => {
    const ctx = fileContext(request);
    const name = parseGroupName(parse(groupParams, request.params).name);
    const query = parse(groupDeleteQuery, request.query);
    return deleteGroup(ctx, name, { force: query.force === '1' });
  });

  app.get('/v1/fs/versions', async (request) => {
    const ctx = fileContext(request);
    return { versions: await listVersions(ctx, pathOf(ctx, parse(pathQuery, request.query).path)) };
  });

  app.delete('/v1/fs/file', async (request) => {
    const ctx = fileContext(request);
    await removeFile(ctx, pathOf(ctx, parse(pathQuery, request.query).path));
    return { removed: 1 };
  });

  app.get('/v1/trash', async (request) => {
    const ctx = fileContext(request);
    return { entries: await listTrash(ctx) };
  });

  app.post('/v1/trash/purge', async (request) => {
    const ctx = fileContext(request);
    const parsed = pathBody.safeParse(request.body);
    if (!parsed.success) throw new FsError('invalid', 'purge wants {"path"}', { op: 'purge' });
    return { purged: await purgeFromTrash(ctx, pathOf(ctx, parsed.data.path)) };
  });

  app.post('/v1/restore', async (request) => {
    const ctx = fileContext(request);
    const parsed = restoreBody.safeParse(request.body);
    if (!parsed.success) {
      throw new FsError('invalid', 'restore wants {"path"} and maybe "as" and "version"', {
        op: 'restore',
      });
    }
    const { version } = parsed.data;
    const path = pathOf(ctx, parsed.data.path);
    const as = parsed.data.as === undefined ? undefined : parseEntryName(parsed.data.as);
    // With a version and no new name, a live file is reverted rather than brought back from
    // the trash (restore.ts decides the same way): say which happened.
    const reverted =
      version !== undefined &&
      as === undefined &&
      (await stat(ctx, path).then(
        () => true,
        (err: unknown) => {
          if (err instanceof FsError && err.kind === 'not-exist') return false;
          throw err;
        },
      ));
    const restored = await restore(ctx, path, {
      ...(as === undefined ? {} : { as }),
      ...(version === undefined ? {} : { version }),
    });
    const target =
      as === undefined ? path : { ...path, elements: [...path.elements.slice(0, -1), as] };
    const now = await stat(ctx, target);
    return {
      restored,
      path: formatPath(target),
      kind: now.kind,
      version: now.version,
      reverted,
      ...(version === undefined ? {} : { from: version }),
    };
  });

  // The directory's audit log: events about the user's account and files (all, for an admin).
  app.get('/v1/audit', async (request) => {
    const ctx = fileContext(request);
    const { after, limit } = parse(auditQuery, request.query);
    return auditRecords(ctx, {
      ...(after === undefined ? {} : { after }),
      ...(limit === undefined ? {} : { limit }),
    });
  });

  // The user's security alerts: those this device raised itself (a rolled-back or forked
  // entry: kept here, where the directory cannot delete them, and shown even when the
  // directory does not answer), then the directory's (all, for an admin); unread first.
  app.get('/v1/alerts', async (request) => {
    const ctx = fileContext(request);
    const device = deps.directory.seen.alerts(ctx.session.user).map(deviceAlertAnswer);
    const unread = device.filter((a) => a.ackedAt === null);
    const read = device.filter((a) => a.ackedAt !== null);
    try {
      const page = await listAlerts(ctx);
      const tagged = page.alerts.map((a) => ({ ...a, origin: 'directory' as const }));
      return {
        ...page,
        alerts: [
          ...unread,
          ...tagged.filter((a) => a.ackedAt === null),
          ...read,
          ...tagged.filter((a) => a.ackedAt !== null),
        ],
      };
    } catch (err) {
      if (!isFsError(err, 'unavailable')) throw err;
      return { alerts: [...unread, ...read], scope: 'own', directoryUnavailable: true };
    }
  });

  app.post('/v1/alerts/ack', async (request) => {
    const ctx = fileContext(request);
    const { id, origin } = parse(alertAckBody, request.body);
    if (origin === 'device') {
      return deviceAlertAnswer(deps.directory.seen.ack(ctx.session.user, id, Date.now()));
    }
    return { ...(await ackAlert(ctx, id)), origin: 'directory' };
  });

  app.get('/v1/retention', async (request) => {
    const ctx = fileContext(request);
    return retentionAnswer(await ownRetention(ctx));
  });

  app.put('/v1/retention', async (request) => {
    const ctx = fileContext(request);
    const { retentionMs } = parse(retentionBody, request.body);
    return retentionAnswer(await setOwnRetention(ctx, retentionMs));
  });

  app.delete('/v1/fs/dir', async (request) => {
    const ctx = fileContext(request);
    const query = parse(rmdirQuery, request.query);
    const path = pathOf(ctx, query.path);
    if (query.recursive === '1') return { removed: await removeTree(ctx, path) };
    await rmdir(ctx, path);
    return { removed: 1 };
  });

  // Expired sessions hold unlocked keys for nothing: drop them even if never used again.
  const pruner = setInterval(() => {
    const now = Date.now();
    for (const [token, session] of sessions) if (session.expiresAt <= now) sessions.delete(token);
  }, 60_000);
  pruner.unref();

  app.addHook('onClose', (_instance, done) => {
    clearInterval(pruner);
    // Forget every unlocked key when the peer stops.
    sessions.clear();
    done();
  });
  return app;
}

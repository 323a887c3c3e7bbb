/**
 * The encrypted namespace. The directory checks what it can check and stores the rest opaque:
 * - every version is signed by the caller's current identity key (from their verified key log);
 * - the caller may write: the owner, or a user the current version's ACL names as writer;
 *   only the owner restores;
 * - every version carries its owner's signed access certificate (`aclCert`, wire/entry-acl.ts),
 *   verified under the owner's current key, matching the version's `acl`; its wrapped keys are
 *   for exactly the owner, the readers and the writers. A version the owner signs may carry any
 *   certificate the owner signed for this entry, or inherit its folder's current one (byte for
 *   byte). A version a writer signs must carry the certificate of the version before it (or,
 *   for a new entry, its folder's current one) byte for byte, and the same key recipients: a
 *   writer writes, but never changes who has access;
 * - versions grow by exactly one, each naming the hash of the one before, and the update is a
 *   compare-and-swap on the version: a stale writer gets `conflict`, never a lost update;
 * - entries the caller may not read are answered as `not-exist`, so probing learns nothing.
 *
 * The directory is not trusted for any of this: readers verify the certificate and the chain
 * themselves. Checking here keeps forged or over-reaching versions out of the store, so that one
 * writer cannot make a shared file unreadable for everyone else.
 *
 * Every refusal (`permission`, `integrity`, and `not-exist` answered because the caller may not
 * read) is logged as `{event: 'access.refused', user, op, entry, kind}` for the monitor: user
 * names, operation and opaque entry id only, never an envelope or a key. It is also recorded in
 * the audit log (`access.refused`, about the owner of the entry), before the refusal is answered.
 * Deletions, restores, purges, changes of an entry's grants and plain overwrites of a live file
 * are recorded there too, in the same transaction as the change (../audit.ts).
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { type ErrorKind, FsError, isFsError } from '../../interface/errors.js';
import type { AuditEvent } from '../../interface/audit.js';
import type { EntryRecord, EntryVersionRecord } from '../../interface/directory-store.js';
import { parseFileId } from '../../interface/ids.js';
import { parseUserName, type UserName } from '../../interface/names.js';
import { constantTimeEqual } from '../../crypto/bytes.js';
import { fromBase64url, toBase64url } from '../../wire/base64.js';
import {
  type DirEntryBody,
  grantsOf,
  openDirEntry,
  decodeDirEntryUnverified,
} from '../../wire/dir-entry.js';
import {
  type EntryResponse,
  type EntryVersionResponse,
  routes,
  schemas,
  type SharedEntriesResponse,
} from '../../wire/directory-api.js';
import {
  checkEntryAuthority,
  type EntryAcl,
  isInheritedAcl,
  sameUsers,
} from '../../wire/entry-acl.js';
import { chainHash } from '../../wire/key-log.js';
import { maxClockSkewMs } from '../../wire/request-auth.js';
import { authenticate, type DirectoryContext, parseBody } from '../app.js';
import { isOverwrite, noteRefusal } from '../audit.js';
import { protectedMessage } from '../monitor.js';
import { keyLogState } from '../identities.js';

const zeroTag = new Uint8Array(32);

/** Whether `user` may read `entry`: its owner or a grantee (reports.ts hides entries alike). */
export function canRead(entry: EntryRecord, user: UserName): boolean {
  return entry.owner === user || entry.grants.some((g) => g.user === user);
}

function canWrite(entry: EntryRecord, user: UserName): boolean {
  return entry.owner === user || entry.grants.some((g) => g.user === user && g.right === 'w');
}

function response(entry: EntryRecord): EntryResponse {
  return {
    envelope: toBase64url(entry.envelope),
    version: entry.version,
    deletedAt: entry.deletedAt,
    deletedBy: entry.deletedBy,
  };
}

/** The answer for an entry that does not exist or the caller may not read (the same). */
export const noSuchEntry = 'no such entry';
const notFound = (op: string) => new FsError('not-exist', noSuchEntry, { op });

/** Who is asking, for what: what a refusal is logged with. */
interface Caller {
  request: FastifyRequest;
  user: UserName;
  op: string;
}

/**
 * Logs a refusal for the monitor and returns the error to throw. A `not-exist` refusal has the
 * same message as a genuine miss, so the caller cannot tell them apart.
 */
function refuse(caller: Caller, entry: string | null, kind: ErrorKind, message: string): FsError {
  caller.request.log.warn(
    { event: 'access.refused', user: caller.user, op: caller.op, entry, kind },
    'refused',
  );
  noteRefusal(caller.request, { user: caller.user, op: caller.op, entry, kind });
  return new FsError(kind, message, { op: caller.op });
}

/**
 * Grants as `user:right` words: those in `after` and not in `before` (given), and the other way
 * round (taken). A change of right (bob from r to w) is one of each.
 */
function grantChanges(
  before: readonly { user: string; right: string }[],
  after: readonly { user: string; right: string }[],
): { given: string[]; taken: string[] } {
  const words = (grants: readonly { user: string; right: string }[]) =>
    new Set(grants.map((g) => `${g.user}:${g.right}`));
  const was = words(before);
  const now = words(after);
  return {
    given: [...now].filter((word) => !was.has(word)).sort(),
    taken: [...was].filter((word) => !now.has(word)).sort(),
  };
}

/** The access certificate an entry's current version carries (a row verified when stored). */
const certOf = (entry: EntryRecord): Uint8Array => decodeDirEntryUnverified(entry.envelope).aclCert;

function versionResponse(version: EntryVersionRecord): EntryVersionResponse {
  return {
    version: version.version,
    envelope: toBase64url(version.envelope),
    writer: version.writer,
    createdAt: version.createdAt,
  };
}

/** Registers the namespace routes (module comment). */
export function registerEntryRoutes(app: FastifyInstance, ctx: DirectoryContext): void {
  const { store } = ctx;

  /**
   * Verifies an envelope as signed by the caller's current identity key; returns it with that
   * key (which checks the certificate too when the caller owns the entry).
   */
  async function openSignedBy(
    caller: Caller,
    envelope: Uint8Array,
  ): Promise<{ body: DirEntryBody; callerKey: Uint8Array }> {
    const callerKey = (await keyLogState(store, caller.user)).identity.signingKey;
    try {
      return { body: openDirEntry(envelope, [callerKey]).body, callerKey };
    } catch {
      // The id is unreadable when the envelope is; the log line names none then.
      let entry: string | null = null;
      try {
        entry = decodeDirEntryUnverified(envelope).id;
      } catch {
        // malformed: nothing to name
      }
      throw refuse(
        caller,
        entry,
        'integrity',
        'the entry is malformed or not signed by your current key',
      );
    }
  }

  /** The entry, if `caller` may read it; `not-exist` otherwise (logged when it exists). */
  async function visibleEntry(caller: Caller, id: string): Promise<EntryRecord> {
    const entry = await store.getEntry(parseFileId(id));
    if (!entry) throw notFound(caller.op);
    if (!canRead(entry, caller.user)) throw refuse(caller, entry.id, 'not-exist', noSuchEntry);
    return entry;
  }

  /**
   * Security-sensitive: checks a new version's access certificate and wrapped keys against the
   * rule in the module comment. `previous` is the version it follows (none for a create);
   * `parentCert` gives the current certificate of the entry's folder (none for a root or a
   * folder that is gone); `callerKey` is the caller's current signing key. Runs after the
   * caller's right to write was checked.
   * @throws FsError `permission` when a writer changes who has access; `integrity` when the
   *   certificate is forged, malformed, for another entry or does not match the ACL; `invalid`
   *   when the wrapped keys are not for exactly the owner and the ACL's users.
   */
  async function checkAccessList(
    caller: Caller,
    body: DirEntryBody,
    previous: DirEntryBody | null,
    parentCert: () => Promise<Uint8Array | undefined>,
    callerKey: Uint8Array,
  ): Promise<void> {
    const { user, op } = caller;
    const byOwner = body.owner === user;
    if (!byOwner) {
      const expected = previous === null ? await parentCert() : previous.aclCert;
      if (expected === undefined || !constantTimeEqual(body.aclCert, expected)) {
        throw refuse(
          caller,
          body.id,
          'permission',
          previous === null
            ? "only the owner chooses who has access: a new entry by a writer carries its folder's access certificate"
            : 'only the owner may change who has access: a writer keeps the access certificate of the version before',
        );
      }
      if (previous !== null && !sameUsers(Object.keys(body.keys), Object.keys(previous.keys))) {
        throw refuse(caller, body.id, 'permission', 'only the owner may change who holds the keys');
      }
    }
    const ownerKey = byOwner
      ? callerKey
      : (await keyLogState(store, body.owner)).identity.signingKey;
    let acl: EntryAcl;
    try {
      acl = checkEntryAuthority(body, user, ownerKey);
    } catch (err) {
      if (!isFsError(err, 'integrity')) throw err;
      throw refuse(
        caller,
        body.id,
        'integrity',
        err.op === 'acl.check'
          ? err.message
          : "the entry's access certificate is malformed or not signed by its owner's current key",
      );
    }
    if (byOwner && isInheritedAcl(body, acl)) {
      const inherited = await parentCert();
      if (inherited === undefined || !constantTimeEqual(body.aclCert, inherited)) {
        throw refuse(
          caller,
          body.id,
          'integrity',
          "the access certificate was issued for another entry and is not its folder's current one",
        );
      }
    }
    if (!sameUsers(Object.keys(body.keys), [body.owner, ...acl.r, ...acl.w])) {
      throw new FsError(
        'invalid',
        'the wrapped keys must be for exactly the owner, the readers and the writers',
        { op },
      );
    }
  }

  app.post(routes.entries, async (request) => {
    const op = 'entry.create';
    const user = await authenticate(ctx, request);
    const caller: Caller = { request, user, op };
    const { envelope: text } = parseBody(schemas.createEntry, request.body, op);
    const envelope = fromBase64url(text, 'envelope');
    const { body, callerKey } = await openSignedBy(caller, envelope);
    if (body.version !== 1 || !constantTimeEqual(body.prev, zeroTag) || body.deleted !== null) {
      throw new FsError('invalid', 'a new entry has version 1, no previous hash and no deletion', {
        op,
      });
    }
    let parent: EntryRecord | undefined;
    if (body.parent === null) {
      if (body.owner !== user || body.kind !== 'dir' || !constantTimeEqual(body.tag, zeroTag)) {
        throw new FsError('invalid', 'a root is a directory of your own with an all-zero tag', {
          op,
        });
      }
    } else {
      parent = await store.getEntry(body.parent);
      if (!parent) throw notFound(op);
      if (!canRead(parent, user)) throw refuse(caller, parent.id, 'not-exist', noSuchEntry);
      if (parent.deletedAt !== null) throw notFound(op);
      if (parent.kind !== 'dir')
        throw new FsError('not-dir', 'the parent is not a directory', { op });
      if (!canWrite(parent, user))
        throw refuse(caller, parent.id, 'permission', 'you may not write in this directory');
      if (body.owner !== parent.owner) {
        throw new FsError('invalid', 'an entry belongs to the owner of its directory', { op });
      }
    }
    await checkAccessList(
      caller,
      body,
      null,
      () => Promise.resolve(parent === undefined ? undefined : certOf(parent)),
      callerKey,
    );
    const now = ctx.now();
    await store.createEntry({
      id: body.id,
      owner: body.owner,
      parent: body.parent,
      tag: body.tag,
      version: 1,
      kind: body.kind,
      envelope,
      writer: user,
      updatedAt: now,
      deletedAt: null,
      deletedBy: null,
      grants: grantsOf(body),
    });
    return { id: body.id, version: 1 };
  });

  app.put(routes.entry, async (request) => {
    const op = 'entry.update';
    const user = await authenticate(ctx, request);
    const caller: Caller = { request, user, op };
    const { id } = parseBody(schemas.idParam, request.params, op);
    const { envelope: text, expectedVersion } = parseBody(schemas.updateEntry, request.body, op);
    const current = await visibleEntry(caller, id);
    if (expectedVersion !== current.version) {
      throw new FsError(
        'conflict',
        `the entry is at version ${current.version}, not ${expectedVersion}; read it again`,
        { op },
      );
    }
    const envelope = fromBase64url(text, 'envelope');
    const { body, callerKey } = await openSignedBy(caller, envelope);
    if (
      body.id !== current.id ||
      body.parent !== current.parent ||
      body.owner !== current.owner ||
      body.kind !== current.kind ||
      body.version !== current.version + 1 ||
      !constantTimeEqual(body.prev, chainHash(current.envelope))
    ) {
      throw new FsError(
        'invalid',
        'the new version must follow the current one (same id, parent, owner and kind; version + 1; its hash)',
        { op },
      );
    }
    const isOwner = current.owner === user;
    if (current.deletedAt !== null) {
      if (!isOwner) {
        throw refuse(caller, current.id, 'permission', 'only the owner may restore an entry');
      }
      if (body.deleted !== null)
        throw new FsError('invalid', 'the entry is already in the trash', { op });
    } else if (!canWrite(current, user)) {
      throw refuse(caller, current.id, 'permission', 'you may read this entry but not write it');
    }
    const parentCert = async () => {
      const parent = current.parent === null ? undefined : await store.getEntry(current.parent);
      return parent === undefined ? undefined : certOf(parent);
    };
    const previous = decodeDirEntryUnverified(current.envelope);
    await checkAccessList(caller, body, previous, parentCert, callerKey);
    const now = ctx.now();
    if (
      body.deleted !== null &&
      (body.deleted.by !== user || Math.abs(body.deleted.at - now) > maxClockSkewMs)
    ) {
      throw new FsError('invalid', 'a deletion names its deleter and the current time', { op });
    }
    const grants = grantsOf(body);
    // What the audit log records of this version.
    const audit: AuditEvent[] = [];
    const about = (event: AuditEvent['event'], details: AuditEvent['details']) =>
      audit.push(
        ctx.audit.event(request, {
          event,
          actor: user,
          subjects: [current.owner],
          entry: current.id,
          details: { version: body.version, ...details },
        }),
      );
    if (current.deletedAt === null && body.deleted !== null) about('entry.deleted', {});
    if (current.deletedAt !== null && body.deleted === null) about('entry.restored', {});
    const { given, taken } = grantChanges(current.grants, grants);
    if (given.length > 0) about('entry.shared', { grants: given });
    if (taken.length > 0) about('entry.unshared', { grants: taken });
    // A plain new version of a live file, for the monitor's overwrite-burst (a revocation's
    // re-signing and grant changes are left out: isOverwrite says why).
    if (isOverwrite(current, { body, grants, writer: user, signer: callerKey })) {
      about('entry.overwritten', {});
    }
    await store.updateEntry(
      {
        ...current,
        tag: body.tag,
        version: body.version,
        envelope,
        writer: user,
        updatedAt: now,
        deletedAt: body.deleted ? now : null,
        deletedBy: body.deleted ? user : null,
        grants,
      },
      expectedVersion,
      audit,
    );
    return { id: body.id, version: body.version };
  });

  app.get(routes.entry, async (request) => {
    const op = 'entry.get';
    const user = await authenticate(ctx, request);
    const { id } = parseBody(schemas.idParam, request.params, op);
    return response(await visibleEntry({ request, user, op }, id));
  });

  app.get(routes.children, async (request) => {
    const op = 'entry.list';
    const user = await authenticate(ctx, request);
    const { id } = parseBody(schemas.idParam, request.params, op);
    const parent = await visibleEntry({ request, user, op }, id);
    if (parent.kind !== 'dir') throw new FsError('not-dir', 'not a directory', { op });
    const children = await store.listChildren(parent.id, user);
    return { entries: children.map(response) };
  });

  app.get(routes.versions, async (request): Promise<{ versions: EntryVersionResponse[] }> => {
    const op = 'entry.versions';
    const user = await authenticate(ctx, request);
    const { id } = parseBody(schemas.idParam, request.params, op);
    const entry = await visibleEntry({ request, user, op }, id);
    const versions = await store.entryVersions(entry.id);
    return { versions: versions.map(versionResponse) };
  });

  app.get(routes.entryVersion, async (request): Promise<EntryVersionResponse> => {
    const op = 'entry.version';
    const user = await authenticate(ctx, request);
    const { id, version } = parseBody(schemas.versionParam, request.params, op);
    // Whoever may read the entry now may read any of its versions (the same rule as the list).
    const entry = await visibleEntry({ request, user, op }, id);
    const stored = await store.entryVersion(entry.id, version);
    if (!stored) throw new FsError('not-exist', `the entry has no version ${version}`, { op });
    return versionResponse(stored);
  });

  app.get(routes.shared, async (request): Promise<SharedEntriesResponse> => {
    const user = await authenticate(ctx, request);
    const shared = await store.listSharedWith(user);
    return {
      entries: shared.map(({ entry, top }) => ({ id: entry.id, top, ...response(entry) })),
    };
  });

  app.get(routes.lookup, async (request) => {
    const op = 'entry.lookup';
    const user = await authenticate(ctx, request);
    const caller: Caller = { request, user, op };
    const query = parseBody(schemas.lookup, request.query, op);
    const parent = await visibleEntry(caller, query.parent);
    const entry = await store.findEntry(parent.id, fromBase64url(query.tag, 'tag', { length: 32 }));
    if (!entry) throw notFound(op);
    if (!canRead(entry, user)) throw refuse(caller, entry.id, 'not-exist', noSuchEntry);
    return response(entry);
  });

  app.get(routes.root, async (request) => {
    const op = 'entry.root';
    await authenticate(ctx, request);
    const { user: owner } = parseBody(schemas.userParam, request.params, op);
    const root = await store.rootOf(parseUserName(owner));
    if (!root || root.deletedAt !== null) throw notFound(op);
    return response(root);
  });

  app.get(routes.trash, async (request) => {
    const user = await authenticate(ctx, request);
    const trash = await store.listTrash(user);
    return { entries: trash.map((entry) => ({ id: entry.id, ...response(entry) })) };
  });

  app.delete(routes.trashEntry, async (request) => {
    const op = 'trash.purge';
    const user = await authenticate(ctx, request);
    const { id } = parseBody(schemas.idParam, request.params, op);
    const entry = await store.getEntry(parseFileId(id));
    if (!entry) throw notFound(op);
    if (entry.owner !== user) {
      throw refuse({ request, user, op }, entry.id, 'not-exist', noSuchEntry);
    }
    if (entry.deletedAt === null) throw notFound(op);
    // A burst of deletions (or overwrites) keeps its files until the owner acknowledges it.
    await ctx.monitor.scan();
    const protecting = await store.protectingAlerts(entry.id);
    if (protecting.length > 0) throw new FsError('conflict', protectedMessage(protecting), { op });
    await store.purgeEntry(entry.id, [
      ctx.audit.event(request, {
        event: 'entry.deleted',
        actor: user,
        subjects: [entry.owner],
        entry: entry.id,
        details: { version: entry.version, purged: true },
      }),
    ]);
    return { id: entry.id };
  });
}

/**
 * The encrypted namespace. The directory checks what it can check and stores the rest opaque:
 * - every version is signed by the caller's current identity key (from their verified key log);
 * - the caller may write: the owner, or a user the current version's ACL names as writer;
 *   only the owner changes the ACL or the set of wrapped keys, and only the owner restores;
 * - versions grow by exactly one, each naming the hash of the one before, and the update is a
 *   compare-and-swap on the version: a stale writer gets `conflict`, never a lost update;
 * - entries the caller may not read are answered as `not-exist`, so probing learns nothing.
 */
import type { FastifyInstance } from 'fastify';
import { FsError } from '../../interface/errors.js';
import type { EntryRecord } from '../../interface/directory-store.js';
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
import { type EntryResponse, routes, schemas } from '../../wire/directory-api.js';
import { chainHash } from '../../wire/key-log.js';
import { maxClockSkewMs } from '../../wire/request-auth.js';
import { authenticate, type DirectoryContext, parseBody } from '../app.js';
import { keyLogState } from '../identities.js';

const zeroTag = new Uint8Array(32);

function canRead(entry: EntryRecord, user: UserName): boolean {
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

const notFound = (op: string) => new FsError('not-exist', 'no such entry', { op });

const sameSet = (a: readonly string[], b: readonly string[]) =>
  a.length === b.length && a.every((x) => b.includes(x));

export function registerEntryRoutes(app: FastifyInstance, ctx: DirectoryContext): void {
  const { store } = ctx;

  /** Verifies an envelope as signed by `user`'s current identity key. */
  async function openSignedBy(
    user: UserName,
    envelope: Uint8Array,
    op: string,
  ): Promise<DirEntryBody> {
    const state = await keyLogState(store, user);
    try {
      return openDirEntry(envelope, [state.identity.signingKey]).body;
    } catch {
      throw new FsError('integrity', 'the entry is malformed or not signed by your current key', {
        op,
      });
    }
  }

  async function visibleEntry(id: string, user: UserName, op: string): Promise<EntryRecord> {
    const entry = await store.getEntry(parseFileId(id));
    if (!entry || !canRead(entry, user)) throw notFound(op);
    return entry;
  }

  app.post(routes.entries, async (request) => {
    const op = 'entry.create';
    const user = await authenticate(ctx, request);
    const { envelope: text } = parseBody(schemas.createEntry, request.body, op);
    const envelope = fromBase64url(text, 'envelope');
    const body = await openSignedBy(user, envelope, op);
    if (body.version !== 1 || !constantTimeEqual(body.prev, zeroTag) || body.deleted !== null) {
      throw new FsError('invalid', 'a new entry has version 1, no previous hash and no deletion', {
        op,
      });
    }
    if (body.parent === null) {
      if (body.owner !== user || body.kind !== 'dir' || !constantTimeEqual(body.tag, zeroTag)) {
        throw new FsError('invalid', 'a root is a directory of your own with an all-zero tag', {
          op,
        });
      }
    } else {
      const parent = await store.getEntry(body.parent);
      if (!parent || parent.deletedAt !== null || !canRead(parent, user)) throw notFound(op);
      if (parent.kind !== 'dir')
        throw new FsError('not-dir', 'the parent is not a directory', { op });
      if (!canWrite(parent, user))
        throw new FsError('permission', 'you may not write in this directory', { op });
      if (body.owner !== parent.owner) {
        throw new FsError('invalid', 'an entry belongs to the owner of its directory', { op });
      }
    }
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
    const { id } = parseBody(schemas.idParam, request.params, op);
    const { envelope: text, expectedVersion } = parseBody(schemas.updateEntry, request.body, op);
    const current = await visibleEntry(id, user, op);
    if (expectedVersion !== current.version) {
      throw new FsError(
        'conflict',
        `the entry is at version ${current.version}, not ${expectedVersion}; read it again`,
        { op },
      );
    }
    const envelope = fromBase64url(text, 'envelope');
    const body = await openSignedBy(user, envelope, op);
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
      if (!isOwner) throw new FsError('permission', 'only the owner may restore an entry', { op });
      if (body.deleted !== null)
        throw new FsError('invalid', 'the entry is already in the trash', { op });
    } else if (!canWrite(current, user)) {
      throw new FsError('permission', 'you may read this entry but not write it', { op });
    }
    if (!isOwner) {
      const before = decodeDirEntryUnverified(current.envelope);
      if (
        !sameSet(body.acl.r, before.acl.r) ||
        !sameSet(body.acl.w, before.acl.w) ||
        !sameSet(Object.keys(body.keys), Object.keys(before.keys))
      ) {
        throw new FsError('permission', 'only the owner may change who has access', { op });
      }
    }
    const now = ctx.now();
    if (
      body.deleted !== null &&
      (body.deleted.by !== user || Math.abs(body.deleted.at - now) > maxClockSkewMs)
    ) {
      throw new FsError('invalid', 'a deletion names its deleter and the current time', { op });
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
        grants: grantsOf(body),
      },
      expectedVersion,
    );
    return { id: body.id, version: body.version };
  });

  app.get(routes.entry, async (request) => {
    const user = await authenticate(ctx, request);
    const { id } = parseBody(schemas.idParam, request.params, 'entry.get');
    return response(await visibleEntry(id, user, 'entry.get'));
  });

  app.get(routes.children, async (request) => {
    const op = 'entry.list';
    const user = await authenticate(ctx, request);
    const { id } = parseBody(schemas.idParam, request.params, op);
    const parent = await visibleEntry(id, user, op);
    if (parent.kind !== 'dir') throw new FsError('not-dir', 'not a directory', { op });
    const children = await store.listChildren(parent.id, user);
    return { entries: children.map(response) };
  });

  app.get(routes.versions, async (request) => {
    const op = 'entry.versions';
    const user = await authenticate(ctx, request);
    const { id } = parseBody(schemas.idParam, request.params, op);
    const entry = await visibleEntry(id, user, op);
    const versions = await store.entryVersions(entry.id);
    return {
      versions: versions.map((v) => ({
        version: v.version,
        envelope: toBase64url(v.envelope),
        writer: v.writer,
        createdAt: v.createdAt,
      })),
    };
  });

  app.get(routes.lookup, async (request) => {
    const op = 'entry.lookup';
    const user = await authenticate(ctx, request);
    const query = parseBody(schemas.lookup, request.query, op);
    const parent = await visibleEntry(query.parent, user, op);
    const entry = await store.findEntry(parent.id, fromBase64url(query.tag, 'tag', { length: 32 }));
    if (!entry || !canRead(entry, user)) throw notFound(op);
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
    if (!entry || entry.owner !== user || entry.deletedAt === null) throw notFound(op);
    await store.purgeEntry(entry.id);
    return { id: entry.id };
  });
}

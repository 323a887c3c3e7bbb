/**
 * Users' groups (sharing: `@team` stands where a user stands in a grant). The directory keeps
 * each group's latest signed `group` record so that every device of its owner sees the same
 * groups; the owner's agent verifies every record it reads (wire/group.ts), so the directory
 * can withhold a group but cannot add a member to one.
 *
 * Only the owner reads or changes their groups: no route takes an owner, each acts on the
 * caller's own. A record is stored only when it verifies under the caller's current key (from
 * their verified key log), names the caller as owner and the group of the path, is the next
 * version of the one stored (a compare-and-swap on `expectedVersion`; 0 creates), and names
 * members who are users here. Refusals are logged as `{event: 'access.refused'}` for the monitor.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { type ErrorKind, FsError } from '../../interface/errors.js';
import { type GroupName, parseGroupName } from '../../interface/groups.js';
import type { UserName } from '../../interface/names.js';
import { fromBase64url, toBase64url } from '../../wire/base64.js';
import {
  type GroupsResponse,
  maxGroupBytes,
  maxGroupsPerUser,
  type PutGroupResponse,
  routes,
  schemas,
} from '../../wire/directory-api.js';
import { type GroupRecordBody, openGroup } from '../../wire/group.js';
import { authenticate, type DirectoryContext, parseBody } from '../app.js';
import { keyLogState } from '../identities.js';

/** Logs a refusal for the monitor and returns the error to throw. */
function refuse(
  request: FastifyRequest,
  user: UserName,
  op: string,
  kind: ErrorKind,
  message: string,
): FsError {
  request.log.warn({ event: 'access.refused', user, op, kind }, 'refused');
  return new FsError(kind, message, { op });
}

function groupOf(request: FastifyRequest, op: string): GroupName {
  return parseGroupName(parseBody(schemas.groupParam, request.params, op).name);
}

/** Registers `GET /v1/groups`, `PUT` and `DELETE /v1/groups/:name` (module comment). */
export function registerGroupRoutes(app: FastifyInstance, ctx: DirectoryContext): void {
  const { store } = ctx;

  app.get(routes.groups, async (request): Promise<GroupsResponse> => {
    const user = await authenticate(ctx, request);
    const groups = await store.listGroups(user);
    return {
      groups: groups.map((g) => ({
        name: g.name,
        version: g.version,
        envelope: toBase64url(g.envelope),
      })),
    };
  });

  app.put(routes.group, async (request): Promise<PutGroupResponse> => {
    const op = 'group.put';
    const user = await authenticate(ctx, request);
    const name = groupOf(request, op);
    const body = parseBody(schemas.putGroup, request.body, op);
    const envelope = fromBase64url(body.envelope, 'envelope', { maxBytes: maxGroupBytes });
    const state = await keyLogState(store, user);
    let record: GroupRecordBody;
    try {
      record = openGroup(envelope, state.identity.signingKey);
    } catch {
      throw refuse(
        request,
        user,
        op,
        'integrity',
        'the group record is malformed or not signed by your current key',
      );
    }
    if (record.owner !== user) {
      throw refuse(request, user, op, 'permission', 'you may change only your own groups');
    }
    if (record.name !== name) {
      throw new FsError('invalid', `the group record is for @${record.name}, not @${name}`, {
        op,
      });
    }
    if (record.version !== body.expectedVersion + 1) {
      throw new FsError(
        'invalid',
        `the group record is version ${record.version}; the next after ${body.expectedVersion} is ${body.expectedVersion + 1}`,
        { op },
      );
    }
    for (const member of record.members) {
      if ((await store.getUser(member)) === undefined) {
        throw new FsError('not-exist', `no such user: ${member}`, { op });
      }
    }
    if (body.expectedVersion === 0 && (await store.listGroups(user)).length >= maxGroupsPerUser) {
      throw new FsError('invalid', `you may keep at most ${maxGroupsPerUser} groups`, { op });
    }
    await store.putGroup(
      { owner: user, name, version: record.version, envelope, updatedAt: ctx.now() },
      body.expectedVersion,
    );
    return { name, version: record.version };
  });

  app.delete(routes.group, async (request): Promise<{ name: string }> => {
    const op = 'group.delete';
    const user = await authenticate(ctx, request);
    const name = groupOf(request, op);
    await store.deleteGroup(user, name);
    return { name };
  });
}

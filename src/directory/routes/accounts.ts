/**
 * Accounts: registration, login (OPAQUE, RFC 9807), logout and password change.
 *
 * The directory never sees a password: OPAQUE runs the password through an OPRF with the
 * directory's key and an Argon2id KSF on the client. Unknown user names go through exactly the
 * same steps as known ones (the OPAQUE library answers with a fake response derived from the
 * name), so the answers and their timing do not reveal whether a name exists.
 */
import { createHash } from 'node:crypto';
import * as opaque from '@serenity-kit/opaque';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { FsError, isFsError } from '../../interface/errors.js';
import { parseUserName, type UserName } from '../../interface/names.js';
import { randomBytesOf } from '../../crypto/random.js';
import { fromBase64url, toBase64url } from '../../wire/base64.js';
import {
  type InfoResponse,
  type LoginFinishResponse,
  type LoginStartResponse,
  routes,
  schemas,
} from '../../wire/directory-api.js';
import { chainHash, verifyKeyLog } from '../../wire/key-log.js';
import { authenticate, type DirectoryContext, parseBody } from '../app.js';
import { proofMatches } from '../../wire/session-binding.js';
import { countLoginAttempt, loginSucceeded } from '../throttle.js';

const loginFailed = () => new FsError('permission', 'wrong user name or password', { op: 'login' });

/** Only a hash of an invite code is stored, so a database thief cannot use unspent invites. */
export function inviteHash(code: string): Uint8Array {
  return new Uint8Array(createHash('sha256').update(`peervault/v1/invite\0${code}`).digest());
}

export function registerAccountRoutes(app: FastifyInstance, ctx: DirectoryContext): void {
  const { store, keys, config } = ctx;

  /**
   * Records a login whose finish did not verify (`login.failed`, reason `refused`: a client that
   * is not the one that started it, or not an honest one) and returns the error to answer. A
   * wrong password never gets here; see `putLoginState` below. Known and unknown accounts take
   * the same steps (one read, one append), so neither the answer nor its timing tells them
   * apart; the record names an unknown account by no name (what was typed may be a mistyped
   * password) and concerns nobody but admins.
   */
  const failedLogin = async (request: FastifyRequest, user: UserName): Promise<FsError> => {
    const known = (await store.getUser(user)) !== undefined;
    await ctx.audit.record(request, {
      event: 'login.failed',
      actor: null,
      subjects: known ? [user] : [],
      details: known ? { reason: 'refused' } : { reason: 'refused', unknownAccount: true },
    });
    return loginFailed();
  };

  app.get(routes.info, () => {
    const info: InfoResponse = {
      fingerprint: keys.fingerprint,
      identityKey: toBase64url(keys.identity.publicKey),
      opaquePublicKey: opaque.server.getPublicKey(keys.opaqueSetup),
      registration: config.registration,
      time: ctx.now(),
      retentionMs: config.retentionMs,
    };
    return info;
  });

  app.post(routes.registerStart, (request) => {
    const body = parseBody(schemas.registerStart, request.body, 'register');
    const user = parseUserName(body.user);
    const { registrationResponse } = opaque.server.createRegistrationResponse({
      serverSetup: keys.opaqueSetup,
      userIdentifier: user,
      registrationRequest: body.request,
    });
    return { response: registrationResponse };
  });

  app.post(routes.registerFinish, async (request) => {
    const op = 'register';
    const body = parseBody(schemas.registerFinish, request.body, op);
    const user = parseUserName(body.user);
    if (config.registration === 'invite' && body.invite === undefined) {
      throw new FsError(
        'permission',
        'this directory registers by invitation only; ask its operator for an invite code',
        { op },
      );
    }
    const genesis = fromBase64url(body.keyLog, 'keyLog', { maxBytes: 4096 });
    try {
      verifyKeyLog(user, [genesis]);
    } catch {
      throw new FsError(
        'invalid',
        'the key log entry is not a valid self-signed genesis for this user',
        { op },
      );
    }
    const now = ctx.now();
    await store.createUser(
      {
        name: user,
        createdAt: now,
        opaqueRecord: body.record,
        sealedKeys: fromBase64url(body.sealedKeys, 'sealedKeys', { maxBytes: 4096 }),
        role: 'user',
      },
      { user, seq: 0, envelope: genesis, hash: chainHash(genesis) },
      body.invite === undefined ? undefined : { codeHash: inviteHash(body.invite), now },
      [
        ctx.audit.event(request, {
          event: 'register',
          actor: user,
          subjects: [user],
          // The genesis event's chain hash: the log pins every key event (`audit verify`).
          details: { invite: body.invite !== undefined, head: toBase64url(chainHash(genesis)) },
        }),
      ],
    );
    return { user };
  });

  app.post(routes.loginStart, async (request) => {
    const body = parseBody(schemas.loginStart, request.body, 'login');
    const user = parseUserName(body.user);
    const now = ctx.now();
    try {
      await countLoginAttempt(store, config.throttle, user, request.ip, now);
    } catch (err) {
      if (isFsError(err, 'throttled')) ctx.audit.noteThrottled(request, user);
      throw err;
    }
    const record = await store.getUser(user);
    const { serverLoginState, loginResponse } = opaque.server.startLogin({
      serverSetup: keys.opaqueSetup,
      userIdentifier: user,
      registrationRecord: record?.opaqueRecord ?? null,
      startLoginRequest: body.request,
    });
    const loginId = toBase64url(randomBytesOf(16));
    await store.putLoginState({
      id: loginId,
      user,
      state: serverLoginState,
      expiresAt: now + config.loginStateTtlMs,
      // A login never finished is a failed one (a wrong password ends at the client): it is
      // recorded, with this address, when the state expires (../audit.ts).
      source: request.ip,
    });
    const response: LoginStartResponse = { loginId, response: loginResponse };
    return response;
  });

  app.post(routes.loginFinish, async (request) => {
    const body = parseBody(schemas.loginFinish, request.body, 'login');
    const now = ctx.now();
    const state = await store.takeLoginState(body.loginId, now);
    if (!state) throw loginFailed();
    let sessionKey: string;
    try {
      ({ sessionKey } = opaque.server.finishLogin({
        finishLoginRequest: body.finish,
        serverLoginState: state.state,
      }));
    } catch {
      throw await failedLogin(request, state.user);
    }
    const deviceKey = fromBase64url(body.deviceKey, 'deviceKey', { length: 32 });
    if (
      !proofMatches(
        sessionKey,
        body.loginId,
        deviceKey,
        fromBase64url(body.proof, 'proof', { length: 32 }),
      )
    ) {
      throw await failedLogin(request, state.user);
    }
    const user = await store.getUser(parseUserName(state.user));
    if (!user) throw await failedLogin(request, state.user);
    await loginSucceeded(store, user.name, request.ip);
    const session = toBase64url(randomBytesOf(24));
    const expiresAt = now + config.sessionTtlMs;
    await store.createSession(
      {
        id: session,
        user: user.name,
        deviceKey,
        createdAt: now,
        expiresAt,
        revokedAt: null,
      },
      [ctx.audit.event(request, { event: 'login.ok', actor: user.name, subjects: [user.name] })],
    );
    const response: LoginFinishResponse = {
      session,
      expiresAt,
      sealedKeys: toBase64url(user.sealedKeys),
    };
    return response;
  });

  app.post(routes.logout, async (request) => {
    const user = await authenticate(ctx, request);
    await store.revokeSessions(user, ctx.now());
    return { user };
  });

  app.post(routes.passwordStart, async (request) => {
    const user = await authenticate(ctx, request);
    const body = parseBody(schemas.passwordStart, request.body, 'password');
    const { registrationResponse } = opaque.server.createRegistrationResponse({
      serverSetup: keys.opaqueSetup,
      userIdentifier: user,
      registrationRequest: body.request,
    });
    return { response: registrationResponse };
  });

  app.post(routes.passwordFinish, async (request) => {
    const user = await authenticate(ctx, request);
    const body = parseBody(schemas.passwordFinish, request.body, 'password');
    await store.updateCredentials(
      user,
      body.record,
      fromBase64url(body.sealedKeys, 'sealedKeys', { maxBytes: 4096 }),
    );
    // Every session, this one included, ends: whoever knew the old password is logged out.
    await store.revokeSessions(user, ctx.now());
    return { user };
  });
}

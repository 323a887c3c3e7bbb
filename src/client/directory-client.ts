/**
 * The client of the directory's API: OPAQUE registration and login, sealing and unsealing the
 * user's private keys, signed requests, and verified reads of key logs and peer lists.
 *
 * Trust: the connection is pinned to the directory's fingerprint (TLS 1.3 with the directory's
 * identity key); at login the OPAQUE server key is checked against the one the pinned directory
 * announced; everything else the directory returns that matters is signed by someone else and
 * verified here.
 *
 * Security-sensitive: passwords and unsealed keys pass through this module. They are never
 * logged and never put into errors.
 */
import * as opaque from '@serenity-kit/opaque';
import type { Agent } from 'undici';
import { request as httpRequest } from 'undici';
import { FsError, isErrorKind } from '../interface/errors.js';
import { parseUserName, type UserName } from '../interface/names.js';
import { constantTimeEqual, utf8 } from '../crypto/bytes.js';
import { openWithExportKey, sealWithExportKey } from '../crypto/export-key-seal.js';
import {
  decodePrivateIdentity,
  encodePrivateIdentity,
  fingerprintMatches,
  IdentityKeys,
} from '../crypto/identity.js';
import { SigningKeyPair } from '../crypto/keys.js';
import { SecretBytes } from '../crypto/secret.js';
import { fromBase64url, toBase64url } from '../wire/base64.js';
import {
  type InfoResponse,
  type LoginFinishResponse,
  type LoginStartResponse,
  routes,
} from '../wire/directory-api.js';
import { type KeyLogState, makeGenesis, verifyKeyLog } from '../wire/key-log.js';
import { type ListedPeer, openPeerList } from '../wire/peer-record.js';
import { createPinnedAgent } from '../wire/pinned-tls.js';
import { authHeader, signRequest } from '../wire/request-auth.js';
import { sessionProof } from '../wire/session-binding.js';

/** Where the directory is and which key it must have. */
export interface DirectoryEndpoint {
  /** `https://host:port` */
  url: string;
  /** The fingerprint the directory must prove it holds. */
  fingerprint: string;
  /** Local address to connect from (tests use 127.0.0.x to act as different sources). */
  localAddress?: string;
}

/** A logged-in session: the user's unlocked identity and the device key that signs requests. */
export interface DirectorySession {
  user: UserName;
  id: string;
  expiresAt: number;
  identity: IdentityKeys;
  deviceKey: SigningKeyPair;
}

/**
 * The password policy, loaded only when a password is set: its dictionaries cost ~36 MB of
 * memory (measured), which peers and logins never need.
 */
async function checkPasswordStrength(password: string, user: string): Promise<void> {
  const policy = await import('./password-policy.js');
  policy.checkPasswordStrength(password, user);
}

const sealContext = (user: UserName) => utf8(`peervault/v1/user-keys\0${user}`);

/** A connection to one directory. */
export class DirectoryClient {
  readonly #base: string;
  readonly #agent: Agent;
  #info: InfoResponse | undefined;

  private constructor(base: string, agent: Agent) {
    this.#base = base.replace(/\/+$/, '');
    this.#agent = agent;
  }

  /**
   * Connects to a directory, checking on the TLS handshake that it holds the pinned key.
   * @throws FsError `integrity` when the directory's key does not match the fingerprint;
   *   `unavailable` when it cannot be reached.
   */
  static async connect(endpoint: DirectoryEndpoint): Promise<DirectoryClient> {
    const agent = createPinnedAgent(
      { fingerprint: endpoint.fingerprint },
      endpoint.localAddress === undefined ? undefined : { localAddress: endpoint.localAddress },
    );
    const client = new DirectoryClient(endpoint.url, agent);
    const info = await client.call<InfoResponse>('GET', routes.info);
    if (
      !fingerprintMatches(
        fromBase64url(info.identityKey, 'identityKey', { length: 32 }),
        endpoint.fingerprint,
      )
    ) {
      await agent.close();
      throw new FsError(
        'integrity',
        'the directory announced a key that does not match its pinned fingerprint',
        { op: 'connect' },
      );
    }
    client.#info = info;
    return client;
  }

  /** What the directory announced about itself. */
  get info(): InfoResponse {
    if (!this.#info) throw new Error('not connected');
    return this.#info;
  }

  #closed = false;

  /** Closes the connection pool; idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#agent.close();
  }

  /**
   * Sends one request and returns its JSON answer; a non-2xx answer becomes the FsError it
   * describes. With a session, the request is signed by the session's device key.
   * `options.headers` (lower-case names) are added; the content type and the signature are set
   * after them.
   */
  async call<T>(
    method: string,
    path: string,
    body?: unknown,
    session?: DirectorySession,
    options: { headers?: Readonly<Record<string, string>> } = {},
  ): Promise<T> {
    const payload = body === undefined ? new Uint8Array(0) : utf8(JSON.stringify(body));
    const headers: Record<string, string> = { ...options.headers };
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (session) {
      headers[authHeader] = signRequest(session.deviceKey, {
        session: session.id,
        method,
        path,
        body: payload,
        time: Date.now(),
      });
    }
    let response;
    try {
      response = await httpRequest(this.#base + path, {
        method: method as 'GET',
        headers,
        body: payload.length > 0 ? Buffer.from(payload) : null,
        dispatcher: this.#agent,
      });
    } catch (err) {
      if (err instanceof FsError) throw err;
      throw new FsError(
        'unavailable',
        `cannot reach the directory at ${this.#base}; is it running?`,
        { op: 'directory.request', cause: err },
      );
    }
    const text = await response.body.text();
    let json: unknown;
    try {
      json = text.length ? JSON.parse(text) : undefined;
    } catch {
      throw new FsError(
        'internal',
        `the directory sent a malformed answer (HTTP ${response.statusCode})`,
        { op: 'directory.request' },
      );
    }
    if (response.statusCode >= 200 && response.statusCode < 300) return json as T;
    const error = json as { kind?: unknown; op?: unknown; message?: unknown } | undefined;
    const kind = isErrorKind(error?.kind) ? error.kind : 'internal';
    throw new FsError(
      kind,
      typeof error?.message === 'string' ? error.message : `HTTP ${response.statusCode}`,
      {
        op: typeof error?.op === 'string' ? error.op : 'directory.request',
      },
    );
  }

  /**
   * Registers a new user: checks the password's strength, makes their identity keys, runs
   * OPAQUE registration, seals the private keys under the OPAQUE export key, and uploads the
   * record, the sealed keys and the first event of their key log.
   * @throws FsError `invalid` (weak password, bad name), `exist` (name taken), `permission`
   *   (invite needed)
   */
  async register(
    name: string,
    password: string,
    options: { invite?: string } = {},
  ): Promise<IdentityKeys> {
    const user = parseUserName(name);
    await checkPasswordStrength(password, user);
    await opaque.ready;
    const keys = IdentityKeys.generate();
    const { clientRegistrationState, registrationRequest } = opaque.client.startRegistration({
      password,
    });
    const { response } = await this.call<{ response: string }>('POST', routes.registerStart, {
      user,
      request: registrationRequest,
    });
    const registration = opaque.client.finishRegistration({
      clientRegistrationState,
      registrationResponse: response,
      password,
    });
    this.#checkServerKey(registration.serverStaticPublicKey);
    const exportKey = new SecretBytes(
      fromBase64url(registration.exportKey, 'exportKey', { maxBytes: 128 }),
    );
    const sealed = sealWithExportKey(exportKey, encodePrivateIdentity(keys), sealContext(user));
    exportKey.dispose();
    await this.call('POST', routes.registerFinish, {
      user,
      record: registration.registrationRecord,
      sealedKeys: toBase64url(sealed),
      keyLog: toBase64url(makeGenesis(user, keys, Date.now())),
      ...(options.invite === undefined ? {} : { invite: options.invite }),
    });
    return keys;
  }

  /**
   * Logs in: OPAQUE login, a fresh device key bound to it, and the user's private keys unsealed
   * with the export key.
   * @throws FsError `permission` (wrong name or password: one message for both), `throttled`
   */
  async login(name: string, password: string): Promise<DirectorySession> {
    const user = parseUserName(name);
    await opaque.ready;
    const { clientLoginState, startLoginRequest } = opaque.client.startLogin({ password });
    const start = await this.call<LoginStartResponse>('POST', routes.loginStart, {
      user,
      request: startLoginRequest,
    });
    const finished = opaque.client.finishLogin({
      clientLoginState,
      loginResponse: start.response,
      password,
    });
    if (!finished) throw new FsError('permission', 'wrong user name or password', { op: 'login' });
    this.#checkServerKey(finished.serverStaticPublicKey);
    const deviceKey = SigningKeyPair.generate();
    const proof = sessionProof(finished.sessionKey, start.loginId, deviceKey.publicKey);
    const done = await this.call<LoginFinishResponse>('POST', routes.loginFinish, {
      loginId: start.loginId,
      finish: finished.finishLoginRequest,
      deviceKey: toBase64url(deviceKey.publicKey),
      proof: toBase64url(proof),
    });
    const exportKey = new SecretBytes(
      fromBase64url(finished.exportKey, 'exportKey', { maxBytes: 128 }),
    );
    const secret = openWithExportKey(
      exportKey,
      fromBase64url(done.sealedKeys, 'sealedKeys', { maxBytes: 4096 }),
      sealContext(user),
    );
    exportKey.dispose();
    const identity = decodePrivateIdentity(secret);
    secret.dispose();
    return { user, id: done.session, expiresAt: done.expiresAt, identity, deviceKey };
  }

  /**
   * Changes the password: a new OPAQUE registration and the same private keys re-sealed under
   * the new export key. Every session ends; log in again with the new password.
   */
  async changePassword(session: DirectorySession, newPassword: string): Promise<void> {
    await checkPasswordStrength(newPassword, session.user);
    await opaque.ready;
    const { clientRegistrationState, registrationRequest } = opaque.client.startRegistration({
      password: newPassword,
    });
    const { response } = await this.call<{ response: string }>(
      'POST',
      routes.passwordStart,
      { request: registrationRequest },
      session,
    );
    const registration = opaque.client.finishRegistration({
      clientRegistrationState,
      registrationResponse: response,
      password: newPassword,
    });
    this.#checkServerKey(registration.serverStaticPublicKey);
    const exportKey = new SecretBytes(
      fromBase64url(registration.exportKey, 'exportKey', { maxBytes: 128 }),
    );
    const sealed = sealWithExportKey(
      exportKey,
      encodePrivateIdentity(session.identity),
      sealContext(session.user),
    );
    exportKey.dispose();
    await this.call(
      'POST',
      routes.passwordFinish,
      { record: registration.registrationRecord, sealedKeys: toBase64url(sealed) },
      session,
    );
  }

  /** Ends every session of the user. */
  async logout(session: DirectorySession): Promise<void> {
    await this.call('POST', routes.logout, {}, session);
  }

  /** Fetches and verifies a user's key log. @throws FsError `integrity` if it does not verify. */
  async keyLog(name: string): Promise<KeyLogState> {
    const user = parseUserName(name);
    const { entries } = await this.call<{ entries: string[] }>(
      'GET',
      routes.userKeys.replace(':user', user),
    );
    return verifyKeyLog(
      user,
      entries.map((e) => fromBase64url(e, 'key log entry', { maxBytes: 4096 })),
    );
  }

  /** The live peers, verified against the directory's pinned key. */
  async peers(): Promise<{ time: number; peers: ListedPeer[] }> {
    const { list } = await this.call<{ list: string }>('GET', routes.peers);
    return openPeerList(
      fromBase64url(list, 'peer list'),
      fromBase64url(this.info.identityKey, 'identityKey', { length: 32 }),
    );
  }

  #checkServerKey(serverStaticPublicKey: string): void {
    // The OPAQUE server key must be the one the pinned directory announced: a directory that
    // swapped it would be running OPAQUE with a key we never agreed to.
    if (!constantTimeEqual(utf8(serverStaticPublicKey), utf8(this.info.opaquePublicKey))) {
      throw new FsError('integrity', 'the directory answered with an unexpected OPAQUE key', {
        op: 'login',
      });
    }
  }
}

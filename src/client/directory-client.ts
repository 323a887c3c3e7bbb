/**
 * The client of the directory's API: OPAQUE registration and login, sealing and unsealing the
 * user's private keys, signed requests, and verified reads of key logs and peer lists.
 *
 * Trust: the connection is pinned to the directory's fingerprint (TLS 1.3 with the directory's
 * identity key); at login the OPAQUE server key is checked against the one the pinned directory
 * announced; everything else the directory returns that matters is signed by someone else and
 * verified here. Key logs are also checked against what this device saw of them before (its key
 * pins, key-pins.ts), so the directory can neither swap a user's log for another nor roll it back.
 *
 * Security-sensitive: passwords and unsealed keys pass through this module. They are never
 * logged and never put into errors.
 */
import * as opaque from '@serenity-kit/opaque';
import type { Agent } from 'undici';
import { request as httpRequest } from 'undici';
import { FsError, isErrorKind } from '../interface/errors.js';
import type { BlockId, FileId } from '../interface/ids.js';
import { parseUserName, type UserName } from '../interface/names.js';
import { constantTimeEqual, utf8 } from '../crypto/bytes.js';
import { openWithExportKey, sealWithExportKey } from '../crypto/export-key-seal.js';
import {
  decodeKeyring,
  encodeKeyring,
  encodePrivateIdentity,
  fingerprint,
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
  type PeerHealthResponse,
  type ReportResponse,
  routes,
} from '../wire/directory-api.js';
import {
  chainHash,
  type KeyLogState,
  makeGenesis,
  makeRevocation,
  verifyKeyLog,
} from '../wire/key-log.js';
import { type ListedPeer, openPeerList } from '../wire/peer-record.js';
import { createPinnedAgent } from '../wire/pinned-tls.js';
import { authHeader, signRequest } from '../wire/request-auth.js';
import { sessionProof } from '../wire/session-binding.js';
import { checkKeyLogPin, createMemoryKeyPins, isBehindPin, type KeyPins } from './key-pins.js';
import { openSeenVersions, type SeenVersions } from './seen-versions.js';

/** Where the directory is and which key it must have. */
export interface DirectoryEndpoint {
  /** `https://host:port` */
  url: string;
  /** The fingerprint the directory must prove it holds. */
  fingerprint: string;
  /** Local address to connect from (tests use 127.0.0.x to act as different sources). */
  localAddress?: string;
}

/** How a client behaves, beyond where it connects. */
export interface DirectoryClientInit {
  /**
   * What this device remembers of users' key logs. Share one store between every client of a
   * device (a peer passes its `key-pins.json`). Default: a new in-memory store, which remembers
   * only for the life of this client.
   */
  keyPins?: KeyPins;
  /**
   * How long a verified key log is reused, in ms (default 2000; 0 fetches it every time). A
   * cached log was checked against the pins when it was fetched; every fetch is checked.
   */
  keyLogCacheMs?: number;
  /**
   * What this device remembers of the entry versions it saw (seen-versions.ts). Share one store
   * between every client of a device (a peer passes its `seen.sqlite`). Default: a new
   * in-memory store, closed with this client.
   */
  seenVersions?: SeenVersions;
  /**
   * How long, in ms, a request that the directory's per-address rate limit turned away is
   * tried again before `throttled` reaches the caller (default 10,000; 0 never tries again).
   * Safe for every request: the limit refuses it before anything is done. Never applies to the
   * login throttle (op `login`), which exists to make guessers wait.
   */
  rateLimitRetryMs?: number;
}

/** A logged-in session: the user's unlocked identity and the device key that signs requests. */
export interface DirectorySession {
  user: UserName;
  id: string;
  expiresAt: number;
  identity: IdentityKeys;
  /** Identities the user's key log replaced, oldest first: they open old wraps, sign nothing. */
  previous?: readonly IdentityKeys[];
  /**
   * The OPAQUE export key of this login, kept in memory only so that `revocate` can seal the new
   * keys without asking for the password again. Never logged (SecretBytes shows nothing).
   */
  exportKey?: SecretBytes;
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
  readonly #pins: KeyPins;
  readonly #keyLogCacheMs: number;
  readonly #rateLimitRetryMs: number;
  /** Verified key logs by user, with when their fetch started; a fetch in flight is shared. */
  readonly #keyLogs = new Map<UserName, { at: number; state: Promise<KeyLogState> }>();
  #info: InfoResponse | undefined;

  private constructor(base: string, agent: Agent, init: DirectoryClientInit) {
    this.#base = base.replace(/\/+$/, '');
    this.#agent = agent;
    this.#pins = init.keyPins ?? createMemoryKeyPins();
    this.#keyLogCacheMs = init.keyLogCacheMs ?? 2_000;
    this.#rateLimitRetryMs = init.rateLimitRetryMs ?? 10_000;
    this.#ownsSeen = init.seenVersions === undefined;
    this.seen = init.seenVersions ?? openSeenVersions(':memory:');
  }

  /** The entry versions this device saw, and its own alerts (seen-versions.ts). */
  readonly seen: SeenVersions;

  /** The newest log of each user that passed the pin check here (memory only). */
  readonly #verifiedLogs = new Map<UserName, Uint8Array[]>();

  /**
   * The events of the newest log of `user` this client verified and accepted, if any: this
   * device's view even once the directory shows it another (src/peer/head-gossip.ts).
   */
  lastVerifiedKeyLog(user: UserName): Uint8Array[] | undefined {
    return this.#verifiedLogs.get(user);
  }

  /** What this device remembers of users' key logs (key-pins.ts). */
  get keyPins(): KeyPins {
    return this.#pins;
  }
  readonly #ownsSeen: boolean;

  /**
   * Connects to a directory, checking on the TLS handshake that it holds the pinned key.
   * @throws FsError `integrity` when the directory's key does not match the fingerprint;
   *   `unavailable` when it cannot be reached.
   */
  static async connect(
    endpoint: DirectoryEndpoint,
    init: DirectoryClientInit = {},
  ): Promise<DirectoryClient> {
    const agent = createPinnedAgent(
      { fingerprint: endpoint.fingerprint },
      endpoint.localAddress === undefined ? undefined : { localAddress: endpoint.localAddress },
    );
    const client = new DirectoryClient(endpoint.url, agent, init);
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
    if (this.#ownsSeen) this.seen.close();
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
    // A key event sent through this client (a rotation) must be seen by its next keyLog().
    if (path === routes.appendKey || path === routes.revokeKeys) this.#keyLogs.clear();
    const deadline = Date.now() + this.#rateLimitRetryMs;
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.#callOnce<T>(method, path, payload, body !== undefined, session, options);
      } catch (err) {
        // Turned away by the per-address rate limit (before anything was done): wait for the
        // bucket to refill and send it again, signed afresh. Jitter keeps parallel callers
        // from coming back all at once.
        if (!(err instanceof FsError) || err.kind !== 'throttled' || err.op !== 'request')
          throw err;
        const wait = Math.min(1000, 50 * 2 ** attempt) * (0.5 + Math.random() / 2);
        if (Date.now() + wait > deadline) throw err;
        await new Promise((resolve) => setTimeout(resolve, wait));
      }
    }
  }

  async #callOnce<T>(
    method: string,
    path: string,
    payload: Uint8Array,
    hasBody: boolean,
    session: DirectorySession | undefined,
    options: { headers?: Readonly<Record<string, string>> },
  ): Promise<T> {
    const headers: Record<string, string> = { ...options.headers };
    if (hasBody) headers['content-type'] = 'application/json';
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
    const genesis = makeGenesis(user, keys, Date.now());
    await this.call('POST', routes.registerFinish, {
      user,
      record: registration.registrationRecord,
      sealedKeys: toBase64url(sealed),
      keyLog: toBase64url(genesis),
      ...(options.invite === undefined ? {} : { invite: options.invite }),
    });
    // This device made the log's first event, so it pins that rather than trust the directory's
    // copy later. The name was free, so a pin left from an earlier account of it is replaced.
    this.#keyLogs.delete(user);
    this.#pins.set(user, {
      seq: 0,
      head: chainHash(genesis),
      fingerprint: fingerprint(keys.signing.publicKey),
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
    const keyring = decodeKeyring(secret);
    secret.dispose();
    // The user's own log, checked against what this device saw of it: a directory that swapped
    // it (so that others wrap keys to the directory) or rolled it back is caught here too.
    await this.keyLog(user);
    return {
      user,
      id: done.session,
      expiresAt: done.expiresAt,
      identity: keyring.current,
      previous: keyring.previous,
      exportKey,
      deviceKey,
    };
  }

  /**
   * Revokes the session's identity (`revocate`): generates a new one, appends a `revoked` event
   * to the user's key log (signed by the current key, proved by the new), seals the new keys with
   * the replaced ones under this login's export key, and ends every other session of the user,
   * all in one request. On success `session` holds the new identity, the old one moved to
   * `session.previous`.
   * @throws FsError `invalid` when this session cannot seal (it was not made by a password
   *   login here); `conflict` when the log moved on (another device revoked: log in again)
   */
  async revokeKeys(session: DirectorySession): Promise<{ seq: number }> {
    const op = 'revocate';
    if (session.exportKey === undefined || session.exportKey.length === 0) {
      throw new FsError(
        'invalid',
        'this session cannot seal new keys: log in again, then revocate',
        {
          op,
        },
      );
    }
    const state = await this.keyLog(session.user, { fresh: true });
    if (!constantTimeEqual(state.identity.signingKey, session.identity.signing.publicKey)) {
      throw new FsError(
        'conflict',
        'your keys were already replaced (from another device?): log in again, then revocate if you still need to',
        { op },
      );
    }
    const next = IdentityKeys.generate();
    const previous = [...(session.previous ?? []), session.identity];
    const event = makeRevocation(state, session.identity.signing, next, Date.now());
    const sealed = sealWithExportKey(
      session.exportKey,
      encodeKeyring({ current: next, previous }),
      sealContext(session.user),
    );
    const { seq } = await this.call<{ seq: number }>(
      'POST',
      routes.revokeKeys,
      { envelope: toBase64url(event), sealedKeys: toBase64url(sealed) },
      session,
    );
    session.identity = next;
    session.previous = previous;
    return { seq };
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
      encodeKeyring({ current: session.identity, previous: session.previous ?? [] }),
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

  /**
   * A user's key log, fetched, verified, and checked against this device's pin of it (which then
   * advances to its head). A log verified less than `keyLogCacheMs` ago is reused unless `fresh`.
   * @throws FsError `integrity` when it does not verify, or does not extend the log this device
   *   saw before (the message says what to do); `not-exist` when there is no such user.
   */
  async keyLog(name: string, options: { fresh?: boolean } = {}): Promise<KeyLogState> {
    const user = parseUserName(name);
    const now = Date.now();
    const hit = this.#keyLogs.get(user);
    if (options.fresh !== true && hit !== undefined && now - hit.at < this.#keyLogCacheMs) {
      return hit.state;
    }
    const state = this.#fetchKeyLog(user);
    if (this.#keyLogCacheMs > 0) {
      const entry = { at: now, state };
      if (this.#keyLogs.size >= 10_000) this.#keyLogs.clear();
      this.#keyLogs.set(user, entry);
      // A failure is never cached: the next call fetches (and checks) again.
      state.catch(() => {
        if (this.#keyLogs.get(user) === entry) this.#keyLogs.delete(user);
      });
    }
    return state;
  }

  /**
   * `user`'s key log fetched now, verified and checked against this device's pin (which it
   * advances), with its envelopes: what a peer shows another when their pins disagree
   * (src/peer/head-gossip.ts). @throws FsError as {@link keyLog}
   */
  async keyLogWithEvents(name: string): Promise<{ state: KeyLogState; envelopes: Uint8Array[] }> {
    return this.#fetchKeyLogEvents(parseUserName(name));
  }

  async #fetchKeyLog(user: UserName): Promise<KeyLogState> {
    return (await this.#fetchKeyLogEvents(user)).state;
  }

  async #fetchKeyLogEvents(
    user: UserName,
  ): Promise<{ state: KeyLogState; envelopes: Uint8Array[] }> {
    for (let attempt = 1; ; attempt++) {
      const { entries } = await this.call<{ entries: string[] }>(
        'GET',
        routes.userKeys.replace(':user', user),
      );
      const envelopes = entries.map((e) => fromBase64url(e, 'key log entry', { maxBytes: 4096 }));
      const state = verifyKeyLog(user, envelopes);
      // A log behind the pin may be an honest answer overtaken by a fresher one (two fetches in
      // flight, or another client sharing the pins): ask once more before calling it a rollback.
      if (attempt === 1 && isBehindPin(this.#pins, state)) continue;
      checkKeyLogPin(this.#pins, state, envelopes);
      if (this.#verifiedLogs.size >= 10_000) this.#verifiedLogs.clear();
      this.#verifiedLogs.set(user, envelopes);
      return { state, envelopes };
    }
  }

  /**
   * Reports a peer that served block `block` of `file` failing verification, or failed a
   * storage audit for it (a strike; the directory quarantines after enough, routes/reports.ts).
   */
  async reportPeer(
    session: DirectorySession,
    report: { peer: Uint8Array; reason: 'integrity' | 'audit'; block: BlockId; file: FileId },
  ): Promise<ReportResponse> {
    return this.call<ReportResponse>(
      'POST',
      routes.reports,
      {
        peer: toBase64url(report.peer),
        reason: report.reason,
        block: report.block,
        file: report.file,
      },
      session,
    );
  }

  /** Every peer with a strike or a quarantine, with the counts (not signed: for display). */
  async peerHealth(): Promise<PeerHealthResponse> {
    return this.call<PeerHealthResponse>('GET', routes.peerHealth);
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

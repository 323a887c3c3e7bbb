/**
 * The front ends' client of a peer's local API (src/peer/local-api.ts): one typed method per
 * route, errors turned back into FsError, and file contents streamed both ways.
 *
 * Front ends never hold keys: the peer is the agent. What this client holds is the API token
 * (from the peer's data directory) and, after login, a session token; both are bearer secrets,
 * so neither ever appears in an error message or a URL.
 */
import { Readable } from 'node:stream';
import { errors as undiciErrors, request, type Dispatcher } from 'undici';
import { FsError, isErrorKind, isFsError } from '../interface/errors.js';
import { parseGrantWords } from '../interface/grants.js';
import { parseGrantee, parseGroupName } from '../interface/groups.js';
import { parseUserName } from '../interface/names.js';
import { parsePath } from '../interface/paths.js';
import { HintedError } from './hinted-error.js';

/** Where a local API is and the token it wants. */
export interface LocalApiEndpoint {
  /** `http://127.0.0.1:port` */
  url: string;
  /** The contents of the peer's `api-token` file. */
  token: string;
}

/** One line of `list`. */
export interface ApiListEntry {
  name: string;
  kind: 'file' | 'dir';
  version: number;
  owner: string;
  /** Who wrote the current version; `?` for a refused entry. */
  writer: string;
  /**
   * Set when the entry did not verify: why. Its name, kind and version are then what the
   * directory claims, and it cannot be opened; the rest of the listing is verified.
   */
  refused?: string;
}

/** What `stat` answers. */
export interface ApiStat {
  path: string;
  kind: 'file' | 'dir';
  version: number;
  size: number;
  mtime: number;
  owner: string;
}

/** One version of a file. */
export interface ApiVersion {
  version: number;
  time: number;
  size: number;
  writer: string;
  deleted: boolean;
}

/** One entry of the trash. */
export interface ApiTrashItem {
  /** Its path, when its folder is live. */
  path: string | null;
  kind: 'file' | 'dir';
  version: number;
  deletedAt: number;
  deletedBy: string;
  /** Set when the entry did not verify: why (it cannot be restored). */
  refused?: string;
}

/** What a restore did. */
export interface ApiRestored {
  /** Entries that came back (a folder counts with what was in it; a revert is 1). */
  restored: number;
  /** Where it is now (under the new name with `as`). */
  path: string;
  kind: 'file' | 'dir';
  /** Its newest version now. */
  version: number;
  /** Whether a live file was reverted to `from`, rather than brought back from the trash. */
  reverted: boolean;
  /** The version asked for, when one was. */
  from?: number;
}

/** How long the user's deleted files stay in their trash, in milliseconds. */
export interface ApiRetention {
  /** What applies: their own setting, or the directory's default. */
  retentionMs: number;
  /** Whether they chose it (`false`: the directory's default). */
  own: boolean;
  defaultMs: number;
  /** The bounds of their own setting at this directory (inclusive). */
  minMs: number;
  maxMs: number;
}

/** One record of the directory's audit log (docs/formats.md). */
export interface ApiAuditRecord {
  seq: number;
  time: number;
  /** `login.ok`, `login.failed`, `register`, `key.appended`, `entry.shared`, … */
  event: string;
  /** Who did it; null for a failed login or the directory's operator. */
  actor: string | null;
  /** Whom it concerns. */
  subjects: string[];
  /** The opaque id of the entry concerned, if any. */
  entry: string | null;
  /** The client's address; null when another user caused the event (shown to admins only). */
  source: string | null;
  details: Record<string, unknown>;
  prev: string;
  hash: string;
}

/** A page of the audit log. */
export interface ApiAuditPage {
  records: ApiAuditRecord[];
  /** The `after` that reads the next page. */
  next: number;
  /** `all` for an admin, `own` for the records about the caller. */
  scope: 'all' | 'own';
}

/**
 * A security alert (docs/monitor.md): raised by the directory's monitor, or by this device
 * itself (`origin: 'device'`: a rolled-back or forked entry or key log, with its `subject` and
 * `evidence`).
 */
export interface ApiAlert {
  id: number;
  origin: 'directory' | 'device';
  /** The user who must act, or null for admins only. */
  audience: string | null;
  admin: boolean;
  rule: string;
  severity: string;
  summary: string;
  /** What to do next. */
  action: string;
  firstAt: number;
  lastAt: number;
  count: number;
  /** When it was acknowledged, or null while unread. */
  ackedAt: number | null;
  /** A device alert's subject (an entry id, or `key-log:USER`) and what was seen. */
  subject?: string;
  evidence?: string;
}

/** The caller's alerts (every alert, for an admin), this device's first, unread first. */
export interface ApiAlerts {
  alerts: ApiAlert[];
  scope: 'all' | 'own';
  /** True when the directory did not answer: only this device's alerts are listed. */
  directoryUnavailable?: boolean;
}

/** A peer as `peers` lists it. */
export interface ApiPeer {
  fingerprint: string;
  address: string;
  capacity: number;
  lastSeen: number;
  /** Whether it is the peer this API belongs to. */
  self: boolean;
  /** Strikes against it: blocks that failed verification or audits, as agents reported them. */
  strikes: number;
  /** Left out of placement by the directory (its capacity and lastSeen are then 0). */
  quarantined: boolean;
}

/** A logged-in session at the local API. */
export interface ApiSession {
  token: string;
  user: string;
  expiresAt: number;
  fingerprint: string;
}

/** The peer's own status. */
export interface ApiStatus {
  peer: string;
  directory: string;
  sessions: number;
  usage: { blocks: number; bytes: number; capacity: number };
}

/** What a repair pass did. */
/** A live session of the user: a login at some peer. */
export interface ApiDevice {
  id: string;
  /** Fingerprint of the session's device key. */
  device: string;
  createdAt: number;
  expiresAt: number;
  current: boolean;
}

/** What `revocate` did (client/revocation.ts). */
export interface ApiRevocation {
  seq: number;
  ownRewritten: number;
  filesRekeyed: number;
  sharedRewritten: number;
  sharedReadOnly: number;
  skipped: number;
  ms: number;
  passwordChanged: boolean;
}

export interface ApiRepairSummary {
  files: number;
  blocks: number;
  /** Copies made to bring blocks back to R replicas. */
  copies: number;
  /** Blocks that could not be brought to R replicas (too few peers, or no good copy). */
  short: number;
  /** Blocks with no verified copy anywhere. */
  lost: number;
  /** Peers that failed an audit (served bad bytes or a wrong proof), by fingerprint. */
  badPeers: string[];
  /** File versions whose block list could not be opened. */
  unreadableVersions: number;
  ms: number;
}

/** A right: `r` reads; `w` writes, and so reads too. */
export type ApiRight = 'r' | 'w';

/** A user's right on a file or folder; `user` may be one of the owner's groups, `@team`. */
export interface ApiGrant {
  user: string;
  right: ApiRight;
}

/** A grant as `perms` shows it: a group's comes with its members, for the group's owner. */
export interface ApiPermissionGrant extends ApiGrant {
  members?: string[];
}

/** One of the logged-in user's groups. */
export interface ApiGroup {
  /** Without the `@`. */
  name: string;
  version: number;
  members: string[];
  /** When it last changed (ms). */
  time: number;
}

/** What a change of a group did. */
export interface ApiGroupSaved extends ApiGroup {
  created: boolean;
  /** Entries shared with the group that got a new version (with its members now). */
  entries: number;
}

/** What deleting a group did. */
export interface ApiGroupDeleted {
  name: string;
  /** Entries the group was taken off (with `force`). */
  entries: number;
}

/** What `share` and `unshare` changed. */
export interface ApiSharingChange {
  path: string;
  kind: 'file' | 'dir';
  /** Entries given a new version: the folder and everything in it, for a folder. */
  entries: number;
  /** The grants of `path` afterwards (users and groups), writers first. */
  grants: ApiGrant[];
  /** `unshare` only: users it named who still have access through a group, and which. */
  stillThrough?: { user: string; groups: string[] }[];
}

/** Who may do what with a file or folder (`perms`). */
export interface ApiPermissions {
  path: string;
  kind: 'file' | 'dir';
  owner: string;
  version: number;
  /** Who wrote the current version. */
  writer: string;
  /** The grants as given (users and groups), writers first. */
  grants: ApiPermissionGrant[];
  /** Who may read and write it: the users the grants come to, groups expanded. */
  users: ApiGrant[];
  /** Whether the grants were copied from the folder it was created in. */
  inherited: boolean;
}

/** Something shared with the logged-in user by its owner. */
export interface ApiSharedItem {
  owner: string;
  /** Its name, as its owner gave it. */
  name: string;
  /** Where the user reaches it: `/owner/name`. */
  path: string;
  kind: 'file' | 'dir';
  right: ApiRight;
  version: number;
}

/**
 * Grants typed as words, `USER r|w|rw [USER RIGHT ...]` (as in `touch team5.txt bob r carol w`);
 * a USER may be one of your groups, `@team`.
 * @throws FsError `invalid`, saying how grants are written
 */
export function grantsOfWords(words: readonly string[]): ApiGrant[] {
  try {
    return parseGrantWords(words);
  } catch (err) {
    if (!isFsError(err) || (err.op !== 'user-name.parse' && err.op !== 'group-name.parse')) {
      throw err;
    }
    // Pairs are checked in order, so the first word in a user's place that is not a user name
    // (or a group) is the one refused.
    const word = words.find((w, i) => i % 2 === 0 && !isGrantee(w)) ?? '';
    throw new FsError(
      'invalid',
      `${notGrantee(word)}: grants are USER r|w|rw pairs, for example \`bob r carol w\``,
      { op: 'grant.parse' },
    );
  }
}

/**
 * Checks grantees typed as words (as `unshare FILE USER|@GROUP ...` takes them).
 * @throws FsError `invalid` naming the first that is neither a user name nor a group, with `usage`
 */
export function checkGrantees(words: readonly string[], usage: string): void {
  const bad = words.find((word) => !isGrantee(word));
  if (bad !== undefined) {
    throw new FsError('invalid', `${notGrantee(bad)}; usage: ${usage}`, {
      op: 'user-name.parse',
    });
  }
}

/** Why `word` names neither a user nor a group. */
function notGrantee(word: string): string {
  return word.startsWith('@')
    ? `"${word}" is not a group (@ and a-z, 0-9, _ or -, starting with a letter)`
    : `"${word}" is not a user name (a-z, 0-9, _ or -, starting with a letter)`;
}

/**
 * A group name as typed (`team` or `@team`), without the `@`.
 * @throws FsError `invalid`, with `usage`
 */
export function groupNameOfWord(word: string, usage: string): string {
  try {
    return parseGroupName(word);
  } catch {
    throw new FsError(
      'invalid',
      `"${word}" is not a group name (a-z, 0-9, _ or -, starting with a letter); usage: ${usage}`,
      { op: 'group-name.parse' },
    );
  }
}

/**
 * Checks user names typed as words (as `unshare FILE USER ...` takes them).
 * @throws FsError `invalid` naming the first that is not a user name, with `usage`
 */
export function checkUserNames(words: readonly string[], usage: string): void {
  const bad = words.find((word) => !isUserName(word));
  if (bad !== undefined) {
    throw new FsError(
      'invalid',
      `"${bad}" is not a user name (a-z, 0-9, _ or -, starting with a letter); usage: ${usage}`,
      { op: 'user-name.parse' },
    );
  }
}

function isUserName(word: string): boolean {
  try {
    parseUserName(word);
    return true;
  } catch {
    return false;
  }
}

function isGrantee(word: string): boolean {
  try {
    parseGrantee(word);
    return true;
  } catch {
    return false;
  }
}

/** How a write treats an existing file. */
export type WriteMode = 'replace' | 'create' | 'append';

/** The header that carries a session token (same as the peer's). */
const sessionHeader = 'x-peervault-session';

/** The typed client; `session` is set by {@link LocalApi.login} or given at construction. */
export class LocalApi {
  readonly endpoint: LocalApiEndpoint;
  session: ApiSession | undefined;

  constructor(endpoint: LocalApiEndpoint, session?: ApiSession) {
    this.endpoint = endpoint;
    this.session = session;
  }

  status(): Promise<ApiStatus> {
    return this.#json('GET', '/v1/status');
  }

  /** Registers a new account at the peer's directory. */
  register(
    user: string,
    password: string,
    invite?: string,
  ): Promise<{ user: string; fingerprint: string }> {
    return this.#json('POST', '/v1/register', {
      user,
      password,
      ...(invite === undefined ? {} : { invite }),
    });
  }

  /** Logs in and keeps the session for later calls. @throws FsError `permission` "Login failed" */
  async login(user: string, password: string): Promise<ApiSession> {
    this.session = await this.#json<ApiSession>('POST', '/v1/login', { user, password });
    return this.session;
  }

  /**
   * Ends this session at the peer (its keys are forgotten there); with `everywhere`, every
   * session of the user, at every peer and device.
   */
  async logout(options: { everywhere?: boolean } = {}): Promise<void> {
    await this.#json('POST', '/v1/logout', { everywhere: options.everywhere === true });
    this.session = undefined;
  }

  whoami(): Promise<{ user: string; fingerprint: string; expiresAt: number }> {
    return this.#json('GET', '/v1/whoami');
  }

  /** Changes the password; every session of the user ends (log in again). */
  /** The user's live sessions (devices), oldest first. */
  async devices(): Promise<ApiDevice[]> {
    return (await this.#json<{ sessions: ApiDevice[] }>('GET', '/v1/devices')).sessions;
  }

  /** Ends another session (device) of the user. */
  async endDevice(id: string): Promise<void> {
    await this.#json('POST', '/v1/devices/end', { id });
  }

  /**
   * Replaces the user's keys (`revocate`) and reports each step done; with `resume`, only
   * finishes an interrupted revocation. With `newPassword` the password changes as well and
   * every session ends (log in again).
   */
  async revocate(
    options: { resume?: boolean; newPassword?: string } = {},
    onProgress?: (progress: { done: number; total: number }) => void,
  ): Promise<ApiRevocation> {
    const response = await this.#send('POST', '/v1/revocate', options);
    if (response.statusCode >= 400) throw await errorOf(response);
    let pending = '';
    let summary: ApiRevocation | undefined;
    for await (const chunk of response.body as AsyncIterable<Buffer>) {
      pending += chunk.toString('utf8');
      let newline = pending.indexOf('\n');
      while (newline >= 0) {
        const line = JSON.parse(pending.slice(0, newline)) as {
          progress?: { done: number; total: number };
          summary?: ApiRevocation;
          error?: { kind: string; op: string; message: string };
        };
        pending = pending.slice(newline + 1);
        if (line.progress) onProgress?.(line.progress);
        if (line.summary) summary = line.summary;
        if (line.error) {
          const kind = isErrorKind(line.error.kind) ? line.error.kind : 'internal';
          throw new FsError(kind, line.error.message, { op: line.error.op });
        }
        newline = pending.indexOf('\n');
      }
    }
    if (!summary)
      throw new FsError(
        'internal',
        'the peer stopped before revocate finished; run `revocate --resume`',
        { op: 'revocate' },
      );
    return summary;
  }

  async passwd(password: string, newPassword: string): Promise<void> {
    await this.#json('POST', '/v1/passwd', { password, newPassword });
    this.session = undefined;
  }

  peers(): Promise<{ time: number; peers: ApiPeer[] }> {
    return this.#json('GET', '/v1/peers');
  }

  /** Makes a directory, shared with `grants` on top of those its folder passes on. */
  async mkdir(path: string, grants: readonly ApiGrant[] = []): Promise<void> {
    try {
      await this.#json('POST', '/v1/fs/mkdir', grants.length === 0 ? { path } : { path, grants });
    } catch (err) {
      throw this.#mayNot(err, path, `you may not create ${path}`, 'for the w right on its folder');
    }
  }

  async list(path: string): Promise<ApiListEntry[]> {
    return (await this.#json<{ entries: ApiListEntry[] }>('GET', `/v1/fs/list?${query({ path })}`))
      .entries;
  }

  stat(path: string): Promise<ApiStat> {
    return this.#json('GET', `/v1/fs/stat?${query({ path })}`);
  }

  /**
   * Writes `content` (streamed) as a new version of `path`; a file being created (`create`)
   * may be shared with `grants` at once.
   */
  async writeFile(
    path: string,
    content: Uint8Array | Readable,
    mode: WriteMode = 'replace',
    grants: readonly ApiGrant[] = [],
  ): Promise<{ version: number; size: number }> {
    const params = new URLSearchParams({ path, mode });
    for (const { user, right } of grants) params.append('grant', `${user}:${right}`);
    try {
      return await this.#json('PUT', `/v1/fs/file?${params.toString()}`, content);
    } catch (err) {
      throw this.#mayNot(
        err,
        path,
        `you may not write ${path}`,
        'to share it with you for writing (w)',
      );
    }
  }

  /** Shares a file or folder (owner only); a folder's grants reach everything in it. */
  share(path: string, grants: readonly ApiGrant[]): Promise<ApiSharingChange> {
    return this.#json<ApiSharingChange>('POST', '/v1/fs/share', { path, grants }).catch(
      (err: unknown) => {
        throw this.#ownerOnly(err, path, 'share');
      },
    );
  }

  /**
   * Withdraws the grants of `users` (users or groups, `@team`) on a file or folder (owner only;
   * a folder: all in it).
   */
  unshare(path: string, users: readonly string[]): Promise<ApiSharingChange> {
    return this.#json<ApiSharingChange>('POST', '/v1/fs/unshare', { path, users }).catch(
      (err: unknown) => {
        throw this.#ownerOnly(err, path, 'unshare');
      },
    );
  }

  /** The owner, last writer and grants of a file or folder. */
  permissions(path: string): Promise<ApiPermissions> {
    return this.#json('GET', `/v1/fs/perms?${query({ path })}`);
  }

  /** Everything shared with the logged-in user, by owner then name. */
  async shared(): Promise<ApiSharedItem[]> {
    return (await this.#json<{ items: ApiSharedItem[] }>('GET', '/v1/fs/shared')).items;
  }

  /** The logged-in user's groups, by name. */
  async groups(): Promise<ApiGroup[]> {
    return (await this.#json<{ groups: ApiGroup[] }>('GET', '/v1/groups')).groups;
  }

  /**
   * Makes the group `name` (without `@`) with `members`; `exist` when it exists. With
   * `replace`, sets the members of the group whether or not it exists.
   */
  createGroup(
    name: string,
    members: readonly string[],
    options: { replace?: boolean } = {},
  ): Promise<ApiGroupSaved> {
    return this.#json('PUT', `/v1/groups/${encodeURIComponent(name)}`, {
      members,
      ...(options.replace === true ? {} : { create: true }),
    });
  }

  /** Adds members to a group; what is shared with it is shared with them at once. */
  addToGroup(name: string, members: readonly string[]): Promise<ApiGroupSaved> {
    return this.#json('POST', `/v1/groups/${encodeURIComponent(name)}/add`, { members });
  }

  /** Removes members from a group; what is shared with it is no longer shared with them. */
  removeFromGroup(name: string, members: readonly string[]): Promise<ApiGroupSaved> {
    return this.#json('POST', `/v1/groups/${encodeURIComponent(name)}/remove`, { members });
  }

  /** Deletes a group; with `force`, even when entries are shared with it (it is taken off them). */
  deleteGroup(name: string, force = false): Promise<ApiGroupDeleted> {
    const suffix = force ? '?force=1' : '';
    return this.#json('DELETE', `/v1/groups/${encodeURIComponent(name)}${suffix}`);
  }

  /** Reads a file; the body streams (consume or destroy it). */
  async readFile(
    path: string,
    version?: number,
  ): Promise<{ size: number; version: number; body: Readable }> {
    const params: Record<string, string> =
      version === undefined ? { path } : { path, version: String(version) };
    const response = await this.#send('GET', `/v1/fs/file?${query(params)}`);
    if (response.statusCode !== 200) throw await errorOf(response);
    return {
      size: Number(response.headers['content-length'] ?? 0),
      version: Number(response.headers['x-peervault-version'] ?? 0),
      body: response.body as unknown as Readable,
    };
  }

  /** A file's versions, oldest first. */
  async versions(path: string): Promise<ApiVersion[]> {
    return (
      await this.#json<{ versions: ApiVersion[] }>('GET', `/v1/fs/versions?${query({ path })}`)
    ).versions;
  }

  /** Reads a whole (small) file into memory. */
  async readText(path: string): Promise<string> {
    const file = await this.readFile(path);
    const chunks: Buffer[] = [];
    for await (const chunk of file.body as AsyncIterable<Buffer>) chunks.push(chunk);
    return Buffer.concat(chunks).toString('utf8');
  }

  async remove(path: string): Promise<void> {
    await this.#json('DELETE', `/v1/fs/file?${query({ path })}`);
  }

  /** Removes a directory; with `recursive`, everything under it. @returns entries removed */
  async rmdir(path: string, recursive = false): Promise<number> {
    const answer = await this.#json<{ removed: number }>(
      'DELETE',
      `/v1/fs/dir?${query({ path, recursive: recursive ? '1' : '0' })}`,
    );
    return answer.removed;
  }

  /** The logged-in user's trash, newest deletion first. */
  async trash(): Promise<ApiTrashItem[]> {
    return (await this.#json<{ entries: ApiTrashItem[] }>('GET', '/v1/trash')).entries;
  }

  /**
   * Restores a deleted file or directory (owner only): `as` under another name; `version` as
   * that version of a file. With `version` (and no `as`), a live file is reverted instead: the
   * chosen version becomes its newest.
   */
  restore(path: string, options: { as?: string; version?: number } = {}): Promise<ApiRestored> {
    return this.#json<ApiRestored>('POST', '/v1/restore', {
      path,
      ...(options.as === undefined ? {} : { as: options.as }),
      ...(options.version === undefined ? {} : { version: options.version }),
    });
  }

  /** Deletes an entry of the trash for good (its blocks are released); it cannot be restored. */
  async purge(path: string): Promise<number> {
    return (await this.#json<{ purged: number }>('POST', '/v1/trash/purge', { path })).purged;
  }

  /** The security alerts of the logged-in user (all, for an admin), unread first. */
  alerts(): Promise<ApiAlerts> {
    return this.#json('GET', '/v1/alerts');
  }

  /**
   * Acknowledges alert `id` (of the directory, or of this device), lifting the purge protection
   * a burst alert holds.
   */
  ackAlert(id: number, origin: ApiAlert['origin'] = 'directory'): Promise<ApiAlert> {
    return this.#json('POST', '/v1/alerts/ack', { id, origin });
  }

  /** Records of the directory's audit log about the logged-in user (all, for an admin). */
  audit(options: { after?: number; limit?: number } = {}): Promise<ApiAuditPage> {
    const params: Record<string, string> = {};
    if (options.after !== undefined) params['after'] = String(options.after);
    if (options.limit !== undefined) params['limit'] = String(options.limit);
    return this.#json('GET', `/v1/audit?${query(params)}`);
  }

  /** How long the logged-in user's deleted files stay in their trash. */
  retention(): Promise<ApiRetention> {
    return this.#json('GET', '/v1/retention');
  }

  /** Sets how long the user's deleted files stay in their trash; null: the directory's default. */
  setRetention(retentionMs: number | null): Promise<ApiRetention> {
    return this.#json('PUT', '/v1/retention', { retentionMs });
  }

  /** Purges the logged-in user's trash past retention, releasing the blocks first. */
  gc(): Promise<{ purged: number; releasedBlocks: number; kept: number }> {
    return this.#json('POST', '/v1/gc', {});
  }

  /** Runs a repair pass over the logged-in user's files now. */
  repair(options: { audit?: boolean } = {}): Promise<ApiRepairSummary> {
    return this.#json('POST', '/v1/repair', { audit: options.audit === true });
  }

  /** The owner of `path` when it is someone other than the logged-in user. */
  #otherOwner(path: string): string | undefined {
    const user = this.session?.user;
    if (user === undefined) return undefined;
    try {
      const owner = parsePath(path, parseUserName(user)).owner;
      return owner === user ? undefined : owner;
    } catch {
      return undefined;
    }
  }

  /**
   * A refusal of an owner-only verb (share, unshare) on someone else's entry, as the
   * sentence a person needs: whose it is and who to ask. Other errors pass unchanged (a
   * session the peer no longer knows is `permission` too, but from op `api`).
   */
  #ownerOnly(err: unknown, path: string, verb: string): unknown {
    const owner = this.#otherOwner(path);
    if (!isFsError(err, 'permission') || err.op === 'api' || owner === undefined) return err;
    return new HintedError(
      'permission',
      `only ${owner} (the owner) may ${verb} ${path}; ask ${owner} to do it`,
      '',
      { op: err.op, path },
    );
  }

  /** A refused write in someone else's tree, saying whom to ask for the `w` right. */
  #mayNot(err: unknown, path: string, refusal: string, request: string): unknown {
    const owner = this.#otherOwner(path);
    if (!isFsError(err, 'permission') || err.op === 'api' || owner === undefined) return err;
    return new HintedError('permission', `${refusal}; ask ${owner} (the owner) ${request}`, '', {
      op: err.op,
      path,
    });
  }

  async #send(
    method: Dispatcher.HttpMethod,
    path: string,
    body?: unknown,
  ): Promise<Dispatcher.ResponseData> {
    const headers: Record<string, string> = { authorization: `Bearer ${this.endpoint.token}` };
    if (this.session) headers[sessionHeader] = this.session.token;
    let payload: string | Uint8Array | Readable | undefined;
    if (body instanceof Readable || body instanceof Uint8Array) {
      headers['content-type'] = 'application/octet-stream';
      payload = body;
    } else if (body !== undefined) {
      headers['content-type'] = 'application/json';
      payload = JSON.stringify(body);
    }
    try {
      return await request(`${this.endpoint.url}${path}`, {
        method,
        headers,
        ...(payload === undefined ? {} : { body: payload }),
      });
    } catch (err) {
      throw unreachable(this.endpoint.url, err);
    }
  }

  async #json<T>(method: Dispatcher.HttpMethod, path: string, body?: unknown): Promise<T> {
    const response = await this.#send(method, path, body);
    if (response.statusCode >= 400) throw await errorOf(response);
    return (await response.body.json()) as T;
  }
}

function query(values: Record<string, string>): string {
  return new URLSearchParams(values).toString();
}

/** The peer's `{kind, op, message}` answer as an FsError. */
async function errorOf(response: Dispatcher.ResponseData): Promise<FsError> {
  let wire: unknown;
  try {
    wire = await response.body.json();
  } catch {
    wire = undefined;
  }
  if (typeof wire === 'object' && wire !== null) {
    const { kind, message, op } = wire as Record<string, unknown>;
    if (isErrorKind(kind) && typeof message === 'string') {
      return new FsError(kind, message, { op: typeof op === 'string' ? op : 'api' });
    }
  }
  return new FsError('internal', `the local peer answered ${response.statusCode}`, { op: 'api' });
}

/** A connection failure as a sentence that says what to do. */
function unreachable(url: string, err: unknown): FsError {
  const code = (err as { code?: string }).code;
  const down =
    code === 'ECONNREFUSED' ||
    err instanceof undiciErrors.SocketError ||
    err instanceof undiciErrors.ConnectTimeoutError;
  return new FsError(
    'unavailable',
    down
      ? `the local peer at ${url} is not answering; start it with \`peervault demo\` or \`peervault peer\``
      : `could not reach the local peer at ${url}`,
    { op: 'api' },
  );
}

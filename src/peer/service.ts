/**
 * Running a peer: its identity key, its disk blockstore, the block protocol over mutual TLS,
 * registration and heartbeats at the directory, and the local API on 127.0.0.1.
 *
 * Trust: the peer pins the directory by fingerprint; it accepts block requests only from
 * clients whose TLS key is a live registered peer, carrying a capability signed by the current
 * key (per the directory's key log, verified here) of the user it names. Refusals and integrity
 * failures are written as JSON lines to standard error, for the operator and the monitor.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { FsError } from '../interface/errors.js';
import type { IntegrityReport } from '../interface/block-store.js';
import type { BlockId, FileId } from '../interface/ids.js';
import type { UserName } from '../interface/names.js';
import { constantTimeEqual } from '../crypto/bytes.js';
import { fingerprint } from '../crypto/identity.js';
import { DirectoryClient } from '../client/directory-client.js';
import { openKeyPinFile } from '../client/key-pins.js';
import { openSeenVersions } from '../client/seen-versions.js';
import { fromBase64url, toBase64url } from '../wire/base64.js';
import {
  type AuditCheckpointResponse,
  type AuditReportResponse,
  type EntryResponse,
  peerRecordHeader,
  type ReleasesResponse,
  routes,
} from '../wire/directory-api.js';
import { signPeerRecord } from '../wire/peer-record.js';
import { createSelfSignedCertificate } from '../wire/tls-certificate.js';
import {
  loadOrCreateIdentityKey,
  readIfExists,
  refuseLoosePermissions,
  writeFileAtomic,
} from '../support/key-files.js';
import { buildBlockServer } from './block-routes.js';
import { type GossipDeps, registerGossipRoutes, startHeadGossip } from './head-gossip.js';
import { reportEntryIntegrity } from '../client/integrity-report.js';
import { createFileAccess } from './file-access.js';
import { createBlockRefs } from './block-refs.js';
import { releasePageOf, startReleaseSweeper } from './release-sweeper.js';
import { createDiskBlockStore } from './blockstore/disk-store.js';
import { buildLocalApi } from './local-api.js';
import { createBlockClient, type PeerAddress } from './block-client.js';
import { type BadPeerReason, createReplicator } from './replication.js';
import { auditDefaults, repairPass, startAuditSchedule, startRepairScheduler } from './repair.js';
import { misbehavingStore, misbehaviourFromEnv } from './misbehave.js';
import { ownFileBlocks } from '../client/inventory.js';
import { collectGarbage } from '../client/garbage.js';
import { type CapabilityMisuse, issueCapability } from '../wire/capability.js';
import type { DirectorySession } from '../client/directory-client.js';
import type { BlockTransport } from '../client/files.js';

/** How to run a peer. */
export interface PeerOptions {
  dataDir: string;
  directory: { url: string; fingerprint: string };
  /** `host:port` of the block protocol (default 127.0.0.1:7600; port 0 picks one). */
  listen?: string;
  /** `127.0.0.1:port` of the local API (default 127.0.0.1:7601). Loopback only. */
  api?: string;
  /** Bytes offered to the network (default 10 GiB). */
  capacity?: number;
  /** How often to heartbeat (default 15 s; the directory drops peers silent for 60 s). */
  heartbeatMs?: number;
  /** Copies of each block the agent writes (default 3; fewer, with a warning, when fewer peers are up). */
  replicas?: number;
  /**
   * How long a peer must be gone from the live list before the blocks of logged-in users are
   * re-replicated elsewhere (default 10 minutes). A joining peer triggers a pass at once.
   */
  repairGraceMs?: number;
  /** How often to read the directory's log of block releases and act on it (default 60 s). */
  releaseSweepMs?: number;
  /**
   * How often to tell the other peers which entry versions this peer's users saw, so that a
   * directory showing two peers different histories is caught (head-gossip.ts; default 30 s).
   */
  gossipMs?: number;
  /** Files up to this size are sealed again at once when a user loses access (rekey.ts). */
  eagerRekeyMaxBytes?: number;
  /**
   * Scheduled storage audits: every `everyMs` (the first after a random part of it), an audit
   * pass over a random `sample` (share of blocks) of the files of each user logged in here
   * (default every 6 h, 5 %); `everyMs` 0 turns them off. `repair --audit` checks every block.
   */
  audits?: { everyMs: number; sample: number };
  /** Where events go (default: JSON lines on standard error). Never given a secret. */
  log?: (event: Record<string, unknown>) => void;
}

/** A running peer. */
export interface RunningPeer {
  /** `host:port` of its block protocol. */
  listen: string;
  /** `http://127.0.0.1:port` of its local API. */
  api: string;
  key: Uint8Array;
  fingerprint: string;
  close(): Promise<void>;
}

/** One JSON line on standard error: what happened, never a secret or block contents. */
export function logToStderr(event: Record<string, unknown>): void {
  process.stderr.write(JSON.stringify({ time: new Date().toISOString(), ...event }) + '\n');
}

function parseHostPort(value: string, what: string): { host: string; port: number } {
  const match = /^(\[[0-9a-fA-F:]+\]|[^:]+):(\d{1,5})$/.exec(value);
  const port = match ? Number(match[2]) : -1;
  if (!match || port > 65535) {
    throw new FsError('invalid', `${what} wants host:port, not "${value}"`, { op: 'peer.start' });
  }
  return { host: match[1]!.replace(/^\[|\]$/g, ''), port };
}

/**
 * A small time-bounded cache, so every block request does not ask the directory. With
 * `staleOnError`, a failed reload answers the last value however old (the directory is down:
 * keep serving on what we knew).
 */
function cached<K, V>(
  ttlMs: number,
  load: (key: K) => Promise<V>,
  options: { staleOnError?: boolean } = {},
): (key: K, lookup?: { fresh?: boolean }) => Promise<V> {
  const entries = new Map<K, { value: V; at: number }>();
  return async (key, lookup = {}) => {
    const hit = entries.get(key);
    if (hit && lookup.fresh !== true && Date.now() - hit.at < ttlMs) return hit.value;
    let value: V;
    try {
      value = await load(key);
    } catch (err) {
      if (hit && options.staleOnError === true) return hit.value;
      throw err;
    }
    if (entries.size > 10_000) entries.clear();
    entries.set(key, { value, at: Date.now() });
    return value;
  };
}

/** How long a peer trusts a user's signing key before asking their key log again. */
export const issuerKeyTtlMs = 2_000;

/** Loads the local API token (0600 in the data directory), making it on first start. */
async function loadApiToken(dataDir: string): Promise<string> {
  const path = join(dataDir, 'api-token');
  let token = readIfExists(path)?.toString('utf8').trim();
  if (token === undefined) {
    token = randomBytes(32).toString('base64url');
    writeFileAtomic(path, token + '\n');
  }
  await refuseLoosePermissions(path);
  return token;
}

/** Starts a peer and returns once it is serving and registered. */
export async function startPeer(options: PeerOptions): Promise<RunningPeer> {
  const logEvent = options.log ?? logToStderr;
  // Set once the block server listens; the peer's routes at the directory need a record of it.
  let address = '';
  /** A fresh self-signed peer record, the credential for the directory's routes for peers. */
  const freshPeerRecordHeader = (): Record<string, string> => ({
    [peerRecordHeader]: toBase64url(signPeerRecord(key, { address, capacity, time: Date.now() })),
  });
  const { key } = await loadOrCreateIdentityKey(options.dataDir);
  const capacity = options.capacity ?? 10 * 1024 ** 3;
  const listen = parseHostPort(options.listen ?? '127.0.0.1:7600', '--listen');
  const apiAddress = parseHostPort(options.api ?? '127.0.0.1:7601', '--api');
  if (!['127.0.0.1', '::1', 'localhost'].includes(apiAddress.host)) {
    throw new FsError('invalid', 'the local API listens on loopback only (127.0.0.1 or ::1)', {
      op: 'peer.start',
    });
  }
  const apiToken = await loadApiToken(options.dataDir);
  // What this peer saw of users' key logs, for every session here and kept across restarts: a
  // directory that later swaps or rolls back a log is refused (key-pins.ts).
  const keyPins = openKeyPinFile(join(options.dataDir, 'key-pins.json'));
  // The entry versions this peer's users saw, and the alerts this device raised on them: a
  // directory that rolls an entry back or forks it is caught (seen-check.ts, head-gossip.ts).
  const seenVersions = openSeenVersions(join(options.dataDir, 'seen.sqlite'));
  const directory = await DirectoryClient.connect(options.directory, {
    keyPins,
    seenVersions,
  }).catch((err: unknown) => {
    seenVersions.close();
    throw err;
  });
  const store = await createDiskBlockStore({
    dir: join(options.dataDir, 'store'),
    capacity,
    onIntegrityFailure: (report: IntegrityReport) =>
      logEvent({ event: 'block.integrity', ...report }),
  });
  // Who stored each block (only they may release it); beside the store, not inside it.
  const refs = await createBlockRefs({ path: join(options.dataDir, 'block-refs.log') });

  // Short-lived, so that a revoked key's capabilities stop working within seconds (the
  // directory client dedupes and caches logs for 2 s more); the last key is used while the
  // directory cannot be reached, so reads go on.
  const issuerKey = cached(
    issuerKeyTtlMs,
    async (user: UserName) => (await directory.keyLog(user, { fresh: true })).identity.signingKey,
    { staleOnError: true },
  );
  // A capability signed with a key its user revoked means someone holds the old key: tell the
  // directory's monitor (once a minute per user at most; a forged signer is not reported).
  const revokedReported = new Map<UserName, number>();
  const reportRevokedKey = async (issuer: UserName, signer: Uint8Array): Promise<void> => {
    try {
      const last = revokedReported.get(issuer);
      if (last !== undefined && Date.now() - last < 60_000) return;
      const log = await directory.keyLog(issuer);
      const revoked = (log.replaced ?? []).some(
        (old) => old.revoked && constantTimeEqual(old.identity.signingKey, signer),
      );
      if (!revoked) return;
      revokedReported.set(issuer, Date.now());
      logEvent({ event: 'revoked-key.used', user: issuer });
      await directory.call('POST', routes.revokedKeyUse, { user: issuer }, undefined, {
        headers: freshPeerRecordHeader(),
      });
    } catch (err) {
      logEvent({ event: 'revoked-key.report-failed', user: issuer, error: String(err) });
    }
  };
  // A capability the user's key validly signed but addressed to another peer, or expired long
  // ago, is being replayed by whoever holds it: tell the directory's monitor (once a minute per
  // user at most, whatever the reason; never for a capability that did not verify). The refusal
  // has gone out already: this runs on its own, and a failure is only logged.
  const misuseReported = new Map<UserName, number>();
  const reportCapabilityMisuse = async (
    issuer: UserName,
    reason: CapabilityMisuse,
  ): Promise<void> => {
    try {
      const now = Date.now();
      const last = misuseReported.get(issuer);
      if (last !== undefined && now - last < 60_000) return;
      if (misuseReported.size >= 10_000) {
        for (const [user, at] of misuseReported) {
          if (now - at >= 60_000) misuseReported.delete(user);
        }
      }
      misuseReported.set(issuer, now);
      logEvent({ event: 'capability.misused', user: issuer, reason });
      await directory.call('POST', routes.capabilityMisuse, { user: issuer, reason }, undefined, {
        headers: freshPeerRecordHeader(),
      });
    } catch (err) {
      logEvent({ event: 'capability.report-failed', user: issuer, error: String(err) });
    }
  };
  const livePeers = cached(10_000, async (_: 'peers') =>
    (await directory.peers()).peers.map((p) => p.key),
  );
  // A key missing from the cached list may be a peer that just joined: look again (at most
  // once a second), so it is not refused for the cache's lifetime.
  let lastFreshLook = 0;
  const peerAllowed = async (clientKey: Uint8Array) => {
    const known = (list: Uint8Array[]) => list.some((peer) => constantTimeEqual(peer, clientKey));
    if (known(await livePeers('peers'))) return true;
    if (Date.now() - lastFreshLook < 1_000) return false;
    lastFreshLook = Date.now();
    return known(await livePeers('peers', { fresh: true }));
  };

  const misbehaviour = misbehaviourFromEnv(process.env);
  if (misbehaviour !== undefined) {
    logEvent({
      event: 'peer.misbehaving',
      mode: misbehaviour,
      warning: `TEST ONLY: ${misbehaviour === 'hollow' ? 'keeps nothing it is given' : 'serves bad bytes'}`,
    });
  }
  const tls = createSelfSignedCertificate(key, { commonName: 'peervault-peer' });
  const blocks = buildBlockServer({
    identity: tls,
    store: misbehaviour === undefined ? store : misbehavingStore(store, misbehaviour),
    self: key.publicKey,
    issuerKey,
    onBadSigner: (issuer, signer) => void reportRevokedKey(issuer, signer),
    onCapabilityMisuse: (issuer, reason) => void reportCapabilityMisuse(issuer, reason),
    peerAllowed,
    onRefusal: (event) => logEvent({ event: 'block.refused', ...event }),
    onStored: (id, cap) => refs.record(id, cap.issuer, cap.file),
    authorizeFile: createFileAccess({
      fetchEntry: async (file) => {
        const answer = await directory.call<EntryResponse>(
          'GET',
          routes.fileAccess.replace(':id', file),
          undefined,
          undefined,
          { headers: freshPeerRecordHeader() },
        );
        return fromBase64url(answer.envelope, 'envelope');
      },
      signingKey: issuerKey,
      storedUnder: (block) => refs.fileOf(block),
      storedBy: (block, user, file) => refs.matches(block, user, file),
      now: Date.now,
    }),
    now: Date.now,
  });
  // The sessions of the users logged in here (the local API's), by token.
  const sessions = new Map<string, DirectorySession>();
  let lastRewriteReport = -Infinity;
  const gossipDeps: GossipDeps = {
    seen: seenVersions,
    directory,
    // Checked against the pinned fingerprint when the client connected.
    directoryKey: fromBase64url(directory.info.identityKey, 'identityKey', { length: 32 }),
    self: key.publicKey,
    peerAllowed,
    log: logEvent,
    reportFork(user, entry, evidence) {
      const session = [...sessions.values()].find(
        (s) => s.user === user && s.expiresAt > Date.now(),
      );
      if (session !== undefined)
        void reportEntryIntegrity({ directory, session }, entry, 'fork', evidence);
    },
    // Gossip finds it every round while the log stays cut back: told once a minute at most.
    reportRewrite(checkpoints) {
      const now = Date.now();
      if (now - lastRewriteReport < 60_000) return;
      lastRewriteReport = now;
      directory
        .call<AuditReportResponse>(
          'POST',
          routes.auditReport,
          { checkpoints: checkpoints.map(toBase64url) },
          undefined,
          { headers: freshPeerRecordHeader() },
        )
        .then(
          (answer) => logEvent({ event: 'audit.rewrite-reported', ...answer }),
          (err: unknown) => logEvent({ event: 'audit.report-failed', error: String(err) }),
        );
    },
  };
  registerGossipRoutes(blocks, gossipDeps);
  // The agent reaches other peers as this peer (its TLS key is registered), carrying
  // capabilities signed by the logged-in user.
  const blockClient = createBlockClient({ identity: tls });
  const replicas = options.replicas ?? 3;
  // The live peers, cached for a few seconds so each block does not ask the directory; a list
  // too short for R copies is refreshed after one second, so peers that just joined are used.
  let liveCache: { peers: PeerAddress[]; at: number } | undefined;
  const liveAddresses = async (_: 'peers'): Promise<PeerAddress[]> => {
    const age = liveCache === undefined ? Infinity : Date.now() - liveCache.at;
    if (
      liveCache === undefined ||
      age > 5_000 ||
      (liveCache.peers.length < replicas && age > 1_000)
    ) {
      const peers = (await directory.peers()).peers.map((p): PeerAddress => ({
        address: p.address,
        key: p.key,
      }));
      liveCache = { peers, at: Date.now() };
    }
    return liveCache.peers;
  };
  // The same warning for every block of a large file says nothing new: once per minute.
  const lastWarned = new Map<string, number>();
  const warnOnce = (message: string) => {
    const now = Date.now();
    if ((lastWarned.get(message) ?? 0) > now - 60_000) return;
    if (lastWarned.size > 1_000) lastWarned.clear();
    lastWarned.set(message, now);
    logEvent({ event: 'replication.warning', message });
  };
  // The directory lists a peer as live until it has been silent for a minute. A peer we could
  // not reach at all is left out of placement for a while, so writes go to the peers that are
  // there (with fewer copies and a warning, which repair makes up later) instead of failing
  // until the directory notices. Reads still try every listed peer.
  const unreachableUntil = new Map<string, number>();
  const unreachableForMs = 30_000;
  const placeable = async (): Promise<PeerAddress[]> => {
    const now = Date.now();
    return (await liveAddresses('peers')).filter(
      (peer) => (unreachableUntil.get(toBase64url(peer.key)) ?? 0) <= now,
    );
  };
  // Each bad block is reported to the directory once per user (a strike; enough of them from
  // enough users quarantine the peer: src/directory/routes/reports.ts). In the background: a
  // read that already failed over must not wait for the directory.
  const reported = new Set<string>();
  const reportBadPeer = (
    session: DirectorySession,
    file: FileId,
    peer: PeerAddress,
    reason: BadPeerReason,
    block: BlockId,
  ): void => {
    const once = `${session.user} ${toBase64url(peer.key)} ${block}`;
    if (reported.has(once)) return;
    if (reported.size > 10_000) reported.clear();
    reported.add(once);
    directory.reportPeer(session, { peer: peer.key, reason, block, file }).then(
      (answer) => {
        if (answer.quarantined) {
          // The live list no longer has it: stop using the cached one.
          liveCache = undefined;
        }
      },
      (error: unknown) => {
        reported.delete(once);
        logEvent({
          event: 'peer.report.failed',
          key: fingerprint(peer.key),
          kind: error instanceof FsError ? error.kind : 'internal',
        });
      },
    );
  };
  const replicatorFor = (session: DirectorySession) => (file: FileId) =>
    createReplicator({
      client: blockClient,
      capability: (peer, ids, ops) =>
        issueCapability(session.identity.signing, {
          issuer: session.user,
          file,
          ops,
          blocks: ids,
          audience: peer.key,
          now: Date.now(),
        }),
      replicas,
      onBadPeer: (peer, reason, id) => {
        logEvent({ event: 'peer.bad', peer: peer.address, key: fingerprint(peer.key), reason });
        reportBadPeer(session, file, peer, reason, id);
      },
      onWarning: warnOnce,
      onUnreachable: (peer) => {
        const key = toBase64url(peer.key);
        if ((unreachableUntil.get(key) ?? 0) <= Date.now()) {
          logEvent({ event: 'peer.unreachable', peer: peer.address, key: fingerprint(peer.key) });
        }
        unreachableUntil.set(key, Date.now() + unreachableForMs);
      },
    });
  const blocksFor = (session: DirectorySession): BlockTransport => {
    const forFile = replicatorFor(session);
    return {
      putBlock: async (file, id, parts) =>
        void (await forFile(file).putBlock(id, parts, await placeable())),
      getBlock: async (file, id) => forFile(file).getBlock(id, await liveAddresses('peers')),
    };
  };
  const repair = async (
    session: DirectorySession,
    repairOptions: { audit: boolean; sample?: number },
  ) => {
    // A pass starts from the directory's current list, never a cached one: it is often run
    // because the list just changed.
    liveCache = undefined;
    const summary = await repairPass({
      files: ownFileBlocks({ directory, session }),
      replicatorFor: replicatorFor(session),
      live: () => liveAddresses('peers'),
      replicas,
      audit: repairOptions.audit,
      ...(repairOptions.sample === undefined ? {} : { sample: repairOptions.sample }),
    });
    logEvent({
      event: 'repair.pass',
      user: session.user,
      ...(repairOptions.sample === undefined ? {} : { sample: repairOptions.sample }),
      ...summary,
    });
    return summary;
  };
  /** Runs `task` once for each user logged in here (any live session of theirs will do). */
  const forEachLoggedInUser = async (
    what: string,
    task: (session: DirectorySession) => Promise<unknown>,
  ): Promise<void> => {
    const byUser = new Map<string, DirectorySession>();
    for (const session of sessions.values())
      if (session.expiresAt > Date.now()) byUser.set(session.user, session);
    for (const session of byUser.values()) {
      try {
        await task(session);
      } catch (error) {
        logEvent({
          event: `${what}.failed`,
          user: session.user,
          kind: error instanceof FsError ? error.kind : 'internal',
        });
      }
    }
  };
  const garbage = async (session: DirectorySession) => {
    const summary = await collectGarbage(
      { directory, session },
      { retentionMs: directory.info.retentionMs, now: Date.now() },
    );
    logEvent({ event: 'gc.pass', user: session.user, ...summary });
    return summary;
  };
  const api = buildLocalApi({
    ...(options.eagerRekeyMaxBytes === undefined
      ? {}
      : { eagerRekeyMaxBytes: options.eagerRekeyMaxBytes }),
    token: apiToken,
    directory,
    peerKey: key.publicKey,
    store,
    blocksFor,
    repair,
    collectGarbage: garbage,
    sessions,
  });
  const cleanup = async () => {
    await blockClient.close();
    await blocks.close();
    await api.close();
    await store.close();
    await refs.close();
    await directory.close();
    seenVersions.close();
  };
  const portOf = (server: { address(): unknown }, fallback: number) => {
    const bound = server.address();
    return typeof bound === 'object' && bound !== null && 'port' in bound
      ? Number(bound.port)
      : fallback;
  };
  let apiUrl: string;
  try {
    await blocks.listen({ host: listen.host, port: listen.port });
    address = `${listen.host}:${portOf(blocks.server, listen.port)}`;
    await api.listen({ host: apiAddress.host, port: apiAddress.port });
    apiUrl = `http://${apiAddress.host}:${portOf(api.server, apiAddress.port)}`;
  } catch (err) {
    await cleanup();
    if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') {
      throw new FsError(
        'unavailable',
        'an address is already in use; pick another --listen or --api',
        { op: 'peer.start' },
      );
    }
    throw err;
  }

  const heartbeat = async () => {
    const record = signPeerRecord(key, { address, capacity, time: Date.now() });
    await directory.call('POST', routes.heartbeat, { record: toBase64url(record) });
  };
  try {
    await heartbeat();
    // Where front ends (shell, one-shot commands) find this peer's local API; the token is
    // beside it in api-token.
    writeFileAtomic(
      join(options.dataDir, 'api.json'),
      JSON.stringify({ api: apiUrl, listen: address, fingerprint: fingerprint(key.publicKey) }) +
        '\n',
    );
  } catch (err) {
    await cleanup();
    throw err;
  }
  const graceMs = options.repairGraceMs ?? 10 * 60_000;
  // Started only once this peer is registered: its first look at the live list (which is
  // cached) must include itself.
  const scheduler = startRepairScheduler({
    // Straight from the directory: the scheduler must see joins and departures as they are.
    livePeers: async () => (await directory.peers()).peers.map((p) => toBase64url(p.key)),
    // One pass per logged-in user (any of their live sessions can sign the capabilities).
    runPasses: () => forEachLoggedInUser('repair', (session) => repair(session, { audit: false })),
    graceMs,
    intervalMs: Math.min(30_000, Math.max(1_000, graceMs / 2)),
    onError: (error) =>
      logEvent({
        event: 'repair.failed',
        kind: error instanceof FsError ? error.kind : 'internal',
      }),
  });
  const audits = startAuditSchedule(options.audits ?? auditDefaults, () =>
    forEachLoggedInUser('audit', (session) =>
      repair(session, { audit: true, sample: (options.audits ?? auditDefaults).sample }),
    ),
  );
  // Also only once registered: the directory shows its release log to registered peers only.
  const sweeper = startReleaseSweeper({
    fetchPage: async (after) => {
      const answer = await directory.call<ReleasesResponse>(
        'GET',
        `${routes.releases}?after=${after}`,
        undefined,
        undefined,
        { headers: freshPeerRecordHeader() },
      );
      return releasePageOf(answer);
    },
    userKey: issuerKey,
    refs,
    store,
    statePath: join(options.dataDir, 'release-sweep.json'),
    intervalMs: options.releaseSweepMs ?? 60_000,
    log: logEvent,
  });
  // Registered now, so the other peers let it in.
  const gossip = startHeadGossip({
    ...gossipDeps,
    client: blockClient,
    peers: () => liveAddresses('peers'),
    intervalMs: Math.max(100, options.gossipMs ?? 30_000),
    fetchCheckpoint: async () => {
      const { envelope } = await directory.call<AuditCheckpointResponse>(
        'GET',
        routes.auditCheckpoint,
        undefined,
        undefined,
        { headers: freshPeerRecordHeader() },
      );
      return envelope === null ? null : fromBase64url(envelope, 'checkpoint', { maxBytes: 1024 });
    },
  });
  // Trash past retention is purged (blocks released first) hourly for users logged in here.
  const garbageTimer = setInterval(() => void forEachLoggedInUser('gc', garbage), 3_600_000);
  garbageTimer.unref();
  const timer = setInterval(() => {
    heartbeat().catch((err: unknown) =>
      logEvent({
        event: 'peer.heartbeat-failed',
        kind: err instanceof FsError ? err.kind : 'internal',
      }),
    );
  }, options.heartbeatMs ?? 15_000);
  timer.unref();

  let closed = false;
  return {
    listen: address,
    api: apiUrl,
    key: key.publicKey,
    fingerprint: fingerprint(key.publicKey),
    async close() {
      if (closed) return;
      closed = true;
      clearInterval(timer);
      gossip.stop();
      scheduler.stop();
      audits.stop();
      clearInterval(garbageTimer);
      await sweeper.stop();
      await cleanup();
    },
  };
}

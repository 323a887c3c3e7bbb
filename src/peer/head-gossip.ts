/**
 * Gossip of seen versions between peers (DESIGN.md sections 2 and 7): one device alone catches
 * a directory that rolls back what it saw (src/client/seen-check.ts), but not a directory that
 * shows two devices two different histories from the start. Peers therefore tell each other
 * which versions their users saw, and two that kept different versions under one number of
 * one entry prove a fork to each other.
 *
 * | Route                     | Body                                  | Answer                        |
 * | ------------------------- | ------------------------------------- | ----------------------------- |
 * | `POST /v1/gossip/heads`   | `{v: 1, heads: [{entry, version, hash}], keys: [{user, seq, head}]}` | `{differ: [{entry, version}], keysDiffer: [user]}` |
 * | `POST /v1/gossip/compare` | `{v: 1, envelope}`                    | `{envelope}` or `{envelope: null}` |
 * | `POST /v1/gossip/key-log` | `{v: 1, user, entries}`               | `{entries}` or `{entries: null}` |
 *
 * 1. Every `intervalMs`, a peer sends each other live peer the versions recorded since it last
 *    reached that peer (all of them after a restart). The receiver answers the ones it kept
 *    under the same number with another hash. Versions it never saw are ignored: a peer stores
 *    nothing of what others saw, so gossip cannot fill its disk or plant a "newer" version.
 * 2. For each such version, the sender shows its signed envelope; the receiver checks the
 *    signature and certificate (by the owner or a writer, against any key they ever had:
 *    `verifySignedVersion`) and answers with its own envelope, which the sender checks the same
 *    way. Each side then holds two validly signed versions under one number: proof that the
 *    directory accepted both and showed each to different readers, or that a writer signed two
 *    (only the directory's order can make that happen for honest writers). Both raise an
 *    `entry-fork` device alert for the users of theirs who saw the entry. A claim whose
 *    evidence does not verify raises nothing (a lying peer cannot make alerts).
 *
 * 3. Key logs the same way: each heads message also carries a turn of this device's key-log
 *    pins (key-pins.ts: user, event number, chain hash). The receiver answers the users whose
 *    pin it cannot square with its own (same number, other hash; or a longer log whose event at
 *    the shorter one's number differs from what the directory now shows it). For each, the
 *    sender shows its whole log (`/v1/gossip/key-log`; key logs are public); the receiver
 *    verifies it and compares it with its own, read afresh: logs that part, or one that goes on
 *    where the directory stops ours (events signed by the user's keys, so kept from us), raise
 *    a `key-log-fork` alert for this device's users, and the receiver answers its own log for
 *    the sender to judge the same way. This is what catches a directory that shows a newcomer
 *    a substituted key for a user (trust on first use, D13): the peers that saw the real log
 *    disagree. A peer that lies (a self-made log for the user) can raise this alert too; it
 *    names the peer, and the fingerprints people compare settle it.
 *
 * Who may call: only live registered peers, authenticated by mutual TLS (as the block routes).
 * What it reveals to them: entry ids, version numbers and version hashes that this peer's users
 * saw (no names, no contents, no user names), and an envelope only to a peer that showed
 * another validly signed version of that same entry (so already saw it). docs/threat-model.md
 * lists this.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { FsError } from '../interface/errors.js';
import { type FileId, parseFileId } from '../interface/ids.js';
import { parseUserName, type UserName } from '../interface/names.js';
import { constantTimeEqual } from '../crypto/bytes.js';
import { fingerprint } from '../crypto/identity.js';
import type { DirectoryClient } from '../client/directory-client.js';
import { verifySignedVersion } from '../client/entry-verify.js';
import type { SeenVersion, SeenVersions, VersionHead } from '../client/seen-versions.js';
import { fromBase64url, toBase64url } from '../wire/base64.js';
import { decodeDirEntryUnverified } from '../wire/dir-entry.js';
import { maxRequestBytes } from '../wire/directory-api.js';
import { type AuditCheckpoint, openAuditCheckpoint } from '../wire/audit-log.js';
import { chainHash, type KeyLogState, verifyKeyLog } from '../wire/key-log.js';
import { peerPublicKey } from '../wire/pinned-tls.js';
import type { BlockClient, PeerAddress } from './block-client.js';

/** Paths of the gossip routes (served beside the block routes). */
export const gossipRoutes = {
  heads: '/v1/gossip/heads',
  compare: '/v1/gossip/compare',
  keyLog: '/v1/gossip/key-log',
} as const;

/** Versions in one heads message. */
export const maxHeadsPerMessage = 500;
/** Key-log pins in one heads message (they go round in turns). */
export const maxPinsPerMessage = 200;
/** Versions compared with one peer per message answered (the rest wait for the next round). */
const maxComparesPerMessage = 16;
/** Messages sent to one peer per round. */
const messagesPerRound = 4;
/** A heads message: 500 versions of about 120 characters each, with room. */
const headsBodyBytes = 128 * 1024;
/** An envelope, base64url, as large as the directory accepts one. */
const envelopeBodyBytes = Math.ceil((maxRequestBytes * 4) / 3) + 1024;

const b64 = z.string().regex(/^[A-Za-z0-9_-]*$/);
const headsSchema = z.strictObject({
  v: z.literal(1),
  heads: z
    .array(
      z.strictObject({
        entry: z.string().max(64),
        version: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER),
        hash: b64.length(43),
      }),
    )
    .max(maxHeadsPerMessage),
  keys: z
    .array(
      z.strictObject({
        user: z.string().max(64),
        seq: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
        head: b64.length(43),
      }),
    )
    .max(maxPinsPerMessage)
    .optional(),
  checkpoint: b64.max(1024).optional(),
});
const differSchema = z.strictObject({
  differ: z
    .array(
      z.strictObject({
        entry: z.string().max(64),
        version: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER),
      }),
    )
    .max(maxHeadsPerMessage),
  keysDiffer: z.array(z.string().max(64)).max(maxPinsPerMessage).optional(),
});
const compareSchema = z.strictObject({ v: z.literal(1), envelope: b64.max(envelopeBodyBytes) });
const compareAnswerSchema = z.strictObject({ envelope: b64.max(envelopeBodyBytes).nullable() });
/** A key log as peers show it: at most this many events (a log grows by one per key change). */
const maxKeyLogEvents = 1000;
const keyLogSchema = z.strictObject({
  v: z.literal(1),
  user: z.string().max(64),
  entries: z.array(b64.max(6000)).min(1).max(maxKeyLogEvents),
});
const keyLogAnswerSchema = z.strictObject({
  entries: z.array(b64.max(6000)).min(1).max(maxKeyLogEvents).nullable(),
});

function parse<T>(schema: z.ZodType<T>, value: unknown, op: string): T {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new FsError('invalid', 'malformed gossip', { op });
  return parsed.data;
}

/** What gossip needs of the peer. */
export interface GossipDeps {
  /** This device's seen versions and alerts. */
  seen: SeenVersions;
  /** For the key logs that evidence is checked against. */
  directory: DirectoryClient;
  /** This peer's identity key. */
  self: Uint8Array;
  /** The directory's identity key (pinned), which signs its audit checkpoints. */
  directoryKey: Uint8Array;
  /** Whether a key is a live registered peer. */
  peerAllowed(key: Uint8Array): Promise<boolean>;
  /** Events for the operator; never a secret. */
  log(event: Record<string, unknown>): void;
  /**
   * Tells the directory of a fork found by gossip, on behalf of `user` when they have a live
   * session at this peer (integrity-report.ts): the entry's owner and the admins then see it
   * on every device, not only here. Never throws.
   */
  reportFork?(user: UserName, entry: FileId, evidence: string): void;
  /**
   * Tells the directory that its audit log no longer matches `checkpoints` (its own signed
   * checkpoints, one or two: what this device holds, and another head signed for the same
   * record). Never throws; rate-limited by the caller.
   */
  reportRewrite?(checkpoints: readonly Uint8Array[]): void;
}

const short = (hash: Uint8Array) => Buffer.from(hash.subarray(0, 8)).toString('hex');

/**
 * Checks another peer's version of an entry this device kept another version of under the same
 * number, and raises the fork alert when it is genuine. Returns whether it was.
 */
async function judge(
  deps: GossipDeps,
  peer: Uint8Array,
  own: SeenVersion,
  theirs: Uint8Array,
): Promise<boolean> {
  const claimed = decodeDirEntryUnverified(theirs);
  const theirHash = chainHash(theirs);
  if (
    claimed.id !== own.entry ||
    claimed.version !== own.version ||
    constantTimeEqual(theirHash, own.hash)
  ) {
    return false;
  }
  try {
    await verifySignedVersion(deps.directory, theirs);
  } catch (err) {
    deps.log({
      event: 'gossip.bad-evidence',
      peer: fingerprint(peer),
      entry: own.entry,
      kind: err instanceof FsError ? err.kind : 'internal',
    });
    return false;
  }
  const at = Date.now();
  const evidence = `version ${own.version}: this device ${short(own.hash)}, peer ${fingerprint(peer)} ${short(theirHash)}`;
  for (const user of deps.seen.usersOf(own.entry)) {
    deps.seen.raise({
      user,
      rule: 'entry-fork',
      subject: own.entry,
      severity: 'critical',
      summary: `another peer's users were shown a different version ${own.version} of entry ${own.entry}: the directory forked its history`,
      action:
        'tell your administrator: the directory (or its database) has been tampered with. Check the file with the people you share it with before you trust either version',
      evidence,
      at,
    });
    deps.reportFork?.(user, own.entry, evidence);
  }
  deps.log({
    event: 'gossip.fork',
    peer: fingerprint(peer),
    entry: own.entry,
    version: own.version,
  });
  return true;
}

/** The versions of `heads` that this device kept under the same number with another hash. */
function differing(seen: SeenVersions, heads: readonly VersionHead[]) {
  return heads.flatMap((head) => {
    const own = seen.at(head.entry, head.version);
    return own !== undefined && !constantTimeEqual(own.hash, head.hash)
      ? [{ entry: head.entry, version: head.version }]
      : [];
  });
}

/**
 * Keeps a checkpoint of the directory's audit log (from the directory, or shown by peer `from`)
 * as a witness, after checking the directory signed it, and raises `audit-log-rewritten` when
 * it signs another head for a record than one this device kept (the log was rewritten and
 * signed again) or, from the directory itself, an older newest checkpoint than one kept, or
 * none at all (the log was cut back). Witnesses are what `peervault audit verify --witness`
 * compares with. The signed checkpoints in question go to the directory too
 * (`reportRewrite`): they are its own signatures, so it can check them against its log and
 * tell its admins without taking a peer's word.
 */
function judgeCheckpoint(
  deps: GossipDeps,
  envelope: Uint8Array | null,
  from: Uint8Array | 'directory',
) {
  let checkpoint: AuditCheckpoint | undefined;
  if (envelope !== null) {
    try {
      checkpoint = openAuditCheckpoint(envelope, deps.directoryKey);
    } catch {
      if (from !== 'directory') {
        deps.log({ event: 'gossip.bad-evidence', peer: fingerprint(from), what: 'checkpoint' });
      }
      return;
    }
  }
  const source = from === 'directory' ? 'the directory now' : `peer ${fingerprint(from)}`;
  const newest = deps.seen.latestWitnessed();
  const kept =
    checkpoint === undefined || envelope === null
      ? undefined
      : deps.seen.witness({ ...checkpoint, envelope, at: Date.now() });
  let evidence: string | undefined;
  let proof: Uint8Array[] = [];
  if (kept !== undefined && checkpoint !== undefined && envelope !== null) {
    evidence = `record ${checkpoint.seq}: this device holds ${short(kept.hash)}, ${source} ${short(checkpoint.hash)}`;
    proof = [kept.envelope, envelope];
  } else if (
    from === 'directory' &&
    newest !== undefined &&
    (checkpoint === undefined || checkpoint.seq < newest.seq)
  ) {
    evidence = `newest checkpoint: this device holds record ${newest.seq}, the directory now ${checkpoint === undefined ? 'none' : checkpoint.seq}`;
    proof = [newest.envelope];
  }
  if (evidence === undefined) return;
  for (const user of deps.seen.users()) {
    deps.seen.raise({
      user,
      rule: 'audit-log-rewritten',
      subject: 'audit-log',
      severity: 'critical',
      summary:
        "the directory's audit log was rewritten or cut back after this device kept a signed checkpoint of it: its record of logins, shares and deletions can no longer be trusted",
      action:
        "tell your administrator: they can see where with `peervault audit verify --witness` and this peer's data directory. Keep this peer's seen.sqlite as evidence",
      evidence,
      at: Date.now(),
    });
  }
  deps.reportRewrite?.(proof);
  deps.log({ event: 'gossip.audit-rewritten', from: source, seq: checkpoint?.seq ?? null });
}

/** A key-log pin as gossip carries it. */
interface PinClaim {
  user: UserName;
  seq: number;
  head: Uint8Array;
}

/** Where two views of one key log part: the first event whose chain hash differs, or -1. */
function divergence(ours: readonly Uint8Array[], theirs: readonly Uint8Array[]): number {
  const common = Math.min(ours.length, theirs.length);
  for (let seq = 0; seq < common; seq += 1) {
    if (!constantTimeEqual(chainHash(ours[seq]!), chainHash(theirs[seq]!))) return seq;
  }
  return -1;
}

/**
 * The users whose key log, as `claims` says the other peer was shown it, this device cannot
 * square with its own pin: the same event number with another hash, or a longer log whose event
 * at our pin's number (or ours at theirs) differs from what the directory now shows us.
 * Claims already found consistent are remembered and not checked again.
 */
async function keyDisagreements(
  deps: GossipDeps,
  claims: readonly PinClaim[],
  consistent: Set<string>,
): Promise<UserName[]> {
  const out: UserName[] = [];
  for (const claim of claims) {
    const own = deps.directory.keyPins.get(claim.user);
    if (own === undefined) continue; // never looked at this user's keys: nothing to compare
    const key = `${claim.user}:${claim.seq}:${toBase64url(claim.head)}`;
    if (consistent.has(key)) continue;
    if (own.seq === claim.seq) {
      if (constantTimeEqual(own.head, claim.head)) consistent.add(key);
      else out.push(claim.user);
      continue;
    }
    // Different lengths: the shorter must be where the longer was. Read the log afresh (it is
    // checked against our own pin on the way).
    let envelopes: Uint8Array[] | undefined;
    try {
      ({ envelopes } = await deps.directory.keyLogWithEvents(claim.user));
    } catch {
      envelopes = deps.directory.lastVerifiedKeyLog(claim.user); // we refuse the new one
    }
    if (envelopes === undefined) continue;
    const event = envelopes[claim.seq];
    if (event !== undefined && constantTimeEqual(chainHash(event), claim.head)) {
      if (consistent.size > 10_000) consistent.clear();
      consistent.add(key);
    } else {
      out.push(claim.user);
    }
  }
  return out;
}

/**
 * Compares another peer's view of `user`'s key log with ours (read afresh). When they part,
 * raises `key-log-fork` for this device's users and returns our events (the other side's
 * evidence); undefined when one is a prefix of the other, or theirs does not verify.
 */
async function judgeKeyLog(
  deps: GossipDeps,
  peer: Uint8Array,
  user: UserName,
  theirs: Uint8Array[],
): Promise<Uint8Array[] | undefined> {
  let theirState: KeyLogState;
  try {
    theirState = verifyKeyLog(user, theirs);
  } catch (err) {
    deps.log({
      event: 'gossip.bad-evidence',
      peer: fingerprint(peer),
      user,
      kind: err instanceof FsError ? err.kind : 'internal',
    });
    return undefined;
  }
  // Our view: the log as the directory shows it now, or, when this device refuses that one
  // already (its pin), the last one it accepted.
  let envelopes: Uint8Array[] | undefined;
  try {
    ({ envelopes } = await deps.directory.keyLogWithEvents(user));
  } catch {
    envelopes = deps.directory.lastVerifiedKeyLog(user);
  }
  if (envelopes === undefined) return undefined;
  const ours = { state: verifyKeyLog(user, envelopes), envelopes };
  const seq = divergence(ours.envelopes, theirs);
  // Theirs goes on where ours stops: its later events are signed by the keys ours ends with,
  // so only the user could have made them, and the directory is keeping them from us (a key
  // change or a revocation hidden from this device).
  const withheld = seq < 0 && theirs.length > ours.envelopes.length;
  if (seq < 0 && !withheld) return undefined;
  const mine = fingerprint(ours.state.identity.signingKey);
  const other = fingerprint(theirState.identity.signingKey);
  const them = fingerprint(peer);
  const compare = `ask ${user} to read you their key fingerprint (peervault whoami) and compare it with ${mine} (shown to this device) and ${other} (shown to peer ${them}); share nothing more with ${user} until it matches, and tell your administrator`;
  const alert = withheld
    ? {
        summary: `the directory keeps the newest events of ${user}'s key log from this device (peer ${them} was shown ${theirs.length}, this device ${ours.envelopes.length}): it may be hiding a key change or a revocation`,
        evidence: `events: this device ${ours.envelopes.length} (key ${mine}), peer ${them} ${theirs.length} (key ${other})`,
      }
    : {
        summary: `another peer was shown a different key log for ${user} than this device: the directory may be substituting ${user}'s keys (so that what is shared with them is wrapped to a key it holds), or that peer lies`,
        evidence: `event ${seq}: this device ${short(chainHash(ours.envelopes[seq]!))} (key ${mine}), peer ${them} ${short(chainHash(theirs[seq]!))} (key ${other})`,
      };
  const at = Date.now();
  for (const audience of deps.seen.users()) {
    deps.seen.raise({
      user: audience,
      rule: 'key-log-fork',
      subject: `key-log:${user}`,
      severity: 'critical',
      ...alert,
      action: compare,
      at,
    });
  }
  deps.log({ event: 'gossip.key-log-fork', peer: them, user, seq, withheld });
  return ours.envelopes;
}

/**
 * Registers the gossip routes on the peer's block server (mutual TLS), in their own scope with
 * their own body limits. Only live registered peers other than this one get through.
 */
export function registerGossipRoutes(app: FastifyInstance, deps: GossipDeps): void {
  void app.register((scope, _options, done) => {
    const callers = new WeakMap<FastifyRequest, Uint8Array>();
    /** Pin claims found consistent with ours (`user:seq:head`), not checked again. */
    const consistentClaims = new Set<string>();
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser(
      'application/json',
      { parseAs: 'buffer', bodyLimit: envelopeBodyBytes + 1024 },
      (_request, body, parsed) => {
        try {
          parsed(null, JSON.parse((body as Buffer).toString('utf8')) as unknown);
        } catch {
          parsed(new FsError('invalid', 'the request body is not valid JSON', { op: 'gossip' }));
        }
      },
    );
    // Security-sensitive: who is calling, before any body is read.
    scope.addHook('onRequest', async (request) => {
      const key = peerPublicKey(request.raw.socket);
      if (
        key === undefined ||
        constantTimeEqual(key, deps.self) ||
        !(await deps.peerAllowed(key))
      ) {
        throw new FsError('permission', 'gossip is for live registered peers', { op: 'gossip' });
      }
      callers.set(request, key);
    });

    scope.post(gossipRoutes.heads, { bodyLimit: headsBodyBytes }, async (request) => {
      const op = 'gossip.heads';
      const { heads, keys, checkpoint } = parse(headsSchema, request.body, op);
      if (checkpoint !== undefined) {
        judgeCheckpoint(deps, fromBase64url(checkpoint, 'checkpoint'), callers.get(request)!);
      }
      const parsed: VersionHead[] = heads.map((head) => ({
        entry: parseFileId(head.entry),
        version: head.version,
        hash: fromBase64url(head.hash, 'hash', { length: 32 }),
      }));
      const claims: PinClaim[] = (keys ?? []).map((pin) => ({
        user: parseUserName(pin.user),
        seq: pin.seq,
        head: fromBase64url(pin.head, 'head', { length: 32 }),
      }));
      return {
        differ: differing(deps.seen, parsed),
        keysDiffer: await keyDisagreements(deps, claims, consistentClaims),
      };
    });

    scope.post(gossipRoutes.keyLog, async (request) => {
      const op = 'gossip.key-log';
      const body = parse(keyLogSchema, request.body, op);
      const user = parseUserName(body.user);
      const theirs = body.entries.map((e) => fromBase64url(e, 'key log entry', { maxBytes: 4096 }));
      const ours = await judgeKeyLog(deps, callers.get(request)!, user, theirs);
      return { entries: ours === undefined ? null : ours.map(toBase64url) };
    });

    scope.post(gossipRoutes.compare, async (request) => {
      const op = 'gossip.compare';
      const { envelope } = parse(compareSchema, request.body, op);
      const theirs = fromBase64url(envelope, 'envelope');
      const claimed = decodeDirEntryUnverified(theirs);
      const own = deps.seen.at(claimed.id, claimed.version);
      if (own === undefined) return { envelope: null };
      const proven = await judge(deps, callers.get(request)!, own, theirs);
      return { envelope: proven ? toBase64url(own.envelope) : null };
    });
    done();
  });
}

/** The running gossip of one peer. */
export interface HeadGossip {
  /** One round now (the timer runs them every `intervalMs`). */
  round(): Promise<void>;
  stop(): void;
}

/** Starts gossiping with the live peers every `intervalMs` (module comment). */
export function startHeadGossip(
  deps: GossipDeps & {
    client: BlockClient;
    peers(): Promise<PeerAddress[]>;
    intervalMs: number;
    /** The directory's newest signed audit checkpoint (null before the first). */
    fetchCheckpoint?(): Promise<Uint8Array | null>;
  },
): HeadGossip {
  /** Per peer (base64url key): the last version sent to it. In memory: a restart resends all. */
  const cursors = new Map<string, number>();
  /** Per peer: where in the (name-ordered) pins the next message goes on. */
  const pinTurns = new Map<string, number>();
  let running: Promise<void> | undefined;

  const withPeer = async (peer: PeerAddress): Promise<void> => {
    const name = toBase64url(peer.key);
    let cursor = cursors.get(name) ?? 0;
    // Key-log pins go in turns, a slice per round: few change, and all are compared in time.
    const pins = deps.directory.keyPins.all();
    const turn = pins.length === 0 ? 0 : (pinTurns.get(name) ?? 0) % pins.length;
    let slice = pins.slice(turn, turn + maxPinsPerMessage);
    pinTurns.set(name, turn + slice.length);
    for (let message = 0; message < messagesPerRound; message += 1) {
      const page = deps.seen.since(cursor, maxHeadsPerMessage);
      if (page.heads.length === 0 && slice.length === 0 && message > 0) return;
      const sentPins = slice;
      slice = [];
      // The newest checkpoint this device keeps, with the first message of a round.
      const sentCheckpoint = message === 0 ? deps.seen.latestWitnessed() : undefined;
      const sent = new Set(page.heads.map((h) => `${h.entry}:${h.version}`));
      const answer = parse(
        differSchema,
        await deps.client.exchange(
          peer,
          gossipRoutes.heads,
          {
            v: 1,
            heads: page.heads.map((h) => ({
              entry: h.entry,
              version: h.version,
              hash: toBase64url(h.hash),
            })),
            ...(sentCheckpoint === undefined
              ? {}
              : { checkpoint: toBase64url(sentCheckpoint.envelope) }),
            keys: sentPins.map(([user, pin]) => ({
              user,
              seq: pin.seq,
              head: toBase64url(pin.head),
            })),
          },
          64 * 1024,
        ),
        'gossip.heads',
      );
      const differ = answer.differ.filter((d) => sent.has(`${d.entry}:${d.version}`));
      for (const { entry, version } of differ.slice(0, maxComparesPerMessage)) {
        const own = deps.seen.at(parseFileId(entry), version);
        if (own === undefined) continue;
        const reply = parse(
          compareAnswerSchema,
          await deps.client.exchange(
            peer,
            gossipRoutes.compare,
            { v: 1, envelope: toBase64url(own.envelope) },
            envelopeBodyBytes + 1024,
          ),
          'gossip.compare',
        );
        if (reply.envelope !== null) {
          await judge(deps, peer.key, own, fromBase64url(reply.envelope, 'envelope'));
        }
      }
      const asked = new Set<string>(sentPins.map(([user]) => user));
      for (const word of (answer.keysDiffer ?? []).filter((u) => asked.has(u))) {
        await showKeyLog(peer, parseUserName(word));
      }
      cursor = page.cursor;
      cursors.set(name, cursor);
    }
  };

  /** Shows `peer` our view of `user`'s key log and judges its answer (module comment). */
  const showKeyLog = async (peer: PeerAddress, user: UserName): Promise<void> => {
    const { envelopes } = await deps.directory.keyLogWithEvents(user);
    const reply = parse(
      keyLogAnswerSchema,
      await deps.client.exchange(
        peer,
        gossipRoutes.keyLog,
        { v: 1, user, entries: envelopes.map(toBase64url) },
        maxKeyLogEvents * 6000,
      ),
      'gossip.key-log',
    );
    if (reply.entries !== null) {
      await judgeKeyLog(
        deps,
        peer.key,
        user,
        reply.entries.map((e) => fromBase64url(e, 'key log entry', { maxBytes: 4096 })),
      );
    }
  };

  const roundOnce = async (): Promise<void> => {
    if (deps.fetchCheckpoint !== undefined) {
      try {
        judgeCheckpoint(deps, await deps.fetchCheckpoint(), 'directory');
      } catch (err) {
        deps.log({
          event: 'gossip.checkpoint-failed',
          kind: err instanceof FsError ? err.kind : 'internal',
        });
      }
    }
    const peers = (await deps.peers()).filter((peer) => !constantTimeEqual(peer.key, deps.self));
    for (const peer of peers) {
      try {
        await withPeer(peer);
      } catch (err) {
        deps.log({
          event: 'gossip.failed',
          peer: fingerprint(peer.key),
          kind: err instanceof FsError ? err.kind : 'internal',
        });
      }
    }
  };
  const round = (): Promise<void> => {
    running ??= roundOnce().finally(() => {
      running = undefined;
    });
    return running;
  };
  const timer = setInterval(() => void round().catch(() => undefined), deps.intervalMs);
  timer.unref();
  return {
    round,
    stop: () => clearInterval(timer),
  };
}

/**
 * Gossip of seen versions between peers (DESIGN.md sections 2 and 7): one device alone catches
 * a directory that rolls back what it saw (src/client/seen-check.ts), but not a directory that
 * shows two devices two different histories from the start. Peers therefore tell each other
 * which versions their users saw, and two that kept different versions under one number of
 * one entry prove a fork to each other.
 *
 * | Route                     | Body                                  | Answer                        |
 * | ------------------------- | ------------------------------------- | ----------------------------- |
 * | `POST /v1/gossip/heads`   | `{v: 1, heads: [{entry, version, hash}]}` (≤ 500) | `{differ: [{entry, version}]}` |
 * | `POST /v1/gossip/compare` | `{v: 1, envelope}`                    | `{envelope}` or `{envelope: null}` |
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
 * Who may call: only live registered peers, authenticated by mutual TLS (as the block routes).
 * What it reveals to them: entry ids, version numbers and version hashes that this peer's users
 * saw (no names, no contents, no user names), and an envelope only to a peer that showed
 * another validly signed version of that same entry (so already saw it). docs/threat-model.md
 * lists this.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { FsError } from '../interface/errors.js';
import { parseFileId } from '../interface/ids.js';
import { constantTimeEqual } from '../crypto/bytes.js';
import { fingerprint } from '../crypto/identity.js';
import type { DirectoryClient } from '../client/directory-client.js';
import { verifySignedVersion } from '../client/entry-verify.js';
import type { SeenVersion, SeenVersions, VersionHead } from '../client/seen-versions.js';
import { fromBase64url, toBase64url } from '../wire/base64.js';
import { decodeDirEntryUnverified } from '../wire/dir-entry.js';
import { maxRequestBytes } from '../wire/directory-api.js';
import { chainHash } from '../wire/key-log.js';
import { peerPublicKey } from '../wire/pinned-tls.js';
import type { BlockClient, PeerAddress } from './block-client.js';

/** Paths of the gossip routes (served beside the block routes). */
export const gossipRoutes = { heads: '/v1/gossip/heads', compare: '/v1/gossip/compare' } as const;

/** Versions in one heads message. */
export const maxHeadsPerMessage = 500;
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
});
const compareSchema = z.strictObject({ v: z.literal(1), envelope: b64.max(envelopeBodyBytes) });
const compareAnswerSchema = z.strictObject({ envelope: b64.max(envelopeBodyBytes).nullable() });

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
  /** Whether a key is a live registered peer. */
  peerAllowed(key: Uint8Array): Promise<boolean>;
  /** Events for the operator; never a secret. */
  log(event: Record<string, unknown>): void;
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
  for (const user of deps.seen.usersOf(own.entry)) {
    deps.seen.raise({
      user,
      rule: 'entry-fork',
      entry: own.entry,
      severity: 'critical',
      summary: `another peer's users were shown a different version ${own.version} of entry ${own.entry}: the directory forked its history`,
      action:
        'tell your administrator: the directory (or its database) has been tampered with. Check the file with the people you share it with before you trust either version',
      evidence: `version ${own.version}: this device ${short(own.hash)}, peer ${fingerprint(peer)} ${short(theirHash)}`,
      at,
    });
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
 * Registers the gossip routes on the peer's block server (mutual TLS), in their own scope with
 * their own body limits. Only live registered peers other than this one get through.
 */
export function registerGossipRoutes(app: FastifyInstance, deps: GossipDeps): void {
  void app.register((scope, _options, done) => {
    const callers = new WeakMap<FastifyRequest, Uint8Array>();
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

    scope.post(gossipRoutes.heads, { bodyLimit: headsBodyBytes }, (request, reply) => {
      const op = 'gossip.heads';
      const { heads } = parse(headsSchema, request.body, op);
      const parsed: VersionHead[] = heads.map((head) => ({
        entry: parseFileId(head.entry),
        version: head.version,
        hash: fromBase64url(head.hash, 'hash', { length: 32 }),
      }));
      return reply.send({ differ: differing(deps.seen, parsed) });
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
  },
): HeadGossip {
  /** Per peer (base64url key): the last version sent to it. In memory: a restart resends all. */
  const cursors = new Map<string, number>();
  let running: Promise<void> | undefined;

  const withPeer = async (peer: PeerAddress): Promise<void> => {
    const name = toBase64url(peer.key);
    let cursor = cursors.get(name) ?? 0;
    for (let message = 0; message < messagesPerRound; message += 1) {
      const page = deps.seen.since(cursor, maxHeadsPerMessage);
      if (page.heads.length === 0) return;
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
      cursor = page.cursor;
      cursors.set(name, cursor);
    }
  };

  const roundOnce = async (): Promise<void> => {
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

/**
 * Rollback and fork detection on this device (DESIGN.md sections 2 and 7): every current
 * version the directory hands out is compared with the versions this device saw before
 * (seen-versions.ts), after its signature and certificate were verified (entry-verify.ts).
 *
 * - **Older** than the newest seen: the directory rolled the entry back (say, to before a
 *   revocation or an unshare). Asked once more first: an answer that was in flight while this
 *   device wrote or read a newer version is stale, not malicious, and the newer one is used.
 * - **Same number, other hash**: the directory showed two histories (a fork).
 * - **Newer**: it must descend from the newest seen. The versions in between are fetched and
 *   their hashes followed back through `prev` (each is bound by the signed one after it); a
 *   jump of more than {@link maxWalk} versions checks only the seen version itself.
 *
 * A rollback or fork raises a device alert (kept at this peer, where the directory cannot
 * delete it), tells the directory's monitor (for the operator whose database was edited) and is
 * an `integrity` error: nothing is read from that entry. Historic versions (old versions, the
 * trash) are not checked here: they are old by definition.
 */
import { FsError } from '../interface/errors.js';
import type { FileId } from '../interface/ids.js';
import { constantTimeEqual } from '../crypto/bytes.js';
import { fromBase64url } from '../wire/base64.js';
import { decodeDirEntryUnverified } from '../wire/dir-entry.js';
import { type EntryVersionResponse, routes } from '../wire/directory-api.js';
import { chainHash } from '../wire/key-log.js';
import type { AgentContext, VerifiedEntry } from './entry-verify.js';
import { reportEntryIntegrity } from './integrity-report.js';
import type { SeenVersion } from './seen-versions.js';

/** Most versions fetched to follow a newer version back to the one seen. */
export const maxWalk = 32;

/** Version `version` of entry `id`, as the directory keeps it (unverified). */
export async function fetchEntryVersion(
  ctx: AgentContext,
  id: FileId,
  version: number,
): Promise<Uint8Array> {
  const answer = await ctx.directory.call<EntryVersionResponse>(
    'GET',
    routes.entryVersion.replace(':id', id).replace(':version', String(version)),
    undefined,
    ctx.session,
  );
  return fromBase64url(answer.envelope, 'envelope');
}

const short = (hash: Uint8Array) => Buffer.from(hash.subarray(0, 8)).toString('hex');
const when = (at: number) => new Date(at).toISOString();

const reportKinds = {
  'entry-rollback': 'rollback',
  'entry-fork': 'fork',
  'entry-forged': 'forged',
} as const;

const summaries = {
  'entry-rollback': (entry: FileId) =>
    `the directory rolled back entry ${entry} below a version this device saw`,
  'entry-fork': (entry: FileId) =>
    `the directory showed this device a history of entry ${entry} that differs from what it showed before`,
  'entry-forged': (entry: FileId) =>
    `the directory handed out a version of entry ${entry} that its owner's rules do not allow (forged, or wrongly signed)`,
} as const;

/** Records the alert, tells the directory, and returns the error to throw. */
function caught(
  ctx: AgentContext,
  entry: FileId,
  rule: 'entry-rollback' | 'entry-fork' | 'entry-forged',
  message: string,
  evidence: string,
): FsError {
  const summary = summaries[rule](entry);
  ctx.directory.seen.raise({
    user: ctx.session.user,
    rule,
    subject: entry,
    severity: 'critical',
    summary,
    action:
      "nothing was read from it. Tell your administrator: the directory (or its database) has been tampered with. Keep this peer's seen.sqlite as evidence",
    evidence,
    at: Date.now(),
  });
  void reportEntryIntegrity(ctx, entry, reportKinds[rule], evidence);
  return new FsError('integrity', message, { op: 'entry.verify' });
}

/** Integrity errors already turned into an alert (a folder's, seen again by its child). */
const noted = new WeakSet<object>();

/**
 * Turns an `integrity` failure of verifying a version of `envelope`'s entry into a device
 * alert and a report to the directory (a forged or wrongly signed version), once per error.
 * Anything that is not such a failure, or names no entry, is left alone.
 */
export function noteForged(ctx: AgentContext, envelope: string, error: unknown): void {
  if (!(error instanceof FsError) || error.kind !== 'integrity' || noted.has(error)) return;
  noted.add(error);
  let entry: FileId;
  try {
    entry = decodeDirEntryUnverified(fromBase64url(envelope, 'envelope')).id;
  } catch {
    return; // not even an entry: nothing to name
  }
  caught(ctx, entry, 'entry-forged', error.message, error.message.slice(0, 200));
}

/**
 * Checks `verified` (a current version, signature and certificate already verified) against
 * the versions this device saw, records it, and returns the version to use: `verified`, or a
 * newer one `reread` fetched when the answer was merely stale.
 * @throws FsError `integrity` for a rollback or a fork (module comment).
 */
export async function checkSeen(
  ctx: AgentContext,
  verified: VerifiedEntry,
  reread: () => Promise<VerifiedEntry>,
): Promise<VerifiedEntry> {
  const seen = ctx.directory.seen;
  const { body, envelope } = verified;
  const id = body.id;
  const hash = chainHash(envelope);
  const now = Date.now();
  const row = (version: number, env: Uint8Array, h: Uint8Array): SeenVersion => ({
    entry: id,
    version,
    hash: h,
    envelope: env,
    user: ctx.session.user,
    at: now,
  });
  const known = seen.latest(id);
  if (known === undefined) {
    seen.record([row(body.version, envelope, hash)]);
    return verified;
  }
  const forked = (version: number, theirs: Uint8Array, ours: Uint8Array) =>
    caught(
      ctx,
      id,
      'entry-fork',
      `the directory's version ${version} of this entry differs from the version ${version} ` +
        'this device saw: it is showing different histories to different readers (a fork). ' +
        'Nothing was read from it; see `peervault alerts` and tell your administrator.',
      `version ${version}: directory ${short(theirs)}, seen ${short(ours)}`,
    );

  if (body.version === known.version) {
    if (constantTimeEqual(hash, known.hash)) return verified;
    throw forked(body.version, hash, known.hash);
  }

  if (body.version < known.version) {
    const kept = seen.at(id, body.version);
    if (kept !== undefined && !constantTimeEqual(kept.hash, hash)) {
      throw forked(body.version, hash, kept.hash);
    }
    // A stale answer (sent before a newer version was written or read here) or a rollback:
    // the directory's answer now tells them apart.
    const fresh = await reread();
    if (fresh.body.version >= known.version)
      return checkSeen(ctx, fresh, () => Promise.resolve(fresh));
    throw caught(
      ctx,
      id,
      'entry-rollback',
      `the directory now shows version ${fresh.body.version} of this entry, but this device ` +
        `saw version ${known.version} (${when(known.at)}): the directory may have rolled it ` +
        'back. Nothing was read from it; see `peervault alerts` and tell your administrator.',
      `directory ${fresh.body.version}, seen ${known.version} by ${known.user} at ${when(known.at)}`,
    );
  }

  // Newer: follow `prev` back to the version seen.
  const chain: SeenVersion[] = [row(body.version, envelope, hash)];
  if (body.version - known.version > maxWalk) {
    const then = chainHash(await fetchEntryVersion(ctx, id, known.version));
    if (!constantTimeEqual(then, known.hash)) throw forked(known.version, then, known.hash);
  } else {
    let next = body;
    for (let version = body.version - 1; version > known.version; version -= 1) {
      const older = await fetchEntryVersion(ctx, id, version);
      const olderHash = chainHash(older);
      const olderBody = decodeDirEntryUnverified(older);
      if (
        !constantTimeEqual(olderHash, next.prev) ||
        olderBody.id !== id ||
        olderBody.version !== version
      ) {
        throw new FsError('integrity', 'the directory returned a version that does not chain', {
          op: 'entry.verify',
        });
      }
      chain.push(row(version, older, olderHash));
      next = olderBody;
    }
    if (!constantTimeEqual(next.prev, known.hash)) {
      throw forked(known.version, next.prev, known.hash);
    }
  }
  seen.record(chain);
  return verified;
}

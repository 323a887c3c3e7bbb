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
// WIP-INTEGRATE import { reportEntryIntegrity } from './integrity-report.js';
import type { DeviceAlertRule, SeenVersion } from './seen-versions.js';

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

/** Records the alert, tells the directory, and returns the error to throw. */
function caught(
  ctx: AgentContext,
  entry: FileId,
  rule: DeviceAlertRule,
  message: string,
  evidence: string,
): FsError {
  const summary =
    rule === 'entry-rollback'
      ? `the directory rolled back entry ${entry} below a version this device saw`
      : `the directory showed this device a history of entry ${entry} that differs from what it showed before`;
  ctx.directory.seen.raise({
    user: ctx.session.user,
    rule,
    entry,
    severity: 'critical',
    summary,
    action:
      "nothing was read from it. Tell your administrator: the directory (or its database) has been tampered with. Keep this peer's seen.sqlite as evidence",
    evidence,
    at: Date.now(),
  });
  // WIP-INTEGRATE void reportEntryIntegrity(ctx, entry, rule === 'entry-rollback' ? 'rollback' : 'fork', evidence);
  return new FsError('integrity', message, { op: 'entry.verify' });
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

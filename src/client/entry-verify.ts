/**
 * Verifying what the directory answers about an entry. The directory is not trusted: every
 * entry version it hands out must prove itself here before it is used.
 *
 * A version is accepted when (wire/entry-acl.ts):
 * - its signature is by the current key (from a verified key log) of its owner or of a writer;
 * - it carries an ACL certificate signed by its owner that matches its `acl` field, and the
 *   signer is the owner or a writer that certificate names;
 * - a certificate issued for another entry is its parent's current one, byte for byte (what a
 *   writer creating a file in a shared folder carries); for an old or trashed version, one the
 *   owner issued for its folder is enough (the folder's list may have changed since);
 * - a version signed by a non-owner follows a version whose certificate is the same and names
 *   its signer as a writer (so a writer cannot widen access, and a writer the owner removed
 *   cannot write again), and names that version's hash; and it does not bring back a deleted
 *   entry (only the owner restores);
 * - it is the entry that was asked for (id, parent, owner).
 * Anything else is an `integrity` error.
 */
import { FsError } from '../interface/errors.js';
import type { FileId } from '../interface/ids.js';
import type { UserName } from '../interface/names.js';
import { constantTimeEqual } from '../crypto/bytes.js';
import { fromBase64url } from '../wire/base64.js';
import { decodeDirEntryUnverified, type DirEntryBody, openDirEntry } from '../wire/dir-entry.js';
import { type EntryResponse, routes } from '../wire/directory-api.js';
import { checkEntryAuthority, checkWriterFollows, isInheritedAcl } from '../wire/entry-acl.js';
import { chainHash } from '../wire/key-log.js';
import { checkSeen, fetchEntryVersion, noteForged } from './seen-check.js';
import type { DirectoryClient, DirectorySession } from './directory-client.js';

/** What a verb needs: the directory and the logged-in user. */
export interface AgentContext {
  directory: DirectoryClient;
  session: DirectorySession;
}

/** A verified entry version, with who signed it. */
export interface VerifiedEntry {
  body: DirEntryBody;
  envelope: Uint8Array;
  writer: UserName;
}

/** What the caller asked for; `parentBody` is the verified parent when the caller has it. */
export interface EntryExpectation {
  parent: FileId | null;
  owner: UserName;
  id?: FileId;
  parentBody?: DirEntryBody;
  /**
   * An old or trashed version: its folder's access list may have changed since it was written,
   * so an inherited certificate issued for the folder itself is accepted as it is (its owner
   * signed it for that folder); any other inherited one must still be the folder's current.
   */
  historic?: boolean;
}

/**
 * Versions already found to follow their predecessor, per directory client: a writer's version
 * is checked against the one before it once, not on every read. Keyed by the version's hash.
 */
const followsChecked = new WeakMap<DirectoryClient, Set<string>>();

function checkedSet(directory: DirectoryClient): Set<string> {
  let set = followsChecked.get(directory);
  if (!set) {
    set = new Set();
    followsChecked.set(directory, set);
  }
  if (set.size > 50_000) set.clear();
  return set;
}

/**
 * Checks a version's signature and certificate on their own; returns its signer. A `historic`
 * version (an old or trashed one) may be signed, and its certificate signed, by an identity
 * its user has since replaced (rotated or revoked): it was written before. A current version
 * must be signed by current keys.
 */
async function verifyAlone(
  ctx: Pick<AgentContext, 'directory'>,
  envelope: Uint8Array,
  historic = false,
): Promise<VerifiedEntry & { ownerKey: Uint8Array }> {
  // The claimed body only says whose keys to try; the envelope must then verify with one.
  const claimed = decodeDirEntryUnverified(envelope);
  const users = [claimed.owner, ...claimed.acl.w];
  const logs = await Promise.all(users.map((user) => ctx.directory.keyLog(user)));
  const candidates = logs.flatMap((log, i) => [
    { user: users[i]!, key: log.identity.signingKey },
    ...(historic
      ? (log.replaced ?? []).map((old) => ({ user: users[i]!, key: old.identity.signingKey }))
      : []),
  ]);
  const { body, signer } = openDirEntry(
    envelope,
    candidates.map((c) => c.key),
  );
  const writer = candidates.find((c) => constantTimeEqual(c.key, signer))!.user;
  const ownerKeys = candidates.filter((c) => c.user === claimed.owner).map((c) => c.key);
  let lastError: unknown;
  for (const ownerKey of ownerKeys) {
    try {
      checkEntryAuthority(body, writer, ownerKey);
      return { body, envelope, writer, ownerKey };
    } catch (err) {
      lastError = err;
    }
  }
  throw lastError;
}

/**
 * Checks a version's signature and certificate on their own, against any key its signers ever
 * had: for a version another peer shows as evidence (src/peer/head-gossip.ts), which may be
 * old. Says nothing about where it belongs. @throws FsError `integrity`
 */
export async function verifySignedVersion(
  directory: DirectoryClient,
  envelope: Uint8Array,
): Promise<{ body: DirEntryBody; writer: UserName }> {
  const { body, writer } = await verifyAlone({ directory }, envelope, true);
  return { body, writer };
}

/** A non-owner's version must follow a version that let them write, with the same ACL. */
async function checkFollows(ctx: AgentContext, entry: VerifiedEntry) {
  const { body, writer } = entry;
  if (writer === body.owner || body.version === 1) return;
  const seen = checkedSet(ctx.directory);
  const key = `${body.id}:${Buffer.from(chainHash(entry.envelope)).toString('base64url')}`;
  if (seen.has(key)) return;
  const beforeEnvelope = await fetchEntryVersion(ctx, body.id, body.version - 1);
  if (!constantTimeEqual(chainHash(beforeEnvelope), body.prev)) {
    throw new FsError('integrity', 'the directory returned a version that does not chain', {
      op: 'entry.verify',
    });
  }
  // The version before may predate a key change of its signer: it is history.
  const before = await verifyAlone(ctx, beforeEnvelope, true);
  if (before.body.id !== body.id || before.body.version !== body.version - 1) {
    throw new FsError('integrity', 'the directory returned another version', {
      op: 'entry.verify',
    });
  }
  checkWriterFollows(body, writer, before.body, before.ownerKey);
  // Restoring is the owner's alone: a writer's version may delete, never bring back.
  if (before.body.deleted !== null && body.deleted === null) {
    throw new FsError('integrity', `${writer} restored this entry, but only its owner may`, {
      op: 'entry.verify',
    });
  }
  seen.add(key);
}

async function parentOf(
  ctx: AgentContext,
  body: DirEntryBody,
  given: DirEntryBody | undefined,
): Promise<DirEntryBody> {
  if (given) return given;
  if (body.parent === null) {
    throw new FsError('integrity', 'a root cannot inherit its access list', { op: 'entry.verify' });
  }
  let answer: EntryResponse;
  try {
    answer = await ctx.directory.call<EntryResponse>(
      'GET',
      routes.entry.replace(':id', body.parent),
      undefined,
      ctx.session,
    );
  } catch (err) {
    if (err instanceof FsError && err.kind === 'not-exist') {
      throw new FsError(
        'integrity',
        'this entry inherits the access list of a folder that cannot be checked',
        { op: 'entry.verify' },
      );
    }
    throw err;
  }
  const claimed = decodeDirEntryUnverified(fromBase64url(answer.envelope, 'envelope'));
  const parent = await verifyEntry(ctx, answer, {
    parent: claimed.parent,
    owner: body.owner,
    id: body.parent,
  });
  return parent.body;
}

/**
 * Verifies an entry answer: a version allowed by its owner's ACL certificate, and the entry
 * that was asked for. Fetches the version before it (once) for a version a non-owner signed,
 * and the parent when the version inherits its ACL and `expect.parentBody` is not given.
 * @throws FsError `integrity`
 */
export async function verifyEntry(
  ctx: AgentContext,
  answer: EntryResponse,
  expect: EntryExpectation,
): Promise<VerifiedEntry> {
  let verified: VerifiedEntry;
  try {
    verified = await verifyAnswer(ctx, answer, expect);
  } catch (err) {
    // A version the owner's rules do not allow: the user and the directory's monitor are told.
    noteForged(ctx, answer.envelope, err);
    throw err;
  }
  if (expect.historic === true) return verified;
  // Not older than, nor a fork of, what this device saw before (seen-check.ts).
  return checkSeen(ctx, verified, async () => {
    const fresh = await ctx.directory.call<EntryResponse>(
      'GET',
      routes.entry.replace(':id', verified.body.id),
      undefined,
      ctx.session,
    );
    return verifyAnswer(ctx, fresh, { ...expect, id: verified.body.id });
  });
}

/** {@link verifyEntry} without the comparison with what this device saw. */
async function verifyAnswer(
  ctx: AgentContext,
  answer: EntryResponse,
  expect: EntryExpectation,
): Promise<VerifiedEntry> {
  const op = 'entry.verify';
  const envelope = fromBase64url(answer.envelope, 'envelope');
  const verified = await verifyAlone(ctx, envelope, expect.historic === true);
  const { body } = verified;
  if (
    body.parent !== expect.parent ||
    body.owner !== expect.owner ||
    (expect.id !== undefined && body.id !== expect.id)
  ) {
    throw new FsError('integrity', 'the directory returned an entry from somewhere else', { op });
  }
  const acl = checkEntryAuthority(body, verified.writer, verified.ownerKey);
  if (isInheritedAcl(body, acl) && !(expect.historic === true && acl.entry === body.parent)) {
    const parent = await parentOf(ctx, body, expect.parentBody);
    if (parent.id !== body.parent || !constantTimeEqual(parent.aclCert, body.aclCert)) {
      throw new FsError(
        'integrity',
        'this entry claims an access list that its folder does not have',
        { op },
      );
    }
  }
  await checkFollows(ctx, verified);
  return { body, envelope, writer: verified.writer };
}

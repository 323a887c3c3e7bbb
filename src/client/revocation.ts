/**
 * `revocate` (DESIGN.md section 6): a user who suspects their keys were stolen replaces them.
 *
 * 1. The directory client appends a `revoked` event to the user's key log (signed by the old
 *    key, proved by the new one), seals the new keys together with the replaced ones under this
 *    login's export key, and ends every other session, in one request. From then on the
 *    directory and every reader accept only the new key for anything new, and peers refuse the
 *    old key's capabilities within seconds (they re-read keys every 2 s).
 * 2. The user's groups are signed again by the new key (client/group-records.ts), then
 *    everything the user owns gets a new version signed by the new key, with a new ACL
 *    certificate and, for a file, a new file key wrapped to the owner's new key and to each
 *    grantee's current one: whatever is written afterwards cannot be read with anything the old
 *    keys open. The content already stored is not sealed again; the new version's metadata,
 *    sealed under the new file key, carries the key its chunks are sealed under.
 * 3. Entries of other users that the user may write and last signed are signed again, with the
 *    user's own wrapped key renewed. Entries the user may only read keep a key wrapped to the
 *    replaced identity until their owner writes again; the user still opens them with the
 *    replaced identity, kept (sealed) for that.
 *
 * Step 1 is atomic. Steps 2 and 3 visit entries one by one; each is a compare-and-swap on its
 * version, and an entry is done when it no longer depends on a replaced key, so an interrupted
 * run is finished by running {@link finishRevocation} again (at the next `revocate --resume` or
 * login): nothing is left unreadable to its rightful users. Between the two, other users get an
 * `integrity` error for entries not yet signed again (seconds for a few thousand entries).
 *
 * Not here: folder name keys are not replaced (the names they seal were readable with the old
 * keys before, and replacing them means sealing every child's name again).
 */
import { FsError } from '../interface/errors.js';
import type { UserName } from '../interface/names.js';
import { constantTimeEqual } from '../crypto/bytes.js';
import { claimedSigner } from '../crypto/sign.js';
import type { SecretBytes } from '../crypto/secret.js';
import { fromBase64url } from '../wire/base64.js';
import { decodeDirEntryUnverified, type DirEntryBody } from '../wire/dir-entry.js';
import { type EntryResponse, routes, type SharedEntriesResponse } from '../wire/directory-api.js';
import { decodeEntryAclUnverified, openEntryAcl, signEntryAcl } from '../wire/entry-acl.js';
import { chainHash } from '../wire/key-log.js';
import { unwrapEntryKey, wrapTo } from './entry-access.js';
import { type AgentContext, verifyEntry } from './entry-verify.js';
import { rekeyFile } from './rekey.js';
import { resignOwnGroups } from './group-records.js';
import { writeEntryVersion } from './entry-writes.js';

/** What a revocation did. */
export interface RevocationSummary {
  /** The key log event that replaced the keys. */
  seq: number;
  /** Own entries given a version under the new key (the root and folders included). */
  ownRewritten: number;
  /** Own files whose file key was replaced. */
  filesRekeyed: number;
  /** Others' entries the user may write, signed again with the user's key wrapped anew. */
  sharedRewritten: number;
  /** Others' entries the user may only read, still opened with a replaced key. */
  sharedReadOnly: number;
  /** Entries that changed under us (someone wrote first): run again to finish them. */
  skipped: number;
  /** Wall time, ms. */
  ms: number;
}

/** Progress of the second and third steps. */
export interface RevocationProgress {
  done: number;
  total: number;
}

/** The entry changed under us (someone wrote first): a later run finishes it. */
class RevocationConflict extends Error {}

interface Visited {
  body: DirEntryBody;
  envelope: Uint8Array;
  key: SecretBytes;
}

/** Whether `envelope` (already verified) was signed by one of the caller's replaced identities. */
function signedByReplaced(ctx: AgentContext, envelope: Uint8Array): boolean {
  const signer = claimedSigner(envelope, 'dir-entry');
  return (ctx.session.previous ?? []).some((old) =>
    constantTimeEqual(old.signing.publicKey, signer),
  );
}

/** The caller's own tree, every live entry, accepting versions signed by replaced keys. */
async function ownEntries(ctx: AgentContext): Promise<Visited[]> {
  const me = ctx.session.user;
  const rootAnswer = await ctx.directory.call<EntryResponse>(
    'GET',
    routes.root.replace(':user', me),
    undefined,
    ctx.session,
  );
  const root = await verifyEntry(ctx, rootAnswer, { parent: null, owner: me, historic: true });
  const visited: Visited[] = [];
  const pending: Visited[] = [
    { body: root.body, envelope: root.envelope, key: await unwrapEntryKey(ctx, root.body) },
  ];
  for (let dir = pending.pop(); dir !== undefined; dir = pending.pop()) {
    visited.push(dir);
    const { entries } = await ctx.directory.call<{ entries: EntryResponse[] }>(
      'GET',
      routes.children.replace(':id', dir.body.id),
      undefined,
      ctx.session,
    );
    for (const answer of entries) {
      const { body, envelope } = await verifyEntry(ctx, answer, {
        parent: dir.body.id,
        owner: me,
        parentBody: dir.body,
        historic: true,
      });
      const entry = { body, envelope, key: await unwrapEntryKey(ctx, body) };
      if (body.kind === 'dir') pending.push(entry);
      else visited.push(entry);
    }
  }
  return visited;
}

/** Whether an own entry still depends on a replaced key (its signature or its certificate). */
function needsOwnRewrite(ctx: AgentContext, entry: Visited): boolean {
  if (signedByReplaced(ctx, entry.envelope)) return true;
  try {
    openEntryAcl(entry.body.aclCert, ctx.session.identity.signing.publicKey);
    return false;
  } catch {
    return true;
  }
}

async function put(ctx: AgentContext, before: Visited, body: DirEntryBody): Promise<boolean> {
  try {
    await writeEntryVersion(ctx, body, before.body.version);
    return true;
  } catch (err) {
    if (err instanceof FsError && err.kind === 'conflict') return false;
    throw err;
  }
}

/** An own entry's next version under the new keys; a file also gets a new file key. */
async function rewriteOwn(ctx: AgentContext, entry: Visited): Promise<'rekeyed' | 'rewrapped'> {
  const { body } = entry;
  const version = body.version + 1;
  const acl = { r: [...body.acl.r], w: [...body.acl.w] };
  const users = [body.owner, ...acl.r, ...acl.w];
  const aclCert = signEntryAcl(ctx.session.identity.signing, {
    entry: body.id,
    owner: body.owner,
    version,
    ...acl,
    // The grants as given (groups included) are kept; the entry was verified, its certificate
    // with it, perhaps under the key being replaced.
    grants: decodeEntryAclUnverified(body.aclCert).grants,
  });
  const common = { version, prev: chainHash(entry.envelope), time: Date.now(), aclCert };
  if (body.kind === 'dir') {
    // The name key stays; only the owner's copy is wrapped to the new identity.
    const others = Object.fromEntries(
      Object.entries(body.keys).filter(([user]) => user !== body.owner),
    );
    const keys = await wrapTo(ctx, { id: body.id, kind: 'dir' }, entry.key, users, others);
    if (!(await put(ctx, entry, { ...body, ...common, keys }))) throw new RevocationConflict();
    return 'rewrapped';
  }
  // A new file key; the content stays sealed as it is, its key carried under the new one (the
  // old key opened it before anyway; sealing it again would cost the whole tree's bytes).
  const {
    key: fileKey,
    meta,
    label,
  } = await rekeyFile({ directory: ctx.directory, session: ctx.session }, entry, version);
  const keys = await wrapTo(ctx, { id: body.id, kind: 'file' }, fileKey, users);
  const done = await put(ctx, entry, { ...body, ...common, meta, label, keys });
  if (!done) throw new RevocationConflict();
  return 'rekeyed';
}

/** Others' entries shared with the caller, verified, accepting the caller's replaced keys. */
async function sharedEntries(ctx: AgentContext): Promise<Visited[]> {
  const { entries } = await ctx.directory.call<SharedEntriesResponse>(
    'GET',
    routes.shared,
    undefined,
    ctx.session,
  );
  const out: Visited[] = [];
  for (const answer of entries) {
    const claimed = decodeDirEntryUnverified(fromBase64url(answer.envelope, 'envelope'));
    const { body, envelope } = await verifyEntry(ctx, answer, {
      parent: claimed.parent,
      owner: claimed.owner,
      id: claimed.id,
      historic: true,
    });
    out.push({ body, envelope, key: await unwrapEntryKey(ctx, body) });
  }
  return out;
}

/** Whether the caller's wrapped copy of an entry's key opens with the current identity only. */
async function wrappedToCurrent(ctx: AgentContext, body: DirEntryBody): Promise<boolean> {
  const current = { ...ctx, session: { ...ctx.session, previous: [] } };
  try {
    await unwrapEntryKey(current, body);
    return true;
  } catch {
    return false;
  }
}

/** Entries rewritten at once: the directory commits each durably, so a few overlap well. */
const rewriteConcurrency = 8;

/** Runs `work` over `items`, at most {@link rewriteConcurrency} at a time; the first error stops it. */
async function inParallel<T>(items: readonly T[], work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const item = items[next++]!;
      await work(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(rewriteConcurrency, items.length) }, worker));
}

/**
 * Steps 2 and 3 (module comment): brings every entry the caller owns, and every shared entry
 * the caller may write, under the current keys. Safe to run again at any time; does nothing
 * for what is already done.
 */
export async function finishRevocation(
  ctx: AgentContext,
  options: { onProgress?: (progress: RevocationProgress) => void } = {},
): Promise<Omit<RevocationSummary, 'seq' | 'ms'>> {
  const summary = {
    ownRewritten: 0,
    filesRekeyed: 0,
    sharedRewritten: 0,
    sharedReadOnly: 0,
    skipped: 0,
  };
  const me: UserName = ctx.session.user;
  // The caller's groups first: re-applying a group later needs it to verify under the new key.
  await resignOwnGroups(ctx);
  const own = (await ownEntries(ctx)).filter((entry) => needsOwnRewrite(ctx, entry));
  const shared = await sharedEntries(ctx);
  const writable = [];
  for (const entry of shared) {
    if (await wrappedToCurrent(ctx, entry.body)) continue;
    if (entry.body.acl.w.includes(me)) writable.push(entry);
    else summary.sharedReadOnly += 1;
  }
  const total = own.length + writable.length;
  let done = 0;
  const step = () => options.onProgress?.({ done: ++done, total });
  await inParallel(own, async (entry) => {
    try {
      const result = await rewriteOwn(ctx, entry);
      summary.ownRewritten += 1;
      if (result === 'rekeyed') summary.filesRekeyed += 1;
    } catch (err) {
      if (!(err instanceof RevocationConflict)) throw err;
      summary.skipped += 1;
    }
    step();
  });
  await inParallel(writable, async (entry) => {
    // A writer may not change who holds keys, only renew its own copy: same holders, same
    // certificate, the same content carried.
    const keys = {
      ...entry.body.keys,
      ...(await wrapTo(ctx, { id: entry.body.id, kind: entry.body.kind }, entry.key, [me])),
    };
    const next: DirEntryBody = {
      ...entry.body,
      version: entry.body.version + 1,
      prev: chainHash(entry.envelope),
      time: Date.now(),
      keys,
    };
    if (await put(ctx, entry, next)) summary.sharedRewritten += 1;
    else summary.skipped += 1;
    step();
  });
  return summary;
}

/**
 * Replaces the caller's keys and brings everything they own or write under the new ones
 * (module comment). The session continues with the new keys; every other session has ended.
 * @throws FsError `invalid` (this session cannot seal: log in again), `conflict` (the keys were
 *   already replaced elsewhere)
 */
export async function revocate(
  ctx: AgentContext,
  options: { onProgress?: (progress: RevocationProgress) => void } = {},
): Promise<RevocationSummary> {
  const started = Date.now();
  const { seq } = await ctx.directory.revokeKeys(ctx.session);
  const rest = await finishRevocation(ctx, options);
  return { seq, ...rest, ms: Date.now() - started };
}

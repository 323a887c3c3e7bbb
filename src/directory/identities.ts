/**
 * Users' current identities, read from their key logs. The directory verifies a log before
 * trusting the key it ends with, so a corrupted row cannot make it accept a forged signature.
 */
import { FsError } from '../interface/errors.js';
import type { DirectoryStore } from '../interface/directory-store.js';
import type { UserName } from '../interface/names.js';
import { type KeyLogState, verifyKeyLog } from '../wire/key-log.js';

/**
 * The verified key-log state of `user`.
 * @throws FsError `not-exist` when the user has no log; `integrity` when it does not verify.
 */
export async function keyLogState(store: DirectoryStore, user: UserName): Promise<KeyLogState> {
  const log = await store.keyLog(user);
  if (log.length === 0) throw new FsError('not-exist', `no such user: ${user}`, { op: 'keys' });
  return verifyKeyLog(
    user,
    log.map((record) => record.envelope),
  );
}

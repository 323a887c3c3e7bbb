/**
 * Key pins: what this device remembers of each user's key log, so that the directory cannot
 * later swap a user's keys for its own, or hide their newest events, without being noticed.
 *
 * A pin is the sequence number and chain hash of the newest event this device has seen of a
 * user's log. A log fetched later must hold, at that sequence number, an event with that chain
 * hash. The log's chain has already been verified (verifyKeyLog), so this one comparison proves
 * that everything the device saw is still there, unchanged, and that the new log only adds to
 * it; the pin then moves to the new head. A log that ends before the pinned event is a rollback
 * (the directory hiding, say, a rotation away from a stolen key); a log with another event there
 * is a substitution or a fork (the directory handing out keys it holds, so that file keys are
 * wrapped to it).
 *
 * Trust on first use: a user's first log seen by a device is taken as it is. A device that never
 * saw a user's log cannot tell a substituted one from the real one; people compare fingerprints
 * (`peervault whoami`) out of band for that.
 *
 * Security-sensitive: a refusal must stop the caller from using the log's keys. The store holds
 * public values only (user names, hashes, fingerprints).
 */
import { z } from 'zod';
import { FsError } from '../interface/errors.js';
import { parseUserName, type UserName } from '../interface/names.js';
import { constantTimeEqual } from '../crypto/bytes.js';
import { fingerprint } from '../crypto/identity.js';
import { fromBase64url, toBase64url } from '../wire/base64.js';
import { chainHash, type KeyLogState } from '../wire/key-log.js';
import { readIfExists, writeFileAtomic } from '../support/key-files.js';

/** What a device remembers of one user's key log. */
export interface KeyPin {
  /** Sequence number of the newest event seen. */
  seq: number;
  /** chainHash of that event's envelope (32 bytes). */
  head: Uint8Array;
  /**
   * Fingerprint of the identity current after that event, shown to people in a refusal so they
   * can compare it out of band. Informational: never used to decide.
   */
  fingerprint?: string;
}

/**
 * Where a device keeps its pins. One store is shared by every client and session of a device
 * (a peer keeps it in `key-pins.json`). Both calls are synchronous so that checking a pin and
 * advancing it happen in one turn of the event loop, with no other check in between.
 */
export interface KeyPins {
  /** The pin of `user`, or undefined when this device has never seen their log. */
  get(user: UserName): KeyPin | undefined;
  /**
   * Remembers `pin` for `user`; a persistent store has saved it before returning.
   * @throws FsError `unavailable` when it cannot be saved (the pin is then unchanged).
   */
  set(user: UserName, pin: KeyPin): void;
  /** Every pin, users in name order (what peers gossip, src/peer/head-gossip.ts). */
  all(): [UserName, KeyPin][];
}

const copyPin = (pin: KeyPin): KeyPin => ({
  seq: pin.seq,
  head: Uint8Array.from(pin.head),
  ...(pin.fingerprint === undefined ? {} : { fingerprint: pin.fingerprint }),
});

function sortedPins(pins: ReadonlyMap<UserName, KeyPin>): [UserName, KeyPin][] {
  return [...pins.keys()].sort().map((user) => [user, copyPin(pins.get(user)!)]);
}

/** A store that remembers for as long as it lives: for tests, tools and one-off clients. */
export function createMemoryKeyPins(): KeyPins {
  const pins = new Map<UserName, KeyPin>();
  return {
    get: (user) => {
      const pin = pins.get(user);
      return pin === undefined ? undefined : copyPin(pin);
    },
    set: (user, pin) => void pins.set(user, copyPin(pin)),
    all: () => sortedPins(pins),
  };
}

const pinFileVersion = 1;
const pinFileSchema = z.strictObject({
  v: z.literal(pinFileVersion),
  pins: z.record(
    z.string(),
    z.strictObject({
      seq: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
      head: z.string().max(64),
      fingerprint: z.string().max(64).optional(),
    }),
  ),
});

function corruptPinFile(path: string, why: string): FsError {
  return new FsError(
    'integrity',
    `${path} is corrupted (${why}), so this device cannot tell whether the directory has ` +
      'changed the key logs it saw before. Restore the file from a backup; or, to start over, ' +
      'stop the peer and move the file aside: this device will then trust the next key log it ' +
      'sees of each user, as on first use, so compare key fingerprints with the people you ' +
      'share with (`peervault whoami`).',
    { op: 'key-pins.load' },
  );
}

function parsePinFile(path: string, bytes: Buffer): Map<UserName, KeyPin> {
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw corruptPinFile(path, 'not JSON');
  }
  const parsed = pinFileSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw corruptPinFile(path, `bad ${issue?.path.join('.') || 'content'}`);
  }
  const pins = new Map<UserName, KeyPin>();
  for (const [name, pin] of Object.entries(parsed.data.pins)) {
    let user: UserName;
    let head: Uint8Array;
    try {
      user = parseUserName(name);
      head = fromBase64url(pin.head, 'head', { length: 32 });
    } catch {
      throw corruptPinFile(path, `bad pin for ${JSON.stringify(name.slice(0, 40))}`);
    }
    pins.set(user, {
      seq: pin.seq,
      head,
      ...(pin.fingerprint === undefined ? {} : { fingerprint: pin.fingerprint }),
    });
  }
  return pins;
}

function formatPinFile(pins: ReadonlyMap<UserName, KeyPin>): string {
  const users = [...pins.keys()].sort();
  const body = {
    v: pinFileVersion,
    pins: Object.fromEntries(
      users.map((user) => {
        const pin = pins.get(user)!;
        return [
          user,
          {
            seq: pin.seq,
            head: toBase64url(pin.head),
            ...(pin.fingerprint === undefined ? {} : { fingerprint: pin.fingerprint }),
          },
        ];
      }),
    ),
  };
  return JSON.stringify(body, null, 2) + '\n';
}

/**
 * The pins kept in the file at `path` (JSON, see docs/formats.md), loaded now and rewritten
 * atomically (temporary file, fsync, rename; mode 0600) on each change. A missing file is an
 * empty store.
 * @throws FsError `integrity` when the file is corrupted: it is never silently reset, since
 *   that would forget what this device saw; `unavailable` when it cannot be read.
 */
export function openKeyPinFile(path: string): KeyPins {
  const bytes = readIfExists(path);
  const pins = bytes === undefined ? new Map<UserName, KeyPin>() : parsePinFile(path, bytes);
  return {
    get: (user) => {
      const pin = pins.get(user);
      return pin === undefined ? undefined : copyPin(pin);
    },
    set: (user, pin) => {
      const next = new Map(pins).set(user, copyPin(pin));
      try {
        writeFileAtomic(path, formatPinFile(next));
      } catch (err) {
        throw new FsError('unavailable', `cannot save the key pins to ${path}`, {
          op: 'key-pins.save',
          cause: err,
        });
      }
      pins.set(user, copyPin(pin));
    },
    all: () => sortedPins(pins),
  };
}

/** True when a verified log ends before the event pinned for its user (a possible rollback). */
export function isBehindPin(pins: KeyPins, state: KeyLogState): boolean {
  const pin = pins.get(state.user);
  return pin !== undefined && state.seq < pin.seq;
}

function refusal(user: UserName, pin: KeyPin, what: string): FsError {
  const compare =
    pin.fingerprint === undefined
      ? `Ask ${user} to check their key fingerprint with \`peervault whoami\``
      : `Ask ${user} whether \`peervault whoami\` shows ${pin.fingerprint} (or a key they ` +
        'rotated to since)';
  return new FsError(
    'integrity',
    `${user}'s key log at the directory ${what}: the directory may be substituting or hiding ` +
      `keys. Nothing was done with ${user}'s keys. ${compare}, and tell your administrator.`,
    { op: 'key-log.pin' },
  );
}

/**
 * Checks a verified key log against this device's pin for its user and, when it extends what
 * the device saw (or there is no pin yet: trust on first use), advances the pin to its head.
 * `state` and `envelopes` must be the result and the input of one successful
 * `verifyKeyLog(user, envelopes)`; the check then costs one hash and one comparison.
 * Security-sensitive: callers must not use the log's keys when this throws.
 * @throws FsError `integrity` when the log ends before the pinned event (rollback) or holds
 *   another event there (substitution, fork); `unavailable` when the pin cannot be saved.
 */
export function checkKeyLogPin(
  pins: KeyPins,
  state: KeyLogState,
  envelopes: readonly Uint8Array[],
): void {
  const { user } = state;
  const pin = pins.get(user);
  if (pin !== undefined) {
    const event = state.seq >= pin.seq ? envelopes[pin.seq] : undefined;
    if (event === undefined) {
      throw refusal(
        user,
        pin,
        `ends at event ${state.seq}, before event ${pin.seq} that this device saw`,
      );
    }
    const head = pin.seq === state.seq ? state.head : chainHash(event);
    if (!constantTimeEqual(head, pin.head)) {
      throw refusal(user, pin, `does not extend the one this device saw before (event ${pin.seq})`);
    }
    if (pin.seq === state.seq && pin.fingerprint !== undefined) return;
  }
  pins.set(user, {
    seq: state.seq,
    head: state.head,
    fingerprint: fingerprint(state.identity.signingKey),
  });
}

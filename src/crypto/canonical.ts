/**
 * Canonical (deterministic) CBOR, RFC 8949 section 4.2: the one encoding of every structure that
 * is signed, MACed or sealed with a header.
 *
 * Why the re-encode check: cborg's strict decoder rejects non-minimal integers, duplicate keys,
 * indefinite lengths and trailing bytes, but it ACCEPTS reordered map keys and non-minimal
 * floats. Two different byte strings could then decode to the same value, and a signature over
 * one would "verify" the other. So {@link decodeCanonical} re-encodes what it decoded and
 * insists on identical bytes. Floats are not allowed at all: our formats have no use for them.
 */
import { decode, encode, rfc8949EncodeOptions } from 'cborg';
import { integrityError } from '../interface/errors.js';
import { constantTimeEqual } from './bytes.js';

/** The values our formats use: no floats, no undefined, no tags, string map keys only. */
export type CborValue =
  | null
  | boolean
  | number
  | string
  | Uint8Array
  | readonly CborValue[]
  | { readonly [key: string]: CborValue };

/** A CBOR map with string keys. */
export type CborMap = { readonly [key: string]: CborValue };

/** Deepest nesting any of our structures needs; deeper input is rejected, not recursed into. */
const maxDepth = 16;

/** Default bound on the size of a structure to decode (blocks are not CBOR; metadata is small). */
export const defaultMaxCborBytes = 4 * 1024 * 1024;

const decodeOptions = {
  strict: true,
  allowIndefinite: false,
  allowUndefined: false,
  allowInfinity: false,
  allowNaN: false,
  allowBigInt: false,
  rejectDuplicateMapKeys: true,
  useMaps: false,
} as const;

function isPlainObject(value: object): boolean {
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function isCborValue(value: unknown, depth: number): value is CborValue {
  if (depth > maxDepth) return false;
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return true;
  if (typeof value === 'number') return Number.isSafeInteger(value);
  if (value instanceof Uint8Array) return true;
  if (Array.isArray(value)) return value.every((item) => isCborValue(item, depth + 1));
  if (typeof value === 'object' && isPlainObject(value)) {
    // An own "__proto__" key is legal CBOR but a trap for any code that reads it back.
    if (Object.hasOwn(value, '__proto__')) return false;
    return Object.values(value as Record<string, unknown>).every((item) =>
      isCborValue(item, depth + 1),
    );
  }
  return false;
}

/**
 * Encodes a value canonically.
 * @throws TypeError when the value holds a float, undefined, a class instance or is nested
 *   too deeply: a programming error, never attacker input.
 */
export function encodeCanonical(value: CborValue): Uint8Array {
  if (!isCborValue(value, 0)) {
    throw new TypeError('encodeCanonical: value is not representable in canonical CBOR');
  }
  return encode(value, rfc8949EncodeOptions);
}

/**
 * Decodes bytes that must be the canonical encoding of a value.
 *
 * @param op the operation, for the error.
 * @throws FsError `integrity` for anything malformed, non-canonical, too deep or too large.
 */
export function decodeCanonical(
  bytes: Uint8Array,
  op: string,
  maxBytes = defaultMaxCborBytes,
): CborValue {
  if (bytes.length > maxBytes) throw integrityError(op);
  let value: unknown;
  try {
    value = decode(bytes, decodeOptions);
  } catch {
    // Malformed input of any sort (including a stack overflow from absurd nesting) is one error.
    throw integrityError(op);
  }
  if (!isCborValue(value, 0)) throw integrityError(op);
  const again = encode(value, rfc8949EncodeOptions);
  if (!constantTimeEqual(again, bytes)) throw integrityError(op);
  return value;
}

/**
 * Reads a canonical CBOR map and checks that it has exactly the expected keys.
 * @throws FsError `integrity` when it is not a map or its key set differs.
 */
export function decodeMap(
  bytes: Uint8Array,
  keys: readonly string[],
  op: string,
  maxBytes = defaultMaxCborBytes,
): CborMap {
  const value = decodeCanonical(bytes, op, maxBytes);
  if (!isMap(value)) throw integrityError(op);
  const present = Object.keys(value);
  if (present.length !== keys.length || !keys.every((key) => Object.hasOwn(value, key))) {
    throw integrityError(op);
  }
  return value;
}

/** True when a decoded value is a map. */
export function isMap(value: CborValue): value is CborMap {
  return (
    typeof value === 'object' &&
    value !== null &&
    !Array.isArray(value) &&
    !(value instanceof Uint8Array)
  );
}

/** Field readers for decoded maps; each throws the one `integrity` error on a wrong type. */
export const field = {
  bytes(map: CborMap, key: string, op: string, length?: number): Uint8Array {
    const value = map[key];
    if (!(value instanceof Uint8Array)) throw integrityError(op);
    if (length !== undefined && value.length !== length) throw integrityError(op);
    return value;
  },
  uint(map: CborMap, key: string, op: string): number {
    const value = map[key];
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
      throw integrityError(op);
    }
    return value;
  },
  text(map: CborMap, key: string, op: string): string {
    const value = map[key];
    if (typeof value !== 'string') throw integrityError(op);
    return value;
  },
};

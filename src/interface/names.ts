/**
 * Names of files and directories: one path element, validated once at the boundary.
 *
 * DESIGN.md section 4: names are Unicode-normalised (NFC) so that the same name typed on two
 * systems gives the same lookup tag, and validated once, here. Everything downstream takes an
 * {@link EntryName}, which only {@link parseEntryName} makes.
 */
import { FsError } from './errors.js';

declare const entryNameBrand: unique symbol;
declare const userNameBrand: unique symbol;

/** A user name: 1-32 characters of `a-z 0-9 _ -`, starting with a letter. */
export type UserName = string & { readonly [userNameBrand]: true };

const userNamePattern = /^[a-z][a-z0-9_-]{0,31}$/;

/**
 * Validates a user name. Names are ASCII lower case so that they cannot be confused with one
 * another (no homoglyphs, no case variants) and fit in paths such as `/alice/docs`.
 * @throws FsError `invalid`
 */
export function parseUserName(raw: string): UserName {
  if (!userNamePattern.test(raw)) {
    throw new FsError(
      'invalid',
      'a user name is 1-32 characters of a-z, 0-9, "_" or "-", starting with a letter',
      { op: 'user-name.parse' },
    );
  }
  return raw as UserName;
}

/** One NFC-normalised, validated path element (no `/`, not `.` or `..`). */
export type EntryName = string & { readonly [entryNameBrand]: true };

/** Longest name, in UTF-8 bytes (the common file-system limit). */
export const maxEntryNameBytes = 255;

const utf8 = new TextEncoder();

// With the `u` flag, a surrogate range matches only unpaired halves: such a string has no UTF-8 form.
const loneSurrogate = /[\ud800-\udfff]/u;

// C0 and C1 control characters, and DEL: they render invisibly or move the cursor in terminals.
// eslint-disable-next-line no-control-regex
const controlChars = /[\u0000-\u001f\u007f-\u009f]/u;

/**
 * Validates and NFC-normalises one path element.
 *
 * @throws FsError `invalid` when the name is empty, `.` or `..`, contains `/`, a control
 *   character or an unpaired surrogate, or is longer than {@link maxEntryNameBytes} bytes.
 */
export function parseEntryName(raw: string): EntryName {
  const op = 'name.parse';
  if (loneSurrogate.test(raw)) {
    throw new FsError('invalid', 'name is not valid Unicode', { op });
  }
  const name = raw.normalize('NFC');
  if (name.length === 0) throw new FsError('invalid', 'name is empty', { op });
  if (name === '.' || name === '..') {
    throw new FsError('invalid', 'name may not be "." or ".."', { op });
  }
  if (name.includes('/')) throw new FsError('invalid', 'name may not contain "/"', { op });
  if (controlChars.test(name)) {
    throw new FsError('invalid', 'name may not contain control characters', { op });
  }
  if (utf8.encode(name).length > maxEntryNameBytes) {
    throw new FsError('invalid', `name is longer than ${maxEntryNameBytes} bytes`, { op });
  }
  return name as EntryName;
}

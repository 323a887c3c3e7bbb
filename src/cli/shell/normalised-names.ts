/**
 * Names are stored NFC-normalised (DESIGN.md section 4), so "é" typed as e + combining accent
 * and "é" typed as one character are the same name. Creating under a decomposed spelling when
 * the composed one exists would silently land on the existing entry; the shell refuses that
 * and says which name is meant instead.
 */
import { FsError, isFsError } from '../../interface/errors.js';
import { type ShellContext, remotePath } from './context.js';

/**
 * @throws FsError `exist` when the last element of `raw` is not in NFC and its NFC form already
 *   exists
 */
export async function refuseNormalisedTwin(ctx: ShellContext, raw: string): Promise<void> {
  const typed = raw.replace(/\/+$/, '').split('/').pop() ?? '';
  const normalised = typed.normalize('NFC');
  if (typed === normalised) return;
  const path = remotePath(ctx, raw);
  try {
    await ctx.api.stat(path);
  } catch (err) {
    if (isFsError(err, 'not-exist')) return;
    throw err;
  }
  throw new FsError(
    'exist',
    `"${typed}" is typed in decomposed Unicode and names the existing ${path} once normalised; use that name or choose another`,
    { op: 'shell', path },
  );
}

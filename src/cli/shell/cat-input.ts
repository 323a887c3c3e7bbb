/**
 * The text `cat` stores: typed words, or the lines that follow the command up to a line holding
 * only "." (as in the seed's shell and in mail), or up to the end of input.
 */

/** The line that ends the text. */
export const endOfText = '.';

/** `cat FILE TEXT...`: the words joined by spaces, as one line. */
export function textOfWords(words: readonly string[]): string {
  return `${words.join(' ')}\n`;
}

/**
 * Reads lines with `next` until "." or the end of input (undefined) and returns them as the
 * file's text: joined with "\n" and ending in one; empty when no line came.
 */
export async function readText(next: () => Promise<string | undefined>): Promise<string> {
  const lines: string[] = [];
  for (;;) {
    const line = await next();
    if (line === undefined || line === endOfText) break;
    lines.push(line);
  }
  return lines.length === 0 ? '' : `${lines.join('\n')}\n`;
}

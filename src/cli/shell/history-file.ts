/**
 * The shell's command history on disk: one command a line, mode 0600 (commands name files,
 * which are private), the last {@link historyLimit} kept. Passwords and file text never reach
 * it: only command lines are recorded.
 */
import { appendFileSync, chmodSync, readFileSync, writeFileSync } from 'node:fs';

/** Commands kept, in memory and on disk. */
export const historyLimit = 1000;

/** The saved commands, newest first (readline's order); none when the file is missing. */
export function loadHistory(path: string): string[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return [];
  }
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  if (lines.length > historyLimit * 2) {
    // Trim now and then, not on every append.
    writeFileSync(path, lines.slice(-historyLimit).join('\n') + '\n', { mode: 0o600 });
  }
  return lines.slice(-historyLimit).reverse();
}

/** Appends one command; failures are ignored, since history is a convenience. */
export function appendHistory(path: string, line: string): void {
  try {
    appendFileSync(path, `${line.replace(/[\r\n]/g, ' ')}\n`, { mode: 0o600 });
    chmodSync(path, 0o600);
  } catch {
    // A read-only or missing data directory costs the history, not the command.
  }
}

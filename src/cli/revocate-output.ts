/**
 * What `revocate` prints, shared by the shell and the one-shot command, and its progress line
 * (drawn on a terminal only, so captured output stays exact).
 */
import type { ApiRevocation } from './local-api.js';

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

/** The summary as lines. */
export function revocationLines(user: string, s: ApiRevocation): string[] {
  const lines = [
    s.seq > 0
      ? `Keys replaced for ${user} (key log event ${s.seq}) in ${(s.ms / 1000).toFixed(1)} s.`
      : `Revocation finished for ${user}.`,
    `  own entries signed with the new key   ${s.ownRewritten} (${plural(s.filesRekeyed, 'file')} with a new file key)`,
    `  shared entries you write, re-signed   ${s.sharedRewritten}`,
    `  shared entries you read               ${s.sharedReadOnly} (opened with your previous key until their owner writes again)`,
  ];
  if (s.skipped > 0) {
    lines.push(
      `  changed while revoking               ${s.skipped}: run \`revocate --resume\` to finish them`,
    );
  }
  lines.push(
    s.passwordChanged
      ? `Your password changed too. Every session of ${user} has ended: log in again.`
      : `Every other session of ${user} has ended; old keys open nothing written from now on.`,
  );
  return lines;
}

/** A `done / total entries` line redrawn in place on a terminal; nothing elsewhere. */
export function revocationProgress(stream: NodeJS.WriteStream): {
  update(progress: { done: number; total: number }): void;
  done(): void;
} {
  let drawn = false;
  let last = 0;
  return {
    update({ done, total }) {
      if (stream.isTTY !== true) return;
      const now = Date.now();
      if (done < total && now - last < 100) return;
      last = now;
      stream.write(`\rrevocate  ${done}/${total} entries\x1b[K`);
      drawn = true;
    },
    done() {
      if (drawn) stream.write('\n');
    },
  };
}

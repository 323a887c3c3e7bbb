/** What `devices` prints (shell and one-shot). */
import type { ApiDevice } from './local-api.js';

const when = (ms: number) => new Date(ms).toISOString().replace('T', ' ').slice(0, 16);

/** One line per live session; the asking one marked `*`. */
export function deviceLines(devices: readonly ApiDevice[]): string[] {
  return devices.map(
    (d) =>
      `${d.current ? '*' : ' '} ${d.id}  device ${d.device}  since ${when(d.createdAt)}  until ${when(d.expiresAt)}`,
  );
}

/**
 * A one-line progress bar for long transfers, drawn on a terminal only: scripts and logs that
 * capture the output get nothing from it, so their output stays byte-exact.
 */

/** What a transfer reports as it goes. */
export interface Progress {
  /** `bytes` more have been moved. */
  advance(bytes: number): void;
  /** The transfer has ended (well or not): finishes the line if one was drawn. */
  done(): void;
}

/** Redraw at most this often: a terminal write per chunk would cost more than the transfer. */
const redrawMs = 100;
/** Transfers shorter than this show no bar at all, so small files do not flash one. */
const quietMs = 300;

/** Sizes in binary units, one decimal: `812 B`, `3.0 MiB`. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(1)} ${units[unit]}`;
}

/**
 * A progress bar labelled `label` for `total` bytes (undefined when unknown) on `stream`.
 * Draws only when `stream.isTTY`; otherwise both methods do nothing.
 */
export function createProgress(
  label: string,
  total: number | undefined,
  stream: NodeJS.WriteStream,
): Progress {
  if (stream.isTTY !== true) return { advance() {}, done() {} };
  // A line wider than the terminal wraps, and \r would then redraw only its last part.
  const name = label.length > 40 ? `${label.slice(0, 39)}…` : label;
  const start = Date.now();
  let bytes = 0;
  let lastDraw = 0;
  let drawn = false;

  const draw = (now: number): void => {
    const seconds = Math.max((now - start) / 1000, 0.001);
    const speed = `${(bytes / 1024 / 1024 / seconds).toFixed(1)} MiB/s`;
    const amount =
      total === undefined ? formatBytes(bytes) : `${formatBytes(bytes)} / ${formatBytes(total)}`;
    let line = `${name}  ${amount}  ${speed}`;
    if (total !== undefined && total > 0) {
      const fraction = Math.min(bytes / total, 1);
      const percent = `${Math.floor(fraction * 100)}%`.padStart(4);
      // A pseudo-terminal may report 0 columns.
      const columns = stream.columns || 80;
      // A fixed width (room for the longest figures), so the bar does not jitter as they grow.
      const width = Math.max(0, Math.min(30, columns - name.length - 48));
      const filled = Math.round(fraction * width);
      const bar = width > 0 ? ` [${'#'.repeat(filled)}${'.'.repeat(width - filled)}]` : '';
      line = `${name}${bar} ${percent}  ${amount}  ${speed}`;
    }
    // \r back to the start, \x1b[K clears what a longer previous line left behind.
    stream.write(`\r${line}\x1b[K`);
    drawn = true;
    lastDraw = now;
  };

  return {
    advance(moved) {
      bytes += moved;
      const now = Date.now();
      if (now - start >= quietMs && now - lastDraw >= redrawMs) draw(now);
    },
    done() {
      if (!drawn) return;
      draw(Date.now());
      stream.write('\n');
    },
  };
}

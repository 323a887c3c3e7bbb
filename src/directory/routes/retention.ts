/**
 * Per-owner retention of the trash (DESIGN.md section 4): each user may choose how long their
 * deleted entries stay restorable, within the directory's bounds; users who choose nothing get
 * the directory's default (`--retention`). The owner's agent reads it to purge (releasing
 * blocks first), and the directory's own late purge uses it too (plus the release window).
 *
 * Only the caller's own setting is read or written: the route takes no user name, so nobody
 * learns or shortens another user's retention.
 */
import type { FastifyInstance } from 'fastify';
import { FsError } from '../../interface/errors.js';
import { type RetentionResponse, routes, schemas } from '../../wire/directory-api.js';
import { authenticate, type DirectoryContext, parseBody } from '../app.js';
import { type DirectoryConfig, effectiveRetention, retentionBounds } from '../config.js';

const units: readonly [string, number][] = [
  ['d', 24 * 60 * 60 * 1000],
  ['h', 60 * 60 * 1000],
  ['m', 60 * 1000],
  ['s', 1000],
];

/** A duration for a message, as the CLI reads it back: `90d`, `36h`, `90s`, `1500ms`. */
function shown(ms: number): string {
  for (const [unit, size] of units) if (ms > 0 && ms % size === 0) return `${ms / size}${unit}`;
  return `${ms}ms`;
}

function answer(own: number | null, config: DirectoryConfig): RetentionResponse {
  const { minMs, maxMs } = retentionBounds(config);
  return {
    retentionMs: own === null ? null : effectiveRetention(own, config),
    defaultMs: config.retentionMs,
    minMs,
    maxMs,
  };
}

/** Registers `GET` and `PUT /v1/account/retention` (module comment). */
export function registerRetentionRoutes(app: FastifyInstance, ctx: DirectoryContext): void {
  const { store, config } = ctx;

  app.get(routes.retention, async (request): Promise<RetentionResponse> => {
    const user = await authenticate(ctx, request);
    return answer(await store.getRetention(user), config);
  });

  app.put(routes.retention, async (request): Promise<RetentionResponse> => {
    const op = 'retention.set';
    const user = await authenticate(ctx, request);
    const { retentionMs } = parseBody(schemas.setRetention, request.body, op);
    const { minMs, maxMs } = retentionBounds(config);
    if (retentionMs !== null && (retentionMs < minMs || retentionMs > maxMs)) {
      throw new FsError(
        'invalid',
        `a retention is between ${shown(minMs)} and ${shown(maxMs)} at this directory, not ${shown(retentionMs)}`,
        { op },
      );
    }
    await store.setRetention(user, retentionMs);
    return answer(retentionMs, config);
  });
}

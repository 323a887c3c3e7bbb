/**
 * A deliberately malicious peer, for tests of the readers' defences only: with
 * `PEERVAULT_TEST_MISBEHAVE=<mode>` in its environment, a peer serves wrong bytes for every block
 * it is asked for, while still claiming (`has`) to hold them. The content modes are the attacks
 * a storage peer can make on content: flip one bit, truncate, or serve another stored block (a
 * swapped block, or one of another file). `hollow` is the freeloader: it acknowledges every put
 * and claims every block, but keeps nothing. A peer started this way says so loudly in its log.
 */
import { FsError } from '../interface/errors.js';
import type { BlockStore } from '../interface/block-store.js';

/** The attacks a misbehaving peer can make on the bytes it serves. */
export const contentMisbehaviours = ['flip', 'truncate', 'other-block'] as const;
/** Every attack a misbehaving peer can make. */
export const misbehaviours = [...contentMisbehaviours, 'hollow'] as const;
/** One of {@link misbehaviours}. */
export type Misbehaviour = (typeof misbehaviours)[number];

/** Reads the mode from the environment. @throws FsError `invalid` for an unknown mode */
export function misbehaviourFromEnv(env: NodeJS.ProcessEnv): Misbehaviour | undefined {
  const mode = env['PEERVAULT_TEST_MISBEHAVE'];
  if (mode === undefined || mode === '') return undefined;
  if (!(misbehaviours as readonly string[]).includes(mode)) {
    throw new FsError('invalid', `PEERVAULT_TEST_MISBEHAVE is one of ${misbehaviours.join(', ')}`, {
      op: 'peer.start',
    });
  }
  return mode as Misbehaviour;
}

/** `store`, except that what it serves is wrong in the way `mode` says. */
export function misbehavingStore(store: BlockStore, mode: Misbehaviour): BlockStore {
  if (mode === 'hollow') {
    return {
      ...store,
      put: () => Promise.resolve(),
      has: () => Promise.resolve(true),
      get: (id) =>
        Promise.reject(new FsError('not-exist', `no block ${id} here`, { op: 'blocks.get' })),
      delete: () => Promise.resolve(),
      list: (options) => store.list(options),
      usage: () => store.usage(),
      close: () => store.close(),
    };
  }
  return {
    ...store,
    put: (id, bytes, options) => store.put(id, bytes, options),
    has: (id, options) => store.has(id, options),
    delete: (id, options) => store.delete(id, options),
    list: (options) => store.list(options),
    usage: () => store.usage(),
    close: () => store.close(),
    async get(id, options) {
      const bytes = await store.get(id, options);
      if (mode === 'flip') {
        const copy = new Uint8Array(bytes);
        copy[copy.length >> 1]! ^= 0x01;
        return copy;
      }
      if (mode === 'truncate') return bytes.subarray(0, bytes.length >> 1);
      for await (const other of store.list(options)) {
        if (other !== id) return store.get(other, options);
      }
      return bytes.subarray(1);
    },
  };
}

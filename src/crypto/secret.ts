/**
 * A holder for secret bytes (keys, seeds, passwords) that will not print itself.
 *
 * Security-sensitive: secrets must never reach a log line, an error or a JSON body by accident.
 * An object holding a {@link SecretBytes} can be logged, inspected or serialised and shows only
 * `[secret]`; the bytes come out only through {@link SecretBytes.expose}, which is easy to grep
 * for in review. {@link SecretBytes.dispose} overwrites them when they are no longer needed
 * (best effort: JavaScript may have copied them elsewhere).
 */
const inspectSymbol = Symbol.for('nodejs.util.inspect.custom');

/** Secret bytes that redact themselves; see the module comment. */
export class SecretBytes {
  readonly #bytes: Uint8Array;
  #disposed = false;

  /** Takes ownership of `bytes` (does not copy: the caller must not keep using them). */
  constructor(bytes: Uint8Array) {
    this.#bytes = bytes;
  }

  /** Copies `bytes` into a new secret, leaving the caller's array untouched. */
  static copyOf(bytes: Uint8Array): SecretBytes {
    return new SecretBytes(Uint8Array.from(bytes));
  }

  /** Length in bytes (not secret). */
  get length(): number {
    return this.#bytes.length;
  }

  /** The secret bytes themselves. Do not store the result or let it escape into a log. */
  expose(): Uint8Array {
    if (this.#disposed) throw new Error('secret was disposed');
    return this.#bytes;
  }

  /** Overwrites the bytes with zeros; later calls to {@link expose} throw. */
  dispose(): void {
    this.#bytes.fill(0);
    this.#disposed = true;
  }

  toString(): string {
    return '[secret]';
  }

  toJSON(): string {
    return '[secret]';
  }

  [inspectSymbol](): string {
    return '[secret]';
  }
}

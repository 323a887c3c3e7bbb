/**
 * The competitors' nodes: child processes running bench/peers/*.mjs, which lives in a package
 * of its own (bench/peers/package.json) so that the product's `npm ci` never installs them.
 * It is installed here, with `npm ci`, the first time the benchmark runs (and again whenever
 * its lock file changes).
 */
import { type ChildProcessByStdio, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync, statSync } from 'node:fs';
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';

const peersDir = fileURLToPath(new URL('./peers/', import.meta.url));

function mtime(path: string): number | undefined {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return undefined;
  }
}

/** Installs bench/peers/node_modules from its lock file unless it is already up to date. */
export function ensureCompetitorsInstalled(): void {
  const lock = mtime(`${peersDir}package-lock.json`);
  const installed = mtime(`${peersDir}node_modules/.package-lock.json`);
  if (installed !== undefined && lock !== undefined && installed >= lock) return;
  console.error('Installing the competitors for the benchmark (npm ci in bench/peers)…');
  const result = spawnSync('npm', ['ci', '--prefix', peersDir, '--no-audit', '--no-fund'], {
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  if (result.status !== 0) throw new Error('npm ci in bench/peers failed (see above)');
}

/** The versions installed in bench/peers of the packages named, for the results. */
export function competitorVersions(names: readonly string[]): Record<string, string> {
  const versions: Record<string, string> = {};
  for (const name of names) {
    try {
      const manifest = readFileSync(`${peersDir}node_modules/${name}/package.json`, 'utf8');
      versions[name] = (JSON.parse(manifest) as { version: string }).version;
    } catch {
      versions[name] = 'not installed';
    }
  }
  return versions;
}

/** What a node answers to a command: its own timing of the work, and what the work returned. */
export type Answer = { ms: number } & Record<string, unknown>;

/**
 * One competitor node: `node [nodeArgs] bench/peers/<script> ...args`, driven by the line
 * protocol of bench/peers/protocol.mjs.
 */
export class CompetitorNode {
  readonly #child: ChildProcessByStdio<Writable, Readable, null>;
  readonly #waiting: ((line: string) => void)[] = [];
  readonly #exited: Promise<unknown>;

  private constructor(script: string, args: readonly string[], nodeArgs: readonly string[]) {
    this.#child = spawn(process.execPath, [...nodeArgs, script, ...args], {
      cwd: peersDir,
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    this.#exited = once(this.#child, 'exit');
    createInterface({ input: this.#child.stdout }).on('line', (line) =>
      this.#waiting.shift()?.(line),
    );
    this.#child.once('exit', (code) => {
      for (const waiter of this.#waiting.splice(0))
        waiter(JSON.stringify({ ok: false, error: `node exited with ${code}` }));
    });
  }

  /** Starts the node; resolves with it and the JSON line it printed when ready. */
  static async start<T>(
    script: string,
    args: readonly string[],
    nodeArgs: readonly string[] = [],
    timeoutMs = 60_000,
  ): Promise<{ node: CompetitorNode; ready: T }> {
    const node = new CompetitorNode(script, args, nodeArgs);
    const timer = setTimeout(() => node.#child.kill('SIGKILL'), timeoutMs);
    try {
      const ready = JSON.parse(await node.#next()) as T & { ok?: false; error?: string };
      if (ready.ok === false) throw new Error(`${script} did not start: ${ready.error}`);
      return { node, ready };
    } finally {
      clearTimeout(timer);
    }
  }

  #next(): Promise<string> {
    return new Promise((resolve) => this.#waiting.push(resolve));
  }

  get pid(): number {
    return this.#child.pid!;
  }

  /** Sends a command; resolves with the answer, or throws the node's error. */
  async call(command: Record<string, unknown>): Promise<Answer> {
    const answer = this.#next();
    this.#child.stdin.write(JSON.stringify(command) + '\n');
    const parsed = JSON.parse(await answer) as Answer & { ok: boolean; error?: string };
    if (!parsed.ok) throw new Error(`${String(command['op'])} failed: ${parsed.error}`);
    return parsed;
  }

  /** Ends the node (closing stdin asks it to exit; SIGKILL after 10 s). */
  async close(): Promise<void> {
    if (this.#child.exitCode !== null || this.#child.signalCode !== null) return;
    this.#child.stdin.end();
    const timer = setTimeout(() => this.#child.kill('SIGKILL'), 10_000);
    await this.#exited;
    clearTimeout(timer);
  }
}

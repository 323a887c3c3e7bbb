/**
 * `peervault demo`: a directory, N peers and three accounts on loopback, in this one process,
 * then the shell logged in as alice. `--no-shell` keeps the network in the foreground for
 * scripts and tests instead, announcing it with one JSON line on standard output.
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { FsError } from '../../interface/errors.js';
import { parseFlags } from '../args.js';
import type { Command, CommandIo } from '../command.js';
import {
  loadOrCreateDemoAccounts,
  registerDemoAccounts,
  type DemoAccount,
} from '../demo-accounts.js';
import type { DemoNetwork } from '../demo-network.js';
import { LocalApi } from '../local-api.js';
import { defaultDemoDir, type DemoState } from '../locate-peer.js';

const help = `Usage: peervault demo [--data DIR] [--peers N] [--no-shell]

Starts a local PeerVault network in one process — a directory and N peers on 127.0.0.1 — with
three accounts (alice, bob, carol), and opens the shell logged in as alice. Everything is kept
in DIR, so a restart on the same DIR brings back the same network, accounts and files.

  --data DIR   where the network keeps its data (default ${defaultDemoDir}); the accounts'
               passwords are in DIR/accounts.json (mode 0600), the peers' logs in DIR/demo.log
  --peers N    how many peers, 1 to 9 (default 3); files are kept on min(3, N) of them
  --no-shell   do not open the shell: keep the network running in the foreground and print
               one JSON line on standard output when it is ready:
               {"directory", "fingerprint", "peers": [{"api", "listen", "data"}], "accounts"}

Other terminals reach the running demo with \`peervault shell\` and the one-shot commands.
Stop it with Ctrl-C (or SIGTERM), or \`quit\` in the shell.`;

/** Parses --peers. @throws FsError `invalid` */
function parsePeers(text: string): number {
  const value = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!(value >= 1 && value <= 9)) {
    throw new FsError('invalid', `--peers is a whole number from 1 to 9, not "${text}"`, {
      op: 'demo',
    });
  }
  return value;
}

/** The human summary of what is running. Passwords appear only when just made. */
function banner(
  dir: string,
  state: DemoState,
  accounts: readonly DemoAccount[],
  created: readonly string[],
  shell: boolean,
): string[] {
  const width = Math.max(...accounts.map((a) => a.user.length));
  const lines = [
    `PeerVault demo network is running (data in ${dir}).`,
    `  directory  ${state.directory}`,
    `             fingerprint ${state.fingerprint}`,
    `  peers      ${state.peers.length}, local APIs at ${state.peers.map((p) => p.api).join(', ')}`,
  ];
  if (created.length > 0) {
    lines.push(`  accounts   new; write the passwords down (they are also in ${state.accounts}):`);
    for (const a of accounts) lines.push(`               ${a.user.padEnd(width)}  ${a.password}`);
  } else {
    lines.push(
      `  accounts   ${accounts.map((a) => a.user).join(', ')}; passwords in ${state.accounts}`,
    );
  }
  lines.push(`  log        ${join(dir, 'demo.log')}`);
  lines.push(
    shell
      ? 'Opening the shell as alice; `quit` or Ctrl-D there also stops the network.'
      : 'Press Ctrl-C to stop.',
  );
  return lines;
}

/**
 * Resolves at the first SIGINT or SIGTERM, which asks for a clean stop; a second one, for
 * when that stop (or the start-up it waits for) hangs, ends the process at once.
 * `dispose` removes the listeners.
 */
function stopSignal(): { signalled: Promise<void>; dispose: () => void } {
  let fire = () => undefined as void;
  const signalled = new Promise<void>((done) => (fire = done));
  let count = 0;
  const handler = () => {
    if (++count > 1) process.exit(130);
    fire();
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return {
    signalled,
    dispose: () => {
      process.off('SIGINT', handler);
      process.off('SIGTERM', handler);
    },
  };
}

/** Opens the shell as alice; a signal meanwhile stops the network and the process. */
async function shell(
  dir: string,
  network: DemoNetwork,
  api: LocalApi,
  alice: DemoAccount,
  signalled: Promise<void>,
): Promise<number> {
  void signalled.then(async () => {
    await network.close();
    process.exit(0);
  });
  // Loaded only when needed: scripts that pass --no-shell never pay for it.
  const { runShell } = await import('../shell/shell.js');
  return runShell({
    api,
    input: process.stdin,
    output: process.stdout,
    errors: process.stderr,
    interactive: process.stdin.isTTY === true,
    historyFile: join(dir, 'shell-history'),
    login: { user: alice.user, password: alice.password },
  });
}

async function run(args: readonly string[], io: CommandIo): Promise<number> {
  const { flags, positionals } = parseFlags(
    args,
    { data: { type: 'string' }, peers: { type: 'string' }, 'no-shell': { type: 'boolean' } },
    'demo',
  );
  if (positionals.length > 0) {
    throw new FsError('invalid', `unexpected argument "${positionals[0]}"`, { op: 'demo' });
  }
  const peers = parsePeers(flags.peers ?? '3');
  const dir = resolve(flags.data ?? defaultDemoDir);
  const withShell = flags['no-shell'] !== true;
  // Listening from the start, so a Ctrl-C during start-up still ends in a clean stop.
  const stop = stopSignal();
  let network: DemoNetwork | undefined;
  try {
    // Imported here: the services are heavy, and `--help` should not pay for them.
    const { startDemoNetwork } = await import('../demo-network.js');
    network = await startDemoNetwork({ dir, peers });
    const { state } = network;
    const first = state.peers[0]!;
    const token = readFileSync(join(first.data, 'api-token'), 'utf8').trim();
    const api = new LocalApi({ url: first.api, token });
    const { accounts, created } = await loadOrCreateDemoAccounts(state.accounts);
    await registerDemoAccounts(api, state.accounts, accounts);
    const lines = banner(dir, state, accounts, created, withShell);
    if (withShell) {
      for (const line of lines) io.out(line);
      const alice = accounts.find((a) => a.user === 'alice')!;
      return await shell(dir, network, api, alice, stop.signalled);
    }
    for (const line of lines) io.err(line);
    io.out(JSON.stringify(state));
    await stop.signalled;
    return 0;
  } finally {
    stop.dispose();
    await network?.close();
  }
}

export const demoCommand: Command = {
  name: 'demo',
  summary: 'start a local network (directory + 3 peers, 3 accounts) and open the shell',
  help,
  run,
};

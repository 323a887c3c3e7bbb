/**
 * `peervault demo`: a directory, three peers and the shell, on loopback, in one command.
 * The network and the shell arrive with the directory, peers and shell issues; until then it
 * says so plainly rather than pretending.
 */
import type { Command } from '../command.js';

export const demoCommand: Command = {
  name: 'demo',
  summary: 'start a local network (directory + 3 peers) and open the shell',
  help: `Usage: peervault demo [--data DIR] [--peers N] [--no-shell]

Starts a directory and N peers on 127.0.0.1 with demo accounts and opens the shell.

Not yet available: this build contains the crypto core only. The directory, the peers and
the shell land in the next issues; see README.md's roadmap.`,
  run(_args, io) {
    io.out(
      'peervault demo: not yet — this build has the crypto core only.\n' +
        'The local network and the shell arrive with the directory, peer and shell issues.\n' +
        'Meanwhile, `npm test` runs the crypto test suite.',
    );
    return Promise.resolve(0);
  },
};

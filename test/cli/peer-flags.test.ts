/**
 * `peervault peer` refuses bad audit settings before it starts anything: a clear `invalid`
 * error naming the flag, as for every other flag (the CLI turns it into exit code 2).
 */
import { describe, expect, it } from 'vitest';
import { peerCommand } from '../../src/cli/commands/peer.js';
import { expectKindAsync } from '../helpers/expect-error.js';

const io = { out: () => undefined, err: () => undefined };
const run = (...flags: string[]) =>
  peerCommand.run(['--directory', 'https://127.0.0.1:1#AAAA-BBBB', ...flags], io);

describe('peervault peer --audit-every / --audit-sample', () => {
  it('refuses an interval that is not a duration, or out of range', async () => {
    for (const every of ['often', '10ms', '400d', '-1s']) {
      const error = await expectKindAsync('invalid', run('--audit-every', every));
      expect(error.message).toContain('--audit-every');
    }
  });

  it('refuses a sample that is not a percentage above 0 and at most 100', async () => {
    for (const sample of ['0', '101', 'five', '5%', '-3']) {
      const error = await expectKindAsync('invalid', run('--audit-sample', sample));
      expect(error.message).toContain('--audit-sample');
    }
  });
});

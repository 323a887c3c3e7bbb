/**
 * `peervault alerts` as a command: help, usage errors before any call, and the text of a list
 * (unread first, each with what to do and how to acknowledge it).
 */
import { describe, expect, it } from 'vitest';
import { alertsLines, parseAlertName, unreadAlerts } from '../../src/cli/alerts-output.js';
import type { CommandIo } from '../../src/cli/command.js';
import type { ApiAlert } from '../../src/cli/local-api.js';
import { main } from '../../src/cli/main.js';

function capture(): { io: CommandIo; out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { out: (t) => out.push(t), err: (t) => err.push(t) }, out, err };
}

const alert = (id: number, fields: Partial<ApiAlert> = {}): ApiAlert => ({
  id,
  origin: 'directory',
  audience: 'alice',
  admin: true,
  rule: 'deletion-burst',
  severity: 'critical',
  summary: 'a burst of deletions of your files by your account',
  action: 'if this was not you, log out your other devices and restore from the trash',
  firstAt: Date.UTC(2025, 0, 31, 14, 5, 9),
  lastAt: Date.UTC(2025, 0, 31, 14, 6, 9),
  count: 500,
  ackedAt: null,
  ...fields,
});

describe('peervault alerts', () => {
  it('has a help that shows both forms', async () => {
    const c = capture();
    expect(await main(['alerts', '--help'], c.io)).toBe(0);
    const help = c.out.join('\n');
    expect(help).toMatch(/^Usage: peervault alerts \[ack ID\]/);
    expect(help).toContain('--json');
  });

  it('refuses a bad use before calling anything (exit 2)', async () => {
    for (const args of [['ack'], ['ack', '0'], ['ack', 'x'], ['nope'], ['ack', '1', '2']]) {
      const c = capture();
      expect(await main(['alerts', ...args], c.io)).toBe(2);
    }
  });

  it('lists unread alerts with what to do and how to acknowledge them', () => {
    const page = {
      alerts: [alert(2), alert(1, { ackedAt: Date.UTC(2025, 1, 1) })],
      scope: 'own' as const,
    };
    const lines = alertsLines(page, 'peervault alerts ack');
    expect(lines[0]).toBe('1 unread of 2');
    expect(lines[1]).toMatch(/^#2 UNREAD critical deletion-burst: .* \(500 times\)$/);
    expect(lines).toContain(
      '    what to do: if this was not you, log out your other devices and restore from the trash',
    );
    expect(lines).toContain('    then: peervault alerts ack 2');
    expect(lines.filter((l) => l.startsWith('    then:'))).toHaveLength(1);
    expect(unreadAlerts(page)).toBe(1);
    expect(alertsLines({ alerts: [], scope: 'own' }, 'x')).toEqual(['no alerts']);
  });

  it("names this device's alerts D1, shows what it saw, and lists them when the directory is down", () => {
    const device = alert(1, {
      origin: 'device',
      rule: 'entry-rollback',
      subject: 'abc',
      evidence: 'directory 2, seen 3 by alice at 2025-01-31T14:05:09.000Z',
    });
    const lines = alertsLines(
      { alerts: [device], scope: 'own', directoryUnavailable: true },
      'peervault alerts ack',
    );
    expect(lines[0]).toMatch(/directory did not answer/);
    expect(lines[2]).toMatch(/^#D1 UNREAD critical entry-rollback \[this device\]: /);
    expect(lines).toContain('    seen: directory 2, seen 3 by alice at 2025-01-31T14:05:09.000Z');
    expect(lines).toContain('    then: peervault alerts ack D1');
    expect(parseAlertName('D7')).toEqual({ id: 7, origin: 'device' });
    expect(parseAlertName('#7')).toEqual({ id: 7, origin: 'directory' });
    expect(parseAlertName('D0')).toBeUndefined();
    expect(parseAlertName('7x')).toBeUndefined();
  });
});

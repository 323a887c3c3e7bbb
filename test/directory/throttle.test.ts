/**
 * Password guessing against the real directory (over HTTPS), on both engines. Promises tested
 * (docs/threat-model.md, D4-D6): 10,000 guesses at one account from one source get only a
 * handful of tries; the real user logging in from another source is not slowed at all; unknown
 * names are throttled exactly like known ones; a distributed guesser only spaces the real user's
 * attempts out, never locks them out.
 */
import * as opaque from '@serenity-kit/opaque';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DirectoryClient } from '../../src/client/directory-client.js';
import { defaultThrottle } from '../../src/directory/config.js';
import { type AlertsResponse, routes } from '../../src/wire/directory-api.js';
import {
  engines,
  goodPassword,
  startTestDirectory,
  type TestDirectory,
} from '../helpers/directory.js';
import { expectKindAsync } from '../helpers/expect-error.js';

async function guess(
  client: DirectoryClient,
  user: string,
  request: string,
): Promise<'answered' | 'throttled'> {
  try {
    await client.call('POST', routes.loginStart, { user, request });
    return 'answered';
  } catch (err) {
    if ((err as { kind?: string }).kind === 'throttled') return 'throttled';
    throw err;
  }
}

describe.each(engines)('login throttling on %s', (engine) => {
  let dir: TestDirectory;
  let attackerRequest: string;

  beforeAll(async () => {
    dir = await startTestDirectory(
      engine,
      {
        requestsPerSecond: 1_000_000, // test the login throttle itself, not the DoS guard
        throttle: { ...defaultThrottle, accountLimit: 40, accountSpacingMs: 1000 },
        auditThrottledMs: 100,
      },
      // The guessing at alice (and at bob from many sources) is what the monitor is for.
      { allowAlerts: ['password-guessing'] },
    );
    const setup = await dir.client();
    await setup.register('alice', goodPassword('alice'));
    await setup.register('bob', goodPassword('bob'));
    await opaque.ready;
    // A guesser needs one KE1 per try; reusing one is as good as any for counting.
    attackerRequest = opaque.client.startLogin({ password: 'hunter2 guess' }).startLoginRequest;
  }, 60_000);
  afterAll(async () => dir?.stop());

  it('lets 10,000 guesses from one source through only a few times, and the real user in at once from another', async () => {
    const attacker = await dir.client('127.0.0.1');
    let answered = 0;
    let next = 0;
    const started = Date.now();
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        while (next < 10_000) {
          next++;
          if ((await guess(attacker, 'alice', attackerRequest)) === 'answered') answered++;
        }
      }),
    );
    const seconds = (Date.now() - started) / 1000;
    // 5 free tries, then one more per expired backoff (1 s, 2 s, 4 s, …) during the run.
    expect(answered).toBeLessThanOrEqual(
      defaultThrottle.accountSourceFree + Math.ceil(Math.log2(seconds + 1)) + 1,
    );
    const user = await dir.client('127.0.0.2');
    const session = await user.login('alice', goodPassword('alice'));
    expect(session.user).toBe('alice');

    // The refused guesses are evidence too: alice hears of them at once, in one alert that
    // counts them all (not only the handful let through, whose failures are recorded only
    // when their unfinished logins expire).
    let alerts: AlertsResponse['alerts'] = [];
    for (let i = 0; i < 50 && (alerts[0]?.count ?? 0) < 10_000 - answered; i++) {
      await new Promise((r) => setTimeout(r, 100));
      ({ alerts } = await user.call<AlertsResponse>('GET', routes.alerts, undefined, session));
    }
    expect(alerts).toHaveLength(1);
    expect(alerts[0]).toMatchObject({ rule: 'password-guessing', audience: 'alice' });
    expect(alerts[0]!.count).toBe(10_000 - answered);
  }, 120_000);

  it('throttles an unknown name exactly like a known one', async () => {
    const attacker = await dir.client('127.0.0.3');
    const known: string[] = [];
    const unknown: string[] = [];
    for (let i = 0; i < 8; i++) known.push(await guess(attacker, 'bob', attackerRequest));
    for (let i = 0; i < 8; i++) unknown.push(await guess(attacker, 'nosuchuser', attackerRequest));
    expect(unknown).toEqual(known);
    expect(known.filter((r) => r === 'throttled').length).toBeGreaterThan(0);
  });

  it('spaces out, but never locks out, the real user during a distributed attack', async () => {
    // 40 sources with 2 guesses each push "bob" over the per-account limit (40 in the window).
    for (let s = 10; s < 50; s++) {
      const source = await dir.client(`127.0.1.${s}`);
      for (let i = 0; i < 2; i++) await guess(source, 'bob', attackerRequest);
    }
    const user = await dir.client('127.0.0.9');
    let session;
    const started = Date.now();
    for (;;) {
      try {
        session = await user.login('bob', goodPassword('bob'));
        break;
      } catch (err) {
        if ((err as { kind?: string }).kind !== 'throttled') throw err;
        await new Promise((r) => setTimeout(r, 250));
      }
    }
    expect(session.user).toBe('bob');
    expect(Date.now() - started).toBeLessThan(5 * 1000);
  });

  it('refuses a wrong password with permission, not a hint', async () => {
    const user = await dir.client('127.0.0.20');
    await expectKindAsync('permission', user.login('alice', goodPassword('not alice')));
  });
});

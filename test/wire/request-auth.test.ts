/**
 * Signed requests: a signature covers method, path, body and time; anything else fails.
 */
import { describe, expect, it } from 'vitest';
import { SigningKeyPair } from '../../src/crypto/keys.js';
import { utf8 } from '../../src/crypto/bytes.js';
import { readClaimedSession, signRequest, verifyRequest } from '../../src/wire/request-auth.js';
import { expectKind } from '../helpers/expect-error.js';

const device = SigningKeyPair.generate();
const now = 1_700_000_000_000;
const body = utf8('{"a":1}');
const header = signRequest(device, {
  session: 'S1',
  method: 'post',
  path: '/v1/entries',
  body,
  time: now,
});
const { session, envelope } = readClaimedSession(header);
const s1 = { id: 'S1', deviceKey: device.publicKey };

describe('signed requests', () => {
  it('verifies the request it was made for, returning the signed claims', () => {
    expect(session).toBe('S1');
    const claims = verifyRequest(envelope, s1, {
      method: 'POST',
      path: '/v1/entries',
      body,
      now: now + 1000,
    });
    expect(claims.method).toBe('POST');
    expect(claims.session).toBe('S1');
  });

  it('refuses another key, method, path, body or a time outside the skew', () => {
    const other = SigningKeyPair.generate();
    expectKind('permission', () =>
      verifyRequest(
        envelope,
        { id: 'S1', deviceKey: other.publicKey },
        { method: 'POST', path: '/v1/entries', body, now },
      ),
    );
    expectKind('permission', () =>
      verifyRequest(envelope, s1, { method: 'PUT', path: '/v1/entries', body, now }),
    );
    expectKind('permission', () =>
      verifyRequest(envelope, s1, { method: 'POST', path: '/v1/entries?x=1', body, now }),
    );
    expectKind('permission', () =>
      verifyRequest(envelope, s1, {
        method: 'POST',
        path: '/v1/entries',
        body: utf8('{"a":2}'),
        now,
      }),
    );
    expectKind('permission', () =>
      verifyRequest(envelope, s1, {
        method: 'POST',
        path: '/v1/entries',
        body,
        now: now + 6 * 60_000,
      }),
    );
  });

  it('refuses a request signed for another session, even by the right key', () => {
    expectKind('permission', () =>
      verifyRequest(
        envelope,
        { id: 'S2', deviceKey: device.publicKey },
        { method: 'POST', path: '/v1/entries', body, now },
      ),
    );
  });

  it('refuses missing, oversized and malformed headers with permission', () => {
    expectKind('permission', () => readClaimedSession(undefined));
    expectKind('permission', () => readClaimedSession('x'.repeat(5000)));
    expectKind('permission', () => readClaimedSession('!!!'));
    expectKind('permission', () => readClaimedSession(header.slice(0, -4)));
  });
});

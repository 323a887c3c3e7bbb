/**
 * Threat model C11: tags, MACs, hashes and key ids are compared in constant time. The helper
 * must be correct, and no source file may compare bytes another way (Buffer#equals,
 * Buffer.compare, or comparing hex/base64 strings) except where the bytes are not secret and
 * the exception is listed here with its reason.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { constantTimeEqual } from '../../src/crypto/bytes.js';

const srcDir = fileURLToPath(new URL('../../src/', import.meta.url));

/** Allowed non-constant-time comparisons, by file, with the reason. */
const allowed: Record<string, { pattern: RegExp; why: string }[]> = {
  'interface/ids.ts': [
    {
      pattern: /toString\('base64url'\) !== text/,
      why: 'checks that a public id is spelled canonically; ids are not secrets',
    },
  ],
  'wire/base64.ts': [
    {
      pattern: /toString\('base64url'\) !== text/,
      why: "checks that the text a sender chose is canonical base64url; it compares the sender's own input with its re-encoding, no secret involved",
    },
  ],
  'wire/tls-certificate.ts': [
    {
      pattern: /Buffer\.compare\(a, b\)/,
      why: 'sorts the DER elements of a SET OF in a public certificate',
    },
  ],
  'peer/placement.ts': [
    {
      pattern: /Buffer\.compare\(/,
      why: 'ranks peers by hashes of public block ids and public peer keys; nothing secret',
    },
  ],
  'crypto/padding.ts': [
    {
      pattern: /\.equals\(/,
      why: 'checks decrypted padding bytes for zero after authentication; the reader already holds the plaintext',
    },
  ],
};

const suspicious = [
  /\.equals\(/,
  /Buffer\.compare\(/,
  /toString\(['"](hex|base64|base64url)['"]\)\s*[!=]==/,
  /[!=]==\s*[\w.]+\.toString\(['"](hex|base64|base64url)['"]\)/,
];

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory()
      ? sourceFiles(join(dir, entry.name))
      : entry.name.endsWith('.ts')
        ? [join(dir, entry.name)]
        : [],
  );
}

describe('constant-time comparison', () => {
  it('constantTimeEqual agrees with byte equality', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), fc.uint8Array({ maxLength: 64 }), (a, b) => {
        expect(constantTimeEqual(a, b)).toBe(Buffer.from(a).equals(Buffer.from(b)));
        expect(constantTimeEqual(a, Uint8Array.from(a))).toBe(true);
      }),
    );
  });

  it('no source file compares bytes in variable time, except the listed exceptions', () => {
    const offences: string[] = [];
    for (const file of sourceFiles(srcDir)) {
      const name = relative(srcDir, file).replaceAll('\\', '/');
      const lines = readFileSync(file, 'utf8').split('\n');
      lines.forEach((line, i) => {
        for (const pattern of suspicious) {
          if (!pattern.test(line)) continue;
          if (allowed[name]?.some((a) => a.pattern.test(line))) continue;
          offences.push(`${name}:${i + 1}: ${line.trim()}`);
        }
      });
    }
    expect(offences).toEqual([]);
  });
});

/**
 * The dependency-direction rules (eslint.layers.js) must really fail code that breaks the
 * architecture; otherwise the picture in docs/architecture.md could silently stop being true.
 */
import { ESLint } from 'eslint';
import tseslint from 'typescript-eslint';
import { describe, expect, it } from 'vitest';
import { layerRules } from '../../eslint.layers.js';

const eslint = new ESLint({
  overrideConfigFile: true,
  overrideConfig: [
    { files: ['**/*.ts'], languageOptions: { parser: tseslint.parser } },
    ...layerRules,
  ],
});

async function violations(filePath: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath });
  return (result?.messages ?? []).map((m) => m.ruleId ?? m.message);
}

describe('layer rules', () => {
  it.each([
    ['src/crypto/x.ts', "import { readFile } from 'node:fs/promises';", 'crypto does no I/O'],
    ['src/crypto/x.ts', "import net from 'net';", 'crypto does no I/O (bare specifier)'],
    ['src/crypto/x.ts', "import pino from 'pino';", 'crypto does not log'],
    [
      'src/crypto/x.ts',
      "import { x } from '../directory/store.js';",
      'crypto imports interface only',
    ],
    [
      'src/interface/x.ts',
      "import { x } from '../crypto/aead.js';",
      'interface is the bottom layer',
    ],
    [
      'src/directory/x.ts',
      "import { x } from '../client/read.js';",
      'the directory never imports the client',
    ],
    [
      'src/directory/routes/x.ts',
      "import { x } from '../../client/read.js';",
      'nested directory files too',
    ],
    ['src/cli/x.ts', "import { x } from '../crypto/sign.js';", 'front ends never import crypto'],
    ['src/web/x.ts', "import { x } from '../crypto/sign.js';", 'the web UI never imports crypto'],
    ['src/webdav/x.ts', "export { x } from '../crypto/sign.js';", 're-exports count too'],
    [
      'src/client/x.ts',
      "import { x } from '../directory/store.js';",
      'the client reaches the directory over the wire only',
    ],
    ['src/support/x.ts', "import { x } from '../wire/base64.js';", 'support sits below wire'],
    [
      'src/peer/x.ts',
      "import { x } from '../directory/app.js';",
      'a peer never imports the directory',
    ],
  ])('%s: refuses `%s` (%s)', async (file, code) => {
    expect(await violations(file, code)).toContain('no-restricted-imports');
  });

  it.each([
    ['src/crypto/x.ts', "import { createHash } from 'node:crypto';"],
    ['src/crypto/x.ts', "import { FsError } from '../interface/errors.js';"],
    ['src/directory/x.ts', "import { verifyMessage } from '../crypto/sign.js';"],
    ['src/cli/x.ts', "import { FsError } from '../interface/errors.js';"],
    ['src/peer/x.ts', "import { read } from '../client/read.js';"],
  ])('%s: allows `%s`', async (file, code) => {
    expect(await violations(file, code)).toEqual([]);
  });
});

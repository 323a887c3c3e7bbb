// The architecture's dependency direction, as lint rules (see docs/architecture.md):
//   interface <- crypto <- wire <- {directory, peer, client} <- cli / web / webdav
// Kept apart from eslint.config.js so that test/tooling/layers.test.ts can check that each rule
// really fails a file that breaks it.

/** Node built-ins that perform I/O; pure layers (interface, crypto) must not import them. */
const ioModules = [
  'fs',
  'fs/promises',
  'net',
  'tls',
  'http',
  'https',
  'http2',
  'dgram',
  'dns',
  'child_process',
  'cluster',
  'worker_threads',
  'readline',
  'inspector',
  'repl',
];

/** Third-party packages that perform I/O (servers, clients, databases, logging). */
const ioPackages = ['fastify', 'undici', 'pg', 'better-sqlite3', 'kysely', 'pino', 'ws'];

/** A regex that matches an import of the folder `layer` from anywhere in src/. */
const layer = (name) => `(^|/)${name}(/|$)`;

const noIo = (why) => [
  {
    regex: `^(node:)?(${ioModules.map((m) => m.replace('/', '\\/')).join('|')})$`,
    message: `${why} must not do I/O.`,
  },
  { regex: `^(${ioPackages.join('|')})(/|$)`, message: `${why} must not do I/O.` },
];

const forbid = (layers, why) => layers.map((l) => ({ regex: layer(l), message: why }));

/** @type {import('eslint').Linter.Config[]} */
export const layerRules = [
  {
    files: ['src/interface/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            ...noIo('interface/ holds contracts only and'),
            ...forbid(
              ['crypto', 'wire', 'directory', 'peer', 'client', 'cli', 'web', 'webdav'],
              'interface/ is the bottom layer: it imports no other layer.',
            ),
          ],
        },
      ],
    },
  },
  {
    files: ['src/crypto/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            ...noIo('crypto/ is pure functions and'),
            ...forbid(
              ['wire', 'directory', 'peer', 'client', 'cli', 'web', 'webdav'],
              'crypto/ may import interface/ only.',
            ),
          ],
        },
      ],
    },
  },
  {
    files: ['src/support/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: forbid(
            ['wire', 'directory', 'peer', 'client', 'cli', 'web', 'webdav'],
            'support/ holds node helpers (key files) under every service; it imports interface/ and crypto/ only.',
          ),
        },
      ],
    },
  },
  {
    files: ['src/wire/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: forbid(
            ['directory', 'peer', 'client', 'cli', 'web', 'webdav'],
            'wire/ is shared by both ends and imports only interface/ and crypto/.',
          ),
        },
      ],
    },
  },
  {
    files: ['src/directory/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: forbid(
            ['client', 'peer', 'cli', 'web', 'webdav'],
            'The directory never imports the client, a peer or a front end: it must stay ignorant of keys and names.',
          ),
        },
      ],
    },
  },
  {
    files: ['src/client/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: forbid(
            ['directory', 'peer', 'cli', 'web', 'webdav'],
            'client/ talks to the directory and peers over the wire only.',
          ),
        },
      ],
    },
  },
  {
    files: ['src/peer/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: forbid(
            ['directory', 'cli', 'web', 'webdav'],
            'peer/ talks to the directory over the wire only and never imports a front end.',
          ),
        },
      ],
    },
  },
  {
    files: ['src/cli/**/*.ts', 'src/web/**/*.ts', 'src/webdav/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: forbid(
            ['crypto', 'client'],
            'Front ends hold no crypto: they call the local API of a peer (DESIGN.md section 1).',
          ),
        },
      ],
    },
  },
];

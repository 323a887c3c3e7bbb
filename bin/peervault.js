#!/usr/bin/env node
// The `peervault` command. The CLI is TypeScript compiled to dist/ by `npm run build`
// (`npm start` builds first).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const entry = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));
if (!existsSync(entry)) {
  console.error('peervault is not built yet: run `npm run build` (or `npm start`) first.');
  process.exit(1);
}
const { main } = await import(entry);
process.exitCode = await main(process.argv.slice(2));

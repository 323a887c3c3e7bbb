// Makes `npm start` fast when nothing changed: runs the TypeScript build only when a file under
// src/ (or a tsconfig) is newer than the last build, so the demo opens its shell in seconds.
// Plain JavaScript with no imports beyond Node's.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

function mtime(path) {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return undefined;
  }
}

function newest(dir) {
  let latest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    latest = Math.max(latest, entry.isDirectory() ? newest(path) : (mtime(path) ?? 0));
  }
  return latest;
}

// tsc leaves its build info untouched when nothing changed, so keep our own stamp.
const stamp = 'dist/.build-stamp';
const built = mtime(stamp);
const sources = Math.max(
  newest('src'),
  mtime('tsconfig.json') ?? 0,
  mtime('tsconfig.build.json') ?? 0,
  mtime('package-lock.json') ?? 0,
);
if (built === undefined || built < sources) {
  console.error('Building PeerVault (tsc)…');
  const result = spawnSync(
    process.execPath,
    ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.build.json'],
    {
      stdio: 'inherit',
    },
  );
  if (result.status !== 0) {
    console.error('The build failed; fix the error above and run the command again.');
    process.exit(result.status ?? 1);
  }
  writeFileSync(stamp, new Date().toISOString() + '\n');
}

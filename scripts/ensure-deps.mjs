// Makes `npm start` and `npm test` work on a fresh clone: installs the pinned dependencies
// (npm ci) when node_modules is missing or older than package-lock.json. Plain JavaScript with
// no imports beyond Node's, because it runs before anything is installed.
import { spawnSync } from 'node:child_process';
import { statSync } from 'node:fs';

function mtime(path) {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return undefined;
  }
}

const lock = mtime('package-lock.json');
const installed = mtime('node_modules/.package-lock.json');
if (installed === undefined || (lock !== undefined && installed < lock)) {
  console.error('Installing dependencies (npm ci)…');
  const result = spawnSync('npm', ['ci', '--no-audit', '--no-fund'], { stdio: 'inherit' });
  if (result.status !== 0) {
    console.error('npm ci failed; fix the error above and run the command again.');
    process.exit(result.status ?? 1);
  }
}

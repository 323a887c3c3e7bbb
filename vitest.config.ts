import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // Two cores on the CI machines: Argon2id, OPAQUE and property tests are CPU-bound, so more
    // workers than cores only makes each test slower.
    maxWorkers: 2,
    testTimeout: 30_000,
    hookTimeout: 60_000,
    projects: [
      {
        extends: true,
        test: { name: 'unit', include: ['test/**/*.test.ts'], exclude: ['test/e2e/**'] },
      },
      {
        // End-to-end tests run the real `peervault` binary, so dist/ is built once first.
        extends: true,
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
          globalSetup: ['test/e2e/build.global-setup.ts'],
        },
      },
    ],
  },
});

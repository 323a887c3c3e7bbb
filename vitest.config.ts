import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/e2e/build.global-setup.ts'],
    // Two cores on the CI machines: Argon2id and property tests are CPU-bound, so more workers
    // than cores only makes each test slower.
    maxWorkers: 2,
    testTimeout: 30_000,
    // Tests assert error kinds; an unhandled rejection anywhere is a failure.
    dangerouslyIgnoreUnhandledErrors: false,
  },
});

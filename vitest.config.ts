import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts', 'examples/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Process-level e2e tests spawn gateways and upstreams; 2 cores, so keep files from starving each other.
    maxWorkers: 2,
    reporters: ['default'],
  },
});

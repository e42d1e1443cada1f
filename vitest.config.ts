import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          environment: 'happy-dom',
          include: ['test/*.test.ts'],
          exclude: ['test/proxy*.test.ts'],
          setupFiles: ['test/setup.ts'],
          typecheck: { enabled: true, include: ['test/*.test-d.ts'], tsconfig: './tsconfig.json' },
        },
      },
      {
        test: { name: 'node', environment: 'node', include: ['test/proxy*.test.ts', 'test/package/*.test.ts'], testTimeout: 20000 },
      },
      {
        // Real Chromium and real servers on 127.0.0.1; one file at a time keeps two cores from timing out.
        test: {
          name: 'browser',
          environment: 'node',
          include: ['test/browser/*.test.ts'],
          testTimeout: 60000,
          hookTimeout: 60000,
          fileParallelism: false,
        },
      },
    ],
  },
})

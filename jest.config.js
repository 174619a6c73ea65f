// Jest runs the TypeScript sources as native ES modules (oidc-provider 9 is ESM-only,
// hence --experimental-vm-modules in `npm test`). ts-jest only transpiles
// (isolatedModules in tsconfig); type checking is `npm run typecheck`, run by CI, which
// keeps each test file's start-up fast.
export default {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  extensionsToTreatAsEsm: ['.ts'],
  moduleNameMapper: {
    '^(\\.{1,2}/.*)\\.js$': '$1',
    '^gatehouse/verify$': '<rootDir>/src/verify/index.ts',
  },
  transform: { '^.+\\.ts$': ['ts-jest', { useESM: true, tsconfig: 'tsconfig.test.json' }] },
  setupFilesAfterEnv: ['<rootDir>/test/helpers/setup.ts'],
  // Collects every app's log for the run and greps it for secrets at the end (K4).
  globalSetup: '<rootDir>/test/helpers/global-setup.mjs',
  globalTeardown: '<rootDir>/test/helpers/global-teardown.mjs',
  testTimeout: 60_000,
  // Each worker starts real servers and argon2 hashes; two match the machines we run on.
  maxWorkers: 2,
};

// Type checking happens once in `npm run build` (tsc) and `npm run typecheck:test`; ts-jest only
// transpiles here, which keeps a full run within CI's budget on two cores.
/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: {
    '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.jest.json' }],
    // @noble/hashes ships ES modules only; Node's require loads them, jest's does not, so they
    // are transpiled to CommonJS like our own sources.
    '^.+/node_modules/@noble/.+\\.js$': ['ts-jest', { tsconfig: 'tsconfig.jest.json' }],
  },
  transformIgnorePatterns: ['/node_modules/(?!@noble/)'],
  testTimeout: 60000,
};

// The Raft core's public surface.
export * from './types';
export * from './errors';
export * from './confchange';
export { Raft, RaftConfig, RaftPersistedState, bootstrapState } from './raft';
export { RandomSource, SeededRandom } from './rng';

// The replicated state machine as the driver sees it: committed entries go in, in log order, and
// the writes that record their effect come out, to be written in the same batch as the log.

import type { Entry } from './types';

/** A change to the state machine's records, written in the same batch as the log. */
export type StateMachineOp = { type: 'put'; key: Uint8Array; value: Uint8Array } | { type: 'del'; key: Uint8Array };

export interface StateMachine {
  /** Applies committed entries in order; returns the writes that record the result durably. */
  apply(entries: Entry[]): StateMachineOp[];
  /**
   * Replaces the whole state with a snapshot image taken at log index `index`; returns the writes
   * that record it.
   */
  restore(data: Uint8Array, index: number): StateMachineOp[];
  /** The current state as a snapshot image. */
  snapshot(): Uint8Array;
}

// Waiting on a real timer. `sleep(ms)` resolves after ms; given an AbortSignal it also resolves,
// early, as soon as the signal aborts, so that a loop waiting to retry ends at once on stop or
// abort. It never rejects (unlike node:timers/promises): a loop checks its own "stopped" state
// after waking, as it would after a full wait. The replica core and the simulator run on an
// injected, virtual clock and do not use this.
//
// The timer keeps the process alive, as every wait it replaced did (none of them was unref'd): a
// loop that must not hold the process open is stopped through its signal.

export interface SleepOptions {
  /** Ends the sleep early when it aborts (at once if it has already). */
  signal?: AbortSignal;
}

/**
 * Resolves after `ms` milliseconds (ms <= 0: on the next timer turn of the event loop, not
 * synchronously), or as soon as `options.signal` aborts.
 */
export function sleep(ms: number, options: SleepOptions = {}): Promise<void> {
  const { signal } = options;
  if (signal?.aborted) return Promise.resolve();
  return new Promise<void>((resolve) => {
    const onAbort = (): void => {
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(() => {
      // Take the listener off: a signal that outlives many sleeps must not collect them.
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, Math.max(0, ms));
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

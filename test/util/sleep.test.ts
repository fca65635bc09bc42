// sleep(ms, { signal }): resolves after ms, or at once when the signal aborts; never rejects,
// and leaves no listener on a signal that outlives it.

import { getEventListeners } from 'node:events';
import { sleep } from '../../src/util/sleep';

/** Whether `p` has settled once pending callbacks and microtasks have run. */
async function settled(p: Promise<unknown>): Promise<boolean> {
  let done = false;
  void p.then(() => (done = true));
  await Promise.resolve();
  await Promise.resolve();
  return done;
}

describe('sleep (fake timers)', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  test('resolves after ms, not before', async () => {
    const p = sleep(1000);
    jest.advanceTimersByTime(999);
    expect(await settled(p)).toBe(false);
    jest.advanceTimersByTime(1);
    expect(await settled(p)).toBe(true);
  });

  test('0 and negative waits still go through the timer, not synchronously', async () => {
    const zero = sleep(0);
    const negative = sleep(-5);
    expect(await settled(zero)).toBe(false);
    expect(await settled(negative)).toBe(false);
    jest.advanceTimersByTime(0);
    expect(await settled(zero)).toBe(true);
    expect(await settled(negative)).toBe(true);
  });

  test('an abort ends the sleep at once and clears its timer', async () => {
    const controller = new AbortController();
    const p = sleep(60_000, { signal: controller.signal });
    jest.advanceTimersByTime(10);
    expect(await settled(p)).toBe(false);
    expect(jest.getTimerCount()).toBe(1);
    controller.abort();
    expect(await settled(p)).toBe(true);
    expect(jest.getTimerCount()).toBe(0);
  });

  test('an already aborted signal: resolves at once, no timer', async () => {
    const controller = new AbortController();
    controller.abort();
    const p = sleep(60_000, { signal: controller.signal });
    expect(jest.getTimerCount()).toBe(0);
    expect(await settled(p)).toBe(true);
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
  });

  test('one abort wakes every sleep on the signal', async () => {
    const controller = new AbortController();
    const sleeps = [sleep(1000, { signal: controller.signal }), sleep(5000, { signal: controller.signal })];
    controller.abort();
    for (const p of sleeps) expect(await settled(p)).toBe(true);
  });

  test('a sleep that times out takes its abort listener off the signal', async () => {
    const controller = new AbortController();
    for (let i = 0; i < 20; i++) {
      const p = sleep(10, { signal: controller.signal });
      expect(getEventListeners(controller.signal, 'abort')).toHaveLength(1);
      jest.advanceTimersByTime(10);
      expect(await settled(p)).toBe(true);
    }
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
  });
});

describe('sleep (real timers)', () => {
  test('waits about ms of wall time', async () => {
    const started = Date.now();
    await sleep(30);
    // Timers may fire a millisecond early by Date.now()'s rounding, never much early.
    expect(Date.now() - started).toBeGreaterThanOrEqual(28);
  });

  test('an abort during a long real sleep resolves it promptly', async () => {
    const controller = new AbortController();
    const started = Date.now();
    setTimeout(() => controller.abort(), 20);
    await sleep(60_000, { signal: controller.signal });
    expect(Date.now() - started).toBeLessThan(5000);
  });
});

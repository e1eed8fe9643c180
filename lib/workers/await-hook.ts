// Awaiting a server hook that may be async (worker_exit, on_exit,
// post_worker_init, when_ready), up to a limit: used by the arbiter and the
// worker. A hook that throws or rejects is reported, one that overruns is
// reported and left behind; either way the caller goes on.

/** Calls fn() and awaits its result up to `seconds`; resolves true if it finished in time. */
export async function awaitWithin(
  fn: () => unknown,
  seconds: number,
  onError: (e: unknown) => void,
  onOverrun: (seconds: number) => void,
): Promise<boolean> {
  let r: unknown;
  try {
    r = fn();
  } catch (e) {
    onError(e);
    return true;
  }
  if (r === null || typeof r !== 'object' || typeof (r as Promise<unknown>).then !== 'function') return true;
  let timer: NodeJS.Timeout | undefined;
  const overrun = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), Math.max(0, seconds * 1000));
  });
  const done = Promise.resolve(r as Promise<unknown>).then(
    () => true as const,
    (e) => {
      onError(e);
      return true as const;
    },
  );
  const finished = await Promise.race([done, overrun]);
  clearTimeout(timer);
  if (!finished) onOverrun(seconds);
  return finished;
}

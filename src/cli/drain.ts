// `sillage drain`: loads a stopped node's ingest log into the event store, then exits. The store
// may be down when it starts, or refuse a load part-way (the ClickHouse ingest retries a failed
// load with backoff, on a timer that keeps no process alive): drain waits for it, for a bounded
// time, and keeps the process alive while it does — waiting in `flush()` with nothing else
// scheduled, the process used to end as [INCOMPLETE] at the first retry.
import type { ServerConfig } from '../shared/config.js';
import type { Logger } from '../shared/log.js';

// The runtime and the ClickHouse client are imported when drain runs: main.ts reads the
// constants below for every command's option help, and loads nothing more (cli/main.ts).
const runtimeModule = () => import('./runtime.js');

/** How long drain waits for the event store by default (`--wait`, seconds). */
export const DRAIN_DEFAULT_WAIT_S = 600;
/** Exit code when drain gave up waiting (EX_TEMPFAIL: nothing is lost, run it again later). */
export const DRAIN_GAVE_UP_EXIT = 75;

const PING_EVERY_MS = 1000;
const PING_TIMEOUT_MS = 2000;

export type DrainOutcome =
  | { drained: true; segments: number; events: number }
  | { drained: false; segments: number; events: number; logDir: string; waitedS: number };

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Waits until every ClickHouse server of the configuration answers, or the deadline passes
 * (false). Says once that it waits.
 */
async function waitForClickHouse(
  urls: readonly string[],
  deadlineMs: number,
  say: (line: string) => void,
): Promise<boolean> {
  const [{ ClickHouseClient }, { clickHouseTarget }] = await Promise.all([
    import('../store/clickhouse/index.js'),
    runtimeModule(),
  ]);
  const clients = urls.map((url) => {
    const { httpUrl, database } = clickHouseTarget(url);
    return new ClickHouseClient({ url: httpUrl, database, timeoutMs: PING_TIMEOUT_MS });
  });
  let told = false;
  // Bounded by the deadline: one round of pings per PING_EVERY_MS.
  for (;;) {
    const down: string[] = [];
    for (const client of clients) {
      try {
        await client.version();
      } catch {
        down.push(client.host);
      }
    }
    if (down.length === 0) return true;
    if (Date.now() >= deadlineMs) return false;
    if (!told) {
      say(
        `sillage drain: waiting for ClickHouse (${down.join(', ')}) to answer, for up to ${Math.ceil((deadlineMs - Date.now()) / 1000)} s`,
      );
      told = true;
    }
    await sleep(Math.min(PING_EVERY_MS, Math.max(0, deadlineMs - Date.now())));
  }
}

/**
 * Opens the node's runtime (its lock, and the log segments the store does not hold yet), waits
 * until the store holds every one, and closes. Gives up after `waitMs` (then what is not loaded
 * stays in the log: nothing is lost, and the next drain or start loads it).
 */
export async function drainNode(
  config: ServerConfig,
  logger: Logger,
  options: { waitMs: number; say: (line: string) => void },
): Promise<DrainOutcome> {
  const { CLICKHOUSE_LOG_DIR, openRuntime } = await runtimeModule();
  const started = Date.now();
  const deadlineMs = started + options.waitMs;
  const logDir = `${config.dataDir}/${CLICKHOUSE_LOG_DIR}`;
  const gaveUp = (segments: number, events: number): DrainOutcome => ({
    drained: false,
    segments,
    events,
    logDir,
    waitedS: Math.round((Date.now() - started) / 1000),
  });
  // Keeps the process alive while drain waits on what holds no handle of its own: a load's
  // retry timer, or a request's time limit (both unref'd). A request to a server that accepts
  // the connection and closes it (a TCP proxy in front of a stopped ClickHouse) is one: the
  // first such fetch of a process settles only at its time limit.
  const alive = setInterval(() => undefined, PING_EVERY_MS);
  let timer: NodeJS.Timeout | undefined;
  try {
    const store = config.store.events;
    if (
      store.kind === 'clickhouse' &&
      !(await waitForClickHouse(store.urls, deadlineMs, options.say))
    )
      return gaveUp(0, 0);
    const runtime = await openRuntime(config, logger);
    try {
      const pending = runtime.events.recoveredLog?.() ?? { segments: 0, events: 0 };
      const expired = new Promise<'expired'>((resolve) => {
        timer = setTimeout(() => resolve('expired'), Math.max(0, deadlineMs - Date.now()));
      });
      const done = await Promise.race([
        runtime.events.flush().then(() => 'flushed' as const),
        expired,
      ]);
      if (done === 'expired') return gaveUp(pending.segments, pending.events);
      return { drained: true, ...pending };
    } finally {
      // After a give-up, the store's close makes one last attempt and stops
      // (ClickHouseIngest.close).
      await runtime.close();
    }
  } finally {
    clearTimeout(timer);
    clearInterval(alive);
  }
}

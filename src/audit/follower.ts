// Follows the audit log as every node appends to it (PostgreSQL): entries are read in sequence
// order from a cursor, a page at a time, so that detection on each node judges the whole
// cluster's reads — an attacker spreading requests over nodes is counted once, in full.
import type { Logger } from '../shared/log.js';
import { safeStack } from '../shared/log.js';
import type { AuditEntry, AuditStore } from './types.js';

export interface AuditFollower {
  /** Stops polling; resolves once the page in progress (if any) is handled. */
  stop(): Promise<void>;
}

/** Reads entries after `afterSeq` every `intervalMs` and hands each, in order, to `visit`. */
export function followAuditLog(
  store: AuditStore,
  afterSeq: number,
  intervalMs: number,
  visit: (entry: AuditEntry) => Promise<void>,
  logger: Logger,
  pageSize = 5_000,
): AuditFollower {
  let cursor = afterSeq;
  let stopped = false;
  let timer: NodeJS.Timeout | null = null;
  let running: Promise<void> = Promise.resolve();
  const tick = async (): Promise<void> => {
    try {
      for (;;) {
        const page = await store.scan({ afterSeq: cursor, limit: pageSize });
        for (const entry of page) {
          if (stopped) return;
          // Each entry is judged once: a failed response is logged, not retried on the entry.
          cursor = entry.seq;
          await visit(entry).catch((error: unknown) =>
            logger.error('audit entry not judged', { stack: safeStack(error) }),
          );
        }
        if (page.length < pageSize) return;
      }
    } catch (error) {
      // A failed read: the next tick reads again from the same cursor (nothing is skipped).
      logger.warn('audit log not followed', { stack: safeStack(error) });
    }
  };
  const schedule = (): void => {
    if (stopped) return;
    timer = setTimeout(() => {
      running = tick().finally(schedule);
    }, intervalMs);
    timer.unref();
  };
  schedule();
  return {
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await running;
    },
  };
}

// The query engine's audit sink: every query (valid or not) becomes an entry with the query,
// the fields and events it touched, the rows read, and the pseudonymous subjects the result names.
import type { JsonObject } from '../shared/json.js';
import type { QueryAuditSink } from '../query/index.js';
import type { Logger } from '../shared/log.js';
import { pseudonymsIn } from './subjects.js';
import type { AuditPort } from './types.js';

const FIELD_KEYS = new Set(['property', 'breakdown', 'group_key', 'hold_constant']);
const EVENT_KEYS = new Set(['event', 'start_event', 'return_event']);

/** The properties and event names a query names, wherever they sit in it. */
export function queryTouches(query: unknown): { fields: string[]; events: string[] } {
  const fields = new Set<string>();
  const events = new Set<string>();
  const walk = (value: unknown, key: string | null): void => {
    if (typeof value === 'string') {
      if (key !== null && FIELD_KEYS.has(key)) fields.add(value);
      if (key !== null && EVENT_KEYS.has(key)) events.add(value);
    } else if (Array.isArray(value)) {
      for (const v of value) walk(v, key);
    } else if (value !== null && typeof value === 'object') {
      for (const [k, v] of Object.entries(value)) walk(v, k);
    }
  };
  walk(query, null);
  return { fields: [...fields], events: [...events] };
}

/**
 * The query with every filter value replaced by its HMAC under the audit key: an investigator
 * holding a value can recompute it; a reader of the log learns nothing from it.
 */
export function maskQueryValues(query: unknown, hmac: (value: string) => string): unknown {
  const mask = (value: unknown, key: string | null): unknown => {
    if (key === 'value' || key === 'values') {
      if (Array.isArray(value)) return value.map((v) => mask(v, 'value'));
      if (value === null || value === undefined) return value;
      return `hmac:${hmac(JSON.stringify(value))}`;
    }
    if (Array.isArray(value)) return value.map((v) => mask(v, null));
    if (value !== null && typeof value === 'object') {
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(value)) out[k] = mask(v, k);
      return out;
    }
    return value;
  };
  return mask(query, null);
}

/** Adapts the audit port to the query engine's sink (and keeps the operational log line). */
export function queryAuditSink(audit: AuditPort, logger: Logger): QueryAuditSink {
  return {
    admit: (actor) => audit.assertMayRead(actor),
    async record(entry) {
      logger.info('query', {
        actor: entry.actor,
        projectId: entry.projectId,
        kind: entry.kind ?? 'invalid',
        rows: entry.rows,
        durationMs: entry.durationMs,
        code: entry.outcome,
      });
      const touched = queryTouches(entry.query);
      await audit.record({
        kind: 'query',
        actor: entry.actor,
        projectId: entry.projectId,
        outcome: entry.outcome,
        ...(entry.source ? { source: entry.source } : {}),
        detail: {
          query_kind: entry.kind,
          query: maskQueryValues(entry.query ?? null, (v) =>
            audit.hmacValue('query_value', v),
          ) as JsonObject,
          duration_ms: Math.round(entry.durationMs),
        },
        fields: touched.fields,
        eventNames: touched.events,
        rows: entry.rows,
        subjects: entry.result ? pseudonymsIn(entry.result) : [],
      });
    },
  };
}

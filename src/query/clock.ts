// Local time in the project's time zone, without asking the database: the plan turns the zone
// into a step function of UTC offsets (from the runtime's tz database, via Intl), and SQL only
// adds an offset to epoch milliseconds. Buckets are then integer arithmetic on local time.

export const HOUR_MS = 3_600_000;
export const DAY_MS = 86_400_000;

/** From `fromMs` (inclusive) on, until the next segment, local time = UTC + offsetMs. */
export interface OffsetSegment {
  fromMs: number;
  offsetMs: number;
}

/** A time zone's offsets over a span of instants; segments[0] also covers everything before. */
export interface LocalClock {
  timezone: string;
  segments: OffsetSegment[];
}

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(timezone: string): Intl.DateTimeFormat {
  let f = formatters.get(timezone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: timezone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
      era: 'short',
    });
    formatters.set(timezone, f);
  }
  return f;
}

/** UTC offset (ms) of `timezone` at instant `ms`, to the second, from the runtime's tz data. */
export function offsetAt(timezone: string, ms: number): number {
  const whole = Math.floor(ms / 1000) * 1000;
  const parts: Record<string, string> = {};
  for (const p of formatter(timezone).formatToParts(new Date(whole))) parts[p.type] = p.value;
  const year = parts.era === 'BC' ? 1 - Number(parts.year) : Number(parts.year);
  const local = Date.UTC(
    year,
    Number(parts.month) - 1,
    Number(parts.day),
    Number(parts.hour),
    Number(parts.minute),
    Number(parts.second),
  );
  return local - whole;
}

// Offsets never change twice within this step in the tz database (transitions are months apart).
const SAMPLE_STEP_MS = 6 * HOUR_MS;

/** Clocks built lately, by zone and span: a board asks the same spans again and again. */
const clocks = new Map<string, LocalClock>();
const CLOCKS_KEPT = 256;

/**
 * Builds the offset step function of `timezone` over [fromMs, toMs] (frozen: it may be shared).
 * Sampling a 90-day span asks the tz data 360 times (~2 ms, a fifth of a trend read from the
 * per-day rollups), so a span asked before answers from memory.
 */
export function buildClock(timezone: string, fromMs: number, toMs: number): LocalClock {
  const key = `${timezone}\u0000${fromMs}\u0000${toMs}`;
  let clock = clocks.get(key);
  if (!clock) {
    if (clocks.size >= CLOCKS_KEPT) clocks.clear();
    clock = sampleClock(timezone, fromMs, toMs);
    for (const segment of clock.segments) Object.freeze(segment);
    Object.freeze(clock.segments);
    clocks.set(key, Object.freeze(clock));
  }
  return clock;
}

function sampleClock(timezone: string, fromMs: number, toMs: number): LocalClock {
  const segments: OffsetSegment[] = [{ fromMs: -Infinity, offsetMs: offsetAt(timezone, fromMs) }];
  let prevOffset = segments[0]!.offsetMs;
  const lastYear = new Date(toMs).getUTCFullYear();
  for (let year = new Date(fromMs).getUTCFullYear(); year <= lastYear; year++) {
    for (const change of yearChanges(timezone, year)) {
      if (change.fromMs <= fromMs || change.fromMs > toMs || change.offsetMs === prevOffset)
        continue;
      segments.push({ fromMs: change.fromMs, offsetMs: change.offsetMs });
      prevOffset = change.offsetMs;
    }
  }
  return { timezone, segments };
}

/**
 * Offset changes of a zone within each UTC year (after its first instant, up to and including
 * the next year's), by zone and year. Sampling asks the tz data ~1,500 times a year (~20 ms): a
 * span of 10 years took ~200 ms on the thread serving HTTP for each new span asked (a query
 * moving its range by a day is one), where the years it covers are now sampled once.
 */
const yearChangesKept = new Map<string, readonly OffsetSegment[]>();
const YEARS_KEPT = 50_000;

function yearChanges(timezone: string, year: number): readonly OffsetSegment[] {
  const key = `${timezone}\u0000${year}`;
  let changes = yearChangesKept.get(key);
  if (!changes) {
    if (yearChangesKept.size >= YEARS_KEPT) yearChangesKept.clear();
    changes = Object.freeze(
      sampleChanges(timezone, Date.UTC(year, 0, 1), Date.UTC(year + 1, 0, 1)),
    );
    yearChangesKept.set(key, changes);
  }
  return changes;
}

/** The offset changes in (fromMs, toMs], each at its first second, sampled every SAMPLE_STEP_MS. */
function sampleChanges(timezone: string, fromMs: number, toMs: number): OffsetSegment[] {
  const changes: OffsetSegment[] = [];
  let prevMs = fromMs;
  let prevOffset = offsetAt(timezone, fromMs);
  for (let t = fromMs + SAMPLE_STEP_MS; ; t += SAMPLE_STEP_MS) {
    const at = Math.min(t, toMs);
    const offset = offsetAt(timezone, at);
    if (offset !== prevOffset) {
      // Binary search, to the second, for the first instant with the new offset.
      let lo = Math.floor(prevMs / 1000);
      let hi = Math.floor(at / 1000);
      while (hi - lo > 1) {
        const mid = Math.floor((lo + hi) / 2);
        if (offsetAt(timezone, mid * 1000) === prevOffset) lo = mid;
        else hi = mid;
      }
      changes.push(Object.freeze({ fromMs: hi * 1000, offsetMs: offset }));
      prevOffset = offset;
    }
    prevMs = at;
    if (at >= toMs) break;
  }
  return changes;
}

/** Local wall-clock time of an instant, as milliseconds since the local 1970-01-01 00:00. */
export function localMs(clock: LocalClock, ms: number): number {
  let offset = clock.segments[0]!.offsetMs;
  for (const s of clock.segments) {
    if (ms >= s.fromMs) offset = s.offsetMs;
    else break;
  }
  return ms + offset;
}

/** Day number (days since 1970-01-01) of a `YYYY-MM-DD` string. */
export function dayNumber(day: string): number {
  return Date.parse(`${day}T00:00:00Z`) / DAY_MS;
}

const pad2 = (n: number): string => (n < 10 ? `0${n}` : String(n));

/**
 * `YYYY-MM-DD` of a day number, by integer arithmetic (H. Hinnant's civil_from_days): a trend of
 * hours over ten years labels 87,840 buckets, and `Date#toISOString` took ~150-250 ms for them.
 */
export function dayString(dayNum: number): string {
  const z = Math.floor(dayNum) + 719_468;
  const era = Math.floor(z / 146_097);
  const doe = z - era * 146_097;
  const yoe = Math.floor(
    (doe - Math.floor(doe / 1460) + Math.floor(doe / 36_524) - Math.floor(doe / 146_096)) / 365,
  );
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const day = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const month = mp < 10 ? mp + 3 : mp - 9;
  const year = yoe + era * 400 + (month <= 2 ? 1 : 0);
  if (year < 0 || year > 9999) return new Date(dayNum * DAY_MS).toISOString().slice(0, 10);
  return `${String(year).padStart(4, '0')}-${pad2(month)}-${pad2(day)}`;
}

/** Bucket units: an integer index per local instant, increasing with local time. */
export type BucketUnit = 'hour' | 'day' | 'week' | 'month';

/** Index of the bucket holding local time `local` (ms). Weeks start on Monday (ISO 8601). */
export function bucketOfLocal(unit: BucketUnit, local: number): number {
  switch (unit) {
    case 'hour':
      return Math.floor(local / HOUR_MS);
    case 'day':
      return Math.floor(local / DAY_MS);
    case 'week':
      // 1970-01-01 was a Thursday: day 0 belongs to the week that started on day -3.
      return Math.floor((Math.floor(local / DAY_MS) + 3) / 7);
    case 'month': {
      const d = new Date(Math.floor(local / DAY_MS) * DAY_MS);
      return (d.getUTCFullYear() - 1970) * 12 + d.getUTCMonth();
    }
  }
}

/** Bucket index of the bucket holding a local day. */
export function bucketOfDay(unit: BucketUnit, dayNum: number): number {
  return bucketOfLocal(unit, dayNum * DAY_MS);
}

/** Label of a bucket: `YYYY-MM-DDTHH:00` for hours, the first day `YYYY-MM-DD` otherwise. */
export function bucketLabel(unit: BucketUnit, bucket: number): string {
  switch (unit) {
    case 'hour': {
      const day = Math.floor(bucket / 24);
      return `${dayString(day)}T${pad2(bucket - day * 24)}:00`;
    }
    case 'day':
      return dayString(bucket);
    case 'week':
      return dayString(bucket * 7 - 3);
    case 'month': {
      const year = 1970 + Math.floor(bucket / 12);
      const month = bucket - (year - 1970) * 12;
      return new Date(Date.UTC(year, month, 1)).toISOString().slice(0, 10);
    }
  }
}

/** Local start (ms) of a bucket. */
export function bucketStartLocal(unit: BucketUnit, bucket: number): number {
  switch (unit) {
    case 'hour':
      return bucket * HOUR_MS;
    case 'day':
      return bucket * DAY_MS;
    case 'week':
      return (bucket * 7 - 3) * DAY_MS;
    case 'month': {
      const year = 1970 + Math.floor(bucket / 12);
      return Date.UTC(year, bucket - (year - 1970) * 12, 1);
    }
  }
}

/** Whether `timezone` is an IANA time zone name the runtime's tz database knows. */
export function isTimeZone(timezone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: timezone });
    return true;
  } catch {
    return false;
  }
}

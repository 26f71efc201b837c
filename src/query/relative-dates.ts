// Relative days in `from` / `to` (DESIGN.md "Query API, second generation"): an anchor and an
// optional offset, resolved against "today" in the project's time zone when the query runs, so a
// saved view or board that says "-6d" to "today" always shows the last seven days.
//
//   spec   = anchor [ ("+" | "-") N unit ] | ("+" | "-") N unit      (anchor defaults to today)
//   anchor = today | yesterday | start_of_week | start_of_month | start_of_year
//   unit   = d (days) | w (weeks) | m (months) | y (years); N ≤ 9999
//
// Weeks start on Monday. Adding months keeps the day of the month, clamped to the month's last
// day (2024-03-31 -1m → 2024-02-29). Examples: last 7 days = "-6d" … "today"; this month =
// "start_of_month" … "today"; previous 30 days = "-30d" … "-1d"; last month = "start_of_month-1m"
// … "start_of_month-1d".

import { offsetAt } from './clock.js';

const SPEC =
  /^(today|yesterday|start_of_week|start_of_month|start_of_year)?(?:([+-])(\d{1,4})([dwmy]))?$/;

/** Whether `value` is written as a relative day (and not a YYYY-MM-DD date). */
export function isRelativeDay(value: string): boolean {
  return value !== '' && SPEC.test(value);
}

const DAY_MS = 86_400_000;

const iso = (ms: number): string => new Date(ms).toISOString().slice(0, 10);

function addMonths(day: string, months: number): string {
  const y = Number(day.slice(0, 4));
  const m = Number(day.slice(5, 7)) - 1 + months;
  const d = Number(day.slice(8, 10));
  const year = y + Math.floor(m / 12);
  const month = ((m % 12) + 12) % 12;
  const last = new Date(Date.UTC(year, month + 1, 0)).getUTCDate();
  return iso(Date.UTC(year, month, Math.min(d, last)));
}

/**
 * The YYYY-MM-DD day a relative spec names, given today's date (YYYY-MM-DD, project time zone);
 * null when `spec` is not a relative day.
 */
export function resolveRelativeDay(spec: string, today: string): string | null {
  const match = SPEC.exec(spec);
  if (!match || spec === '') return null;
  const [, anchor = 'today', sign, amount, unit] = match;
  const todayMs = Date.parse(`${today}T00:00:00Z`);
  let day: string;
  switch (anchor) {
    case 'yesterday':
      day = iso(todayMs - DAY_MS);
      break;
    case 'start_of_week':
      day = iso(todayMs - ((new Date(todayMs).getUTCDay() + 6) % 7) * DAY_MS);
      break;
    case 'start_of_month':
      day = `${today.slice(0, 7)}-01`;
      break;
    case 'start_of_year':
      day = `${today.slice(0, 4)}-01-01`;
      break;
    default:
      day = today;
  }
  if (sign === undefined || amount === undefined || unit === undefined) return day;
  const n = Number(amount) * (sign === '-' ? -1 : 1);
  const base = Date.parse(`${day}T00:00:00Z`);
  switch (unit) {
    case 'd':
      return iso(base + n * DAY_MS);
    case 'w':
      return iso(base + 7 * n * DAY_MS);
    case 'm':
      return addMonths(day, n);
    default:
      return addMonths(day, 12 * n);
  }
}

/**
 * Today's date in a time zone at `nowMs`, YYYY-MM-DD: the UTC date of local time, from the
 * clock's cached formatter (a new Intl.DateTimeFormat per query cost ~0.3 ms of the main thread).
 */
export function todayIn(timezone: string, nowMs: number): string {
  return iso(nowMs + offsetAt(timezone, nowMs));
}

/**
 * A copy of a query body whose top-level `from` / `to` relative days are replaced by the dates
 * they name today. Anything else (dates, wrong values) is left for validation to judge.
 */
export function withResolvedDays(body: unknown, today: string): unknown {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return body;
  const record = body as Record<string, unknown>;
  let out: Record<string, unknown> | null = null;
  for (const key of ['from', 'to']) {
    const value = record[key];
    if (typeof value !== 'string' || !isRelativeDay(value)) continue;
    const day = resolveRelativeDay(value, today);
    if (day === null) continue;
    out ??= { ...record };
    out[key] = day;
  }
  return out ?? body;
}

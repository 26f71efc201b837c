// Date ranges in the project's time zone. Presets are sent as relative days (`-6d` … `today`,
// `start_of_month` …), which the server resolves in the project's time zone when the query runs,
// so a saved report or board keeps meaning "the last 7 days". Custom ranges are fixed
// YYYY-MM-DD days, or relative days typed by hand. The resolver is the server's own
// (src/query/relative-dates.ts), so the dates shown are the dates counted.
import { isRelativeDay, resolveRelativeDay } from '../../../src/query/relative-dates.js';

export { isRelativeDay };

export const PRESETS = [
  { id: 'today', label: 'Today', from: 'today', to: 'today' },
  { id: 'yesterday', label: 'Yesterday', from: 'yesterday', to: 'yesterday' },
  { id: '7d', label: 'Last 7 days', from: '-6d', to: 'today' },
  { id: '30d', label: 'Last 30 days', from: '-29d', to: 'today' },
  { id: '90d', label: 'Last 90 days', from: '-89d', to: 'today' },
  { id: '180d', label: 'Last 6 months', from: '-181d', to: 'today' },
  { id: '365d', label: 'Last 12 months', from: '-364d', to: 'today' },
  { id: 'this_week', label: 'This week', from: 'start_of_week', to: 'today' },
  { id: 'last_week', label: 'Last week', from: 'start_of_week-1w', to: 'start_of_week-1d' },
  { id: 'this_month', label: 'This month', from: 'start_of_month', to: 'today' },
  { id: 'last_month', label: 'Last month', from: 'start_of_month-1m', to: 'start_of_month-1d' },
  { id: 'this_year', label: 'This year', from: 'start_of_year', to: 'today' },
  { id: 'relative', label: 'Custom relative range', from: '', to: '' },
  { id: 'custom', label: 'Custom fixed dates', from: '', to: '' },
] as const;

export type PresetId = (typeof PRESETS)[number]['id'];

/** Today's date in `timeZone`, as YYYY-MM-DD. */
export function todayIn(timeZone: string, now = new Date()): string {
  // en-CA formats as YYYY-MM-DD.
  return new Intl.DateTimeFormat('en-CA', {
    timeZone,
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
  }).format(now);
}

export function addDays(day: string, n: number): string {
  const t = Date.parse(`${day}T00:00:00Z`) + n * 86_400_000;
  return new Date(t).toISOString().slice(0, 10);
}

/** A range as sent to the API: `from` / `to` are YYYY-MM-DD days or relative days. */
export interface DateRange {
  preset: PresetId;
  from: string;
  to: string;
}

/** A preset's range (relative days; resolved by the server when the query runs). */
export function presetRange(preset: PresetId): DateRange {
  const p = PRESETS.find((x) => x.id === preset && x.from !== '') ?? PRESETS[3];
  return { preset: p.id, from: p.from, to: p.to };
}

const DAY = /^\d{4}-\d{2}-\d{2}$/;

/** The YYYY-MM-DD day `value` names today in `timeZone` (a date stays itself); null if invalid. */
export function resolveDay(value: string, timeZone: string, now = new Date()): string | null {
  if (DAY.test(value)) return value;
  return isRelativeDay(value) ? resolveRelativeDay(value, todayIn(timeZone, now)) : null;
}

/** The days a range covers today, or null when one end is not a day. */
export function resolveRange(
  range: { from: string; to: string },
  timeZone: string,
  now = new Date(),
): { from: string; to: string } | null {
  const from = resolveDay(range.from, timeZone, now);
  const to = resolveDay(range.to, timeZone, now);
  return from && to ? { from, to } : null;
}

/** A short name for a range as saved (a preset's label, else its two ends). */
export function rangeLabel(range: { from?: unknown; to?: unknown }): string {
  const p = PRESETS.find((x) => x.from !== '' && x.from === range.from && x.to === range.to);
  return p ? p.label : `${String(range.from)} – ${String(range.to)}`;
}

/** Reads a range kept earlier (preset, or from/to for a custom one); else the fallback preset. */
export function rangeFromParams(
  params: URLSearchParams,
  _timeZone: string,
  fallback: PresetId = '30d',
): DateRange {
  const preset = (params.get('range') ?? fallback) as PresetId;
  const from = params.get('from') ?? '';
  const to = params.get('to') ?? '';
  if (preset === 'custom' && DAY.test(from) && DAY.test(to)) return { preset, from, to };
  if (preset === 'relative' && isRelativeDay(from) && isRelativeDay(to))
    return { preset, from, to };
  return presetRange(PRESETS.some((p) => p.id === preset) ? preset : fallback);
}

/** A range kept in a report's settings, made current: presets always take their own ends. */
export function normaliseRange(range: DateRange): DateRange {
  if (range.preset === 'custom' || range.preset === 'relative') return range;
  return presetRange(range.preset);
}

// Date ranges in the project's time zone: presets resolve to inclusive YYYY-MM-DD days, as the
// query API expects (DESIGN.md: dates are the project's local days).

export const PRESETS = [
  { id: '7d', label: 'Last 7 days', days: 7 },
  { id: '30d', label: 'Last 30 days', days: 30 },
  { id: '90d', label: 'Last 90 days', days: 90 },
  { id: '180d', label: 'Last 6 months', days: 182 },
  { id: '365d', label: 'Last 12 months', days: 365 },
  { id: 'today', label: 'Today', days: 1 },
  { id: 'custom', label: 'Custom range', days: 0 },
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

export interface DateRange {
  preset: PresetId;
  from: string;
  to: string;
}

/** The days a preset covers, ending today (inclusive). */
export function resolvePreset(preset: PresetId, timeZone: string, now = new Date()): DateRange {
  const to = todayIn(timeZone, now);
  const p = PRESETS.find((x) => x.id === preset) ?? PRESETS[1];
  return { preset, from: addDays(to, -(Math.max(p.days, 1) - 1)), to };
}

const DAY = /^\d{4}-\d{2}-\d{2}$/;

/** Reads a range from URL parameters (preset, or from/to for a custom range). */
export function rangeFromParams(
  params: URLSearchParams,
  timeZone: string,
  fallback: PresetId = '30d',
): DateRange {
  const preset = (params.get('range') ?? fallback) as PresetId;
  const from = params.get('from') ?? '';
  const to = params.get('to') ?? '';
  if (preset === 'custom' && DAY.test(from) && DAY.test(to)) return { preset, from, to };
  const known = preset !== 'custom' && PRESETS.some((p) => p.id === preset);
  return resolvePreset(known ? preset : fallback, timeZone);
}

export function rangeToParams(range: DateRange, params: URLSearchParams): void {
  params.set('range', range.preset);
  if (range.preset === 'custom') {
    params.set('from', range.from);
    params.set('to', range.to);
  } else {
    params.delete('from');
    params.delete('to');
  }
}

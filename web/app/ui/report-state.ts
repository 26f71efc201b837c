// A report's settings live in the URL (`?q=<json>`), so that a report survives a reload and can
// be shared as a link; unreadable settings fall back to the screen's defaults.
import { useEffect, useState } from 'preact/hooks';
import { replaceParams } from '../router';

export function useReportState<T extends object>(
  params: URLSearchParams,
  defaults: T,
  check: (value: unknown) => value is T,
): [T, (next: T) => void] {
  const [state, setState] = useState<T>(() => {
    try {
      const raw: unknown = JSON.parse(params.get('q') ?? 'null');
      return check(raw) ? { ...defaults, ...raw } : defaults;
    } catch {
      return defaults;
    }
  });
  useEffect(() => {
    const next = new URLSearchParams();
    next.set('q', JSON.stringify(state));
    replaceParams(next);
  }, [state]);
  return [state, setState];
}

export const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

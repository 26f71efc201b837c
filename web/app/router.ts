// Hash routing: `#/p/<project id>/<screen>` (the fragment never reaches the server, so `/` is
// the only page the server needs to know). A screen's state lives in the URL's query part so that
// a report can be bookmarked and shared.
import { useEffect, useState } from 'preact/hooks';

export const SCREENS = [
  'insights',
  'funnels',
  'retention',
  'flows',
  'lifecycle',
  'frequency',
  'cohorts',
  'users',
  'boards',
  'live',
  'setup',
  'privacy',
  'security',
  'audit',
] as const;
export type Screen = (typeof SCREENS)[number];

export interface Route {
  projectId: string | null;
  screen: Screen;
  params: URLSearchParams;
}

export function parseHash(hash: string): Route {
  const [path = '', query = ''] = hash.replace(/^#/, '').split('?', 2);
  const parts = path.split('/').filter(Boolean);
  const screen = (SCREENS as readonly string[]).includes(parts[2] ?? '')
    ? (parts[2] as Screen)
    : 'insights';
  return {
    projectId: parts[0] === 'p' && parts[1] ? decodeURIComponent(parts[1]) : null,
    screen,
    params: new URLSearchParams(query),
  };
}

export function hrefOf(projectId: string, screen: Screen, params?: URLSearchParams): string {
  const qs = params?.toString();
  return `#/p/${encodeURIComponent(projectId)}/${screen}${qs ? `?${qs}` : ''}`;
}

/** Replaces the URL's query part without adding a history entry (as a report is edited). */
export function replaceParams(params: URLSearchParams): void {
  const route = parseHash(location.hash);
  if (!route.projectId) return;
  history.replaceState(null, '', hrefOf(route.projectId, route.screen, params));
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseHash(location.hash));
  useEffect(() => {
    const update = (): void => setRoute(parseHash(location.hash));
    window.addEventListener('hashchange', update);
    return () => window.removeEventListener('hashchange', update);
  }, []);
  return route;
}

/** The Users screen opened on one (pseudonymous) user id. */
export function userHref(projectId: string, userId: string): string {
  return hrefOf(projectId, 'users', new URLSearchParams({ id: userId }));
}

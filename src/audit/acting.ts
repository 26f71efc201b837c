// Who is acting right now: the principal of the request (or CLI command) being served, carried
// through the async call chain so that the audited account store can name the real initiator of
// an act (an owner changing a role, an admin ending someone's sessions) instead of `system`.
import { AsyncLocalStorage } from 'node:async_hooks';
import type { Actor } from './types.js';

const acting = new AsyncLocalStorage<Actor | null>();

/** Runs `task` with `actor` as the acting principal (API handlers, admin-socket commands). */
export function actingAs<T>(actor: Actor, task: () => T): T {
  return acting.run(actor, task);
}

/** Runs `task` as nobody in particular: the log's own responses (detection, suspensions). */
export function actingAsSystem<T>(task: () => T): T {
  return acting.run(null, task);
}

/** The acting principal, or null outside any request or command. */
export function actingPrincipal(): Actor | null {
  return acting.getStore() ?? null;
}

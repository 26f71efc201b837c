// SDK bookkeeping events: what the Mixpanel and PostHog SDKs send to manage identities, profiles
// and feature flags rather than to record something the user did
// (/work/shared/reference/sdk-wire-formats.md §2, §3 and the PostHog capture notes). "Any event"
// (a trends series with no event) leaves them out unless the series asks for them with
// `include_sdk_events`; naming one explicitly always works. Each starts with `$` (the SQL of "any
// event" tests that byte first: compile.ts; sdk-events.test.ts holds the list to it).

export const SDK_BOOKKEEPING_EVENTS: readonly string[] = [
  // Mixpanel identity management (Original and Simplified ID merge) and PostHog identify.
  '$identify',
  '$create_alias',
  '$merge',
  // PostHog: person and group profile updates sent as events, and forced merges.
  '$set',
  '$groupidentify',
  '$merge_dangerously',
  // PostHog: feature flag evaluations and opt-in bookkeeping.
  '$feature_flag_called',
  '$opt_in',
];

const BOOKKEEPING = new Set(SDK_BOOKKEEPING_EVENTS);

/** Whether an event name is SDK bookkeeping. */
export const isSdkBookkeepingEvent = (event: string): boolean => BOOKKEEPING.has(event);

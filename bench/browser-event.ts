// The event the ingest benches send: a mixpanel-browser `track` with its usual automatic
// properties (bench:ingest, its ClickHouse variant, and bench/ingest-stages.ts measure the same).

/** The event names, in turn. */
export const EVENT_NAMES = ['Page view', 'Signed up', 'Added to cart', 'Checkout', 'Search'];

/** The `n`-th event for `token`, with its `$insert_id` and `time` (seconds). */
export function browserEvent(token: string, n: number, insertId: string, timeS: number): unknown {
  const user = `user-${n % 5000}`;
  return {
    event: EVENT_NAMES[n % EVENT_NAMES.length],
    properties: {
      token,
      time: timeS,
      distinct_id: user,
      $device_id: `dev-${n % 7000}`,
      $user_id: user,
      $insert_id: insertId,
      $os: 'Windows',
      $browser: 'Chrome',
      $browser_version: 120,
      $current_url: `https://shop.example.com/products/${n % 300}?utm_source=news&ref=abc`,
      $referrer: 'https://www.google.com/search?q=shoes',
      $referring_domain: 'www.google.com',
      $screen_height: 1080,
      $screen_width: 1920,
      mp_lib: 'web',
      $lib_version: '2.55.0',
      plan: n % 3 === 0 ? 'pro' : 'free',
      cart_value: (n % 1000) / 10,
      items: n % 7,
      search_term: 'running shoes',
    },
  };
}

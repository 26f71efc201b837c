import { randomBytes } from 'node:crypto';
import { scanValue, sanitizeEventProperties, createPseudonymiser, DEFAULT_POLICY, PrivacyCounters } from './src/privacy/index.js';
const event = {
  $os: 'Mac OS X', $browser: 'Chrome', $referrer: 'https://www.google.com/', $referring_domain: 'www.google.com',
  $current_url: 'https://app.example.com/dashboard/reports?utm_source=newsletter&utm_medium=email', $browser_version: 120,
  $screen_height: 1080, $screen_width: 1920, mp_lib: 'web', $lib_version: '2.55.0', $insert_id: 'k3j4h5g6f7d8s9a0',
  time: 1700000000.123, distinct_id: '$device:18c1f2a3b4c5d6-0e1f2a3b4c5d6e-26001951-1fa400-18c1f2a3b4c5d6',
  $device_id: '18c1f2a3b4c5d6-0e1f2a3b4c5d6e-26001951-1fa400-18c1f2a3b4c5d6', $initial_referrer: '$direct',
  $initial_referring_domain: '$direct', utm_source: 'newsletter', utm_medium: 'email', utm_campaign: 'spring_sale_2024',
  plan: 'pro', price: 49.99, currency: 'EUR', button: 'Upgrade now', page_title: 'Reports — Example',
  experiment: 'pricing-v2', variant: 'B', items: 3, is_trial: false, app_version: '4.12.1', locale: 'fr-FR',
  session_length: 532, section: 'billing', $duration: 12.5,
};
console.log('props', Object.keys(event).length);
const N = 100000;
for (let round = 0; round < 3; round++) {
  let t = process.hrtime.bigint();
  for (let i = 0; i < N; i++) scanValue(event);
  console.log('scanValue µs/event', Number(process.hrtime.bigint() - t) / N / 1000);
  const ps = createPseudonymiser(randomBytes(32));
  const counters = new PrivacyCounters();
  t = process.hrtime.bigint();
  for (let i = 0; i < N; i++) sanitizeEventProperties(event, { policy: DEFAULT_POLICY, pseudonymise: ps, counters });
  console.log('sanitize µs/event', Number(process.hrtime.bigint() - t) / N / 1000);
}

// The worker pool produces exactly what the pipeline produces on its own thread.
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import {
  createPseudonymiser,
  DEFAULT_POLICY,
  generateProjectKeys,
  PrivacyCounters,
  ProjectKeyring,
} from '../privacy/index.js';
import type { ProjectContext } from '../projects/index.js';
import { createLogger } from '../shared/log.js';
import { decodeEventRow } from '../store/row-json.js';
import type { EnrichedFields } from './enrich-stage.js';
import { EventWorkerPool } from './event-workers.js';
import { createPrivacyStage, privacyCountRows } from './privacy-stage.js';
import type { IncomingEvent } from './records.js';
import { toEventRow } from './rows.js';

const master = randomBytes(32);
const keyring = ProjectKeyring.open(master, generateProjectKeys(master, 'prj_w'));
const project = {
  project: { id: 'prj_w', name: 'w', token: 't', secretHash: 'h', timezone: 'UTC', createdAtMs: 0 },
  policy: DEFAULT_POLICY,
  keyring,
  pseudonymise: createPseudonymiser(keyring.current('pseudonym').key),
  pseudonymiserFor: () => createPseudonymiser(keyring.current('pseudonym').key),
  groupKeys: new Set(['company']),
} as unknown as ProjectContext;

const events: IncomingEvent[] = Array.from({ length: 40 }, (_, i) => ({
  index: i,
  token: 't',
  event: i % 3 ? 'Viewed' : '$identify',
  timeMs: 1_700_000_000_000 + i * 1.5,
  distinctId: `someone${i % 4}@example.com`,
  insertId: i % 5 ? `ins${i}` : null,
  properties: {
    $device_id: `dev-${i % 3}`,
    $user_id: `user-${i % 4}`,
    $anon_distinct_id: 'anon-1',
    $current_url: `https://shop.example.com/p/${i}?utm_source=news&email=x@y.com`,
    $referrer: 'https://www.google.com/search?q=secret',
    company: 'acme',
    note: i % 2 ? 'call me at +44 20 7946 0958' : 'plain',
    nested: { card: '4111 1111 1111 1111', list: [1, 'a@b.co'] },
  },
  geoIp: '81.2.69.142',
  userAgent: 'Mozilla/5.0',
}));
const enriched: EnrichedFields[] = events.map((_, i) => ({
  browser: 'Chrome',
  browserVersion: '120',
  os: i % 2 ? 'Linux' : null,
  deviceType: 'desktop',
  countryCode: 'GB',
  region: 'England',
  city: 'London',
  timezone: null,
}));

const pool = new EventWorkerPool(1, createLogger({ sink: () => undefined }));
afterAll(async () => {
  await pool.close();
});

describe('EventWorkerPool', () => {
  it('encodes the same rows, links and privacy counts as the inline path', async () => {
    const privacy = createPrivacyStage();
    const counters = new PrivacyCounters();
    const rows = events.map((e, i) =>
      toEventRow('prj_w', privacy.event(project, e, enriched[i]!, counters), 99),
    );
    const links = events.flatMap((e, i) =>
      privacy.event(project, e, enriched[i]!, new PrivacyCounters()).identityLinks.map((l) => ({
        projectId: 'prj_w',
        ...l,
        timeMs: rows[i]!.timeMs,
      })),
    );

    const result = await pool.run(project, events, enriched, 99);
    const lines = Buffer.from(result.encoded.lines).toString('utf8').split('\n').filter(Boolean);
    expect(result.encoded.count).toBe(40);
    // Row JSON keeps times to the millisecond, as the store does.
    expect(lines.map(decodeEventRow)).toEqual(
      rows.map((r) => ({
        ...r,
        timeMs: Math.round(r.timeMs),
        receivedAtMs: Math.round(r.receivedAtMs),
      })),
    );
    expect(result.identityLinks).toEqual(links);
    expect(result.privacyCounts).toEqual(privacyCountRows('prj_w', counters, 99));
    // Nothing raw left the privacy stage.
    const text = lines.join('\n');
    // (Quoted or long enough not to occur by chance in a pseudonym or a dedup key.)
    for (const raw of [
      'someone1@example.com',
      'x@y.com',
      '7946 0958',
      '4111 1111',
      '"dev-1"',
      '"acme"',
      'q=secret',
      '"user-1"',
    ]) {
      expect(text).not.toContain(raw);
    }
  });

  it('sees group keys learnt after the project was sent', async () => {
    const one = [{ ...events[1]!, properties: { team: 'blue' } }];
    const before = await pool.run(project, one, [enriched[1]!], 1);
    project.groupKeys.add('team');
    const after = await pool.run(project, one, [enriched[1]!], 1);
    const team = (r: typeof before) =>
      decodeEventRow(Buffer.from(r.encoded.lines).toString('utf8').trim()).properties.team;
    expect(team(before)).toBe('blue');
    expect(team(after)).toBe(project.pseudonymise.group('team', 'blue'));
  });
});

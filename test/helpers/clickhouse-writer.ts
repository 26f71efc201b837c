// Child process for the ClickHouse durability test: appends batches of events to a
// ClickHouseEventStore and prints `ack <batch>` once each append has resolved (= acknowledged).
// Usage: node --import tsx clickhouse-writer.ts <clickhouse url> <log dir> <batches> <per batch>
import { SILENT_LOGGER } from '../../src/shared/log.js';
import { ClickHouseEventStore } from '../../src/store/clickhouse/index.js';
import type { EventRow } from '../../src/store/types.js';

const [url = '', logDir = '', batches = '0', perBatch = '0'] = process.argv.slice(2);

const store = await ClickHouseEventStore.open({
  url,
  database: 'sillage',
  logDir,
  logger: SILENT_LOGGER,
  ingest: { sealEventRows: 150, maxDelayMs: 20 },
});
for (let b = 0; b < Number(batches); b++) {
  const events: EventRow[] = [];
  for (let i = 0; i < Number(perBatch); i++) {
    const n = b * Number(perBatch) + i;
    events.push({
      projectId: 'prj_durable',
      dedupKey: BigInt(n) + 1n,
      timeMs: Date.UTC(2024, 0, 1) + n * 1000,
      event: 'tick',
      distinctId: `u${n % 7}`,
      deviceId: null,
      userId: null,
      insertId: `e${n}`,
      browser: null,
      browserVersion: null,
      os: null,
      deviceType: null,
      countryCode: null,
      region: null,
      city: null,
      referringDomain: null,
      currentUrl: null,
      utmSource: null,
      utmMedium: null,
      utmCampaign: null,
      utmContent: null,
      utmTerm: null,
      lib: null,
      properties: { n },
      receivedAtMs: 0,
    });
  }
  await store.append({
    events,
    profileUpdates: [
      {
        projectId: 'prj_durable',
        groupKey: '',
        profileId: 'counter',
        op: '$add',
        value: { batches: 1 },
        timeMs: b,
        ignoreTime: false,
      },
    ],
    identityLinks: [],
    privacyCounts: [
      { projectId: 'prj_durable', day: '2024-01-01', property: 'p', kind: 'email', count: 1 },
    ],
  });
  process.stdout.write(`ack ${b}\n`);
}
await store.close();
process.stdout.write('done\n');

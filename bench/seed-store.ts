// Events stored before a benchmark's server starts, so that it meets a grown store
// (`BENCH_STORE_EVENTS` in bench:ingest and bench:abuse): `$1` events of a project of their own,
// over 90 days, 40 event names, 200,000 people. The columns exist in every schema since 10, so a
// build before the current one seeds its own store with the same statement.
export const SEED_EVENTS_SQL = `INSERT INTO events (project_id, dedup_key, time, event, distinct_id, insert_id, properties, received_at, person_id)
  SELECT 'prj_seeded', CAST(i AS UHUGEINT) * 7919 + 1,
         TIMESTAMPTZ '2025-04-01 00:00:00+00' + to_milliseconds(i * 7776000000 // $1),
         'Seeded ' || (i % 40), 'u' || (i % 200000), 'i' || i, '{"plan":"pro"}',
         TIMESTAMPTZ '2025-07-01 00:00:00+00', 'u' || (i % 200000)
    FROM range($1) AS t(i)`;

// Test helper: a fresh PostgreSQL database per test file on the server SILLAGE_TEST_PG names
// (.ci/run starts one and sets it). Without it the suite is skipped with a message, except in CI,
// where it must run.
import { randomBytes } from 'node:crypto';
import pg from 'pg';

export const PG_SERVER_URL = process.env.SILLAGE_TEST_PG;

/** True when the PostgreSQL suites can run; throws in CI when they cannot. */
export function postgresAvailable(): boolean {
  if (PG_SERVER_URL) return true;
  if (process.env.CI === 'true' || process.env.SILLAGE_REQUIRE_PG === '1') {
    throw new Error('SILLAGE_TEST_PG is not set, but CI must run the PostgreSQL suites');
  }
  console.warn(
    'PostgreSQL suites skipped: set SILLAGE_TEST_PG=postgres://user:password@127.0.0.1:5432/db',
  );
  return false;
}

async function admin(sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: PG_SERVER_URL });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

/**
 * Drops a test database, ending its connections. `WITH (FORCE)` cannot end a backend of another
 * role, such as an autovacuum worker that happens to be in the database (a full CI run met one):
 * that is retried a few times, half a second apart, as such a worker finishes quickly.
 */
export async function dropTestDatabase(name: string, serverUrl = PG_SERVER_URL): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    const client = new pg.Client({ connectionString: serverUrl });
    await client.connect();
    try {
      await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      return;
    } catch (error) {
      // 42501: insufficient privilege to terminate another role's backend.
      if ((error as { code?: string }).code !== '42501' || attempt >= 10) throw error;
    } finally {
      await client.end();
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

/** Creates an empty database; returns its URL and a function that drops it. */
export async function freshPostgresDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `sillage_t_${randomBytes(6).toString('hex')}`;
  await admin(`CREATE DATABASE ${name}`);
  const url = new URL(PG_SERVER_URL!);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: () => dropTestDatabase(name),
  };
}

/** Runs one statement on a database and returns its rows. */
export async function pgRows(url: string, sql: string, params: unknown[] = []): Promise<unknown[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(sql, params)).rows;
  } finally {
    await client.end();
  }
}

// DuckDB schema migrations, applied in order on start; each runs once, in a transaction.

/** Ordered migrations. Append only: never edit one that has shipped. */
export const DUCKDB_MIGRATIONS: readonly { version: number; name: string; sql: string }[] = [
  {
    version: 1,
    name: 'events, profiles, identity links, projects, keys, settings',
    sql: `
      CREATE TABLE events (
        project_id VARCHAR NOT NULL,
        dedup_key UHUGEINT NOT NULL PRIMARY KEY,
        time TIMESTAMPTZ NOT NULL,
        event VARCHAR NOT NULL,
        distinct_id VARCHAR NOT NULL,
        device_id VARCHAR,
        user_id VARCHAR,
        insert_id VARCHAR NOT NULL,
        browser VARCHAR,
        browser_version VARCHAR,
        os VARCHAR,
        device_type VARCHAR,
        country_code VARCHAR,
        region VARCHAR,
        city VARCHAR,
        referring_domain VARCHAR,
        current_url VARCHAR,
        utm_source VARCHAR,
        utm_medium VARCHAR,
        utm_campaign VARCHAR,
        utm_content VARCHAR,
        utm_term VARCHAR,
        lib VARCHAR,
        properties JSON NOT NULL,
        received_at TIMESTAMPTZ NOT NULL
      );
      CREATE TABLE profiles (
        project_id VARCHAR NOT NULL,
        group_key VARCHAR NOT NULL,
        profile_id VARCHAR NOT NULL,
        properties JSON NOT NULL,
        created_at TIMESTAMPTZ NOT NULL,
        updated_at TIMESTAMPTZ NOT NULL,
        PRIMARY KEY (project_id, group_key, profile_id)
      );
      CREATE TABLE identity_links (
        project_id VARCHAR NOT NULL,
        alias_id VARCHAR NOT NULL,
        canonical_id VARCHAR NOT NULL,
        time TIMESTAMPTZ NOT NULL,
        PRIMARY KEY (project_id, alias_id)
      );
      CREATE TABLE projects (
        id VARCHAR PRIMARY KEY,
        name VARCHAR NOT NULL,
        token VARCHAR NOT NULL UNIQUE,
        secret_hash VARCHAR NOT NULL,
        timezone VARCHAR NOT NULL,
        created_at TIMESTAMPTZ NOT NULL
      );
      CREATE TABLE project_keys (
        project_id VARCHAR NOT NULL,
        purpose VARCHAR NOT NULL,
        version INTEGER NOT NULL,
        wrapped BLOB NOT NULL,
        created_at TIMESTAMPTZ NOT NULL,
        PRIMARY KEY (project_id, purpose, version)
      );
      CREATE TABLE settings (
        name VARCHAR PRIMARY KEY,
        value VARCHAR NOT NULL
      );
    `,
  },
  {
    version: 2,
    name: 'privacy policies, their change record, privacy report counters',
    sql: `
      CREATE TABLE project_policies (
        project_id VARCHAR PRIMARY KEY,
        policy JSON NOT NULL,
        updated_at TIMESTAMPTZ NOT NULL
      );
      CREATE TABLE policy_changes (
        project_id VARCHAR NOT NULL,
        actor VARCHAR NOT NULL,
        changed_at TIMESTAMPTZ NOT NULL,
        policy_before JSON,
        policy_after JSON NOT NULL
      );
      CREATE TABLE privacy_counters (
        project_id VARCHAR NOT NULL,
        day DATE NOT NULL,
        property VARCHAR NOT NULL,
        kind VARCHAR NOT NULL,
        count BIGINT NOT NULL,
        PRIMARY KEY (project_id, day, property, kind)
      );
      CREATE INDEX projects_secret_hash ON projects (secret_hash);
    `,
  },
  {
    version: 3,
    name: 'profile PII vault: wrapped per-subject keys and sealed values',
    sql: `
      CREATE TABLE vault_subject_keys (
        project_id VARCHAR NOT NULL,
        subject_id VARCHAR NOT NULL,
        vault_key_version INTEGER NOT NULL,
        wrapped BLOB NOT NULL,
        created_at TIMESTAMPTZ NOT NULL,
        PRIMARY KEY (project_id, subject_id)
      );
      CREATE TABLE vault_values (
        project_id VARCHAR NOT NULL,
        subject_id VARCHAR NOT NULL,
        property VARCHAR NOT NULL,
        sealed VARCHAR NOT NULL,
        updated_at TIMESTAMPTZ NOT NULL,
        PRIMARY KEY (project_id, subject_id, property)
      );
    `,
  },
  {
    version: 4,
    name: 'ingest log: the last log segment applied to the tables',
    sql: `
      CREATE TABLE ingest_log_state (
        name VARCHAR PRIMARY KEY,
        value BIGINT NOT NULL
      );
    `,
  },
];

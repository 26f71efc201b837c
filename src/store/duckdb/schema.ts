// DuckDB schema migrations, applied in order on start; each runs once, in a transaction.
import { PERSON_LINK_JOINS, PERSON_OF_EVENT } from './persons.js';

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
  {
    version: 5,
    name: 'accounts: organisations, users, memberships, factors, recovery codes, sessions, challenges, devices, invitations, API keys, notices, saved views, project ownership',
    // No foreign keys: DuckDB refuses to delete a referenced row in the transaction that deletes
    // the rows referring to it (a documented limitation), which would block erasing a user or a
    // project in one transaction. The accounts service keeps the references consistent.
    sql: `
      CREATE TABLE orgs (
        id VARCHAR PRIMARY KEY,
        name VARCHAR NOT NULL,
        policy JSON NOT NULL,
        created_at TIMESTAMPTZ NOT NULL,
        locked_down_at TIMESTAMPTZ,
        locked_down_by VARCHAR
      );
      CREATE TABLE users (
        id VARCHAR PRIMARY KEY,
        email VARCHAR NOT NULL UNIQUE,
        password_hash VARCHAR,
        status VARCHAR NOT NULL,
        created_at TIMESTAMPTZ NOT NULL,
        failed_attempts INTEGER NOT NULL,
        locked_until TIMESTAMPTZ NOT NULL
      );
      CREATE TABLE memberships (
        org_id VARCHAR NOT NULL,
        user_id VARCHAR NOT NULL,
        role VARCHAR NOT NULL,
        created_at TIMESTAMPTZ NOT NULL,
        PRIMARY KEY (org_id, user_id)
      );
      CREATE INDEX memberships_user ON memberships (user_id);
      CREATE TABLE factors (
        id VARCHAR PRIMARY KEY,
        user_id VARCHAR NOT NULL,
        kind VARCHAR NOT NULL,
        label VARCHAR NOT NULL,
        created_at TIMESTAMPTZ NOT NULL,
        last_used_at TIMESTAMPTZ,
        credential_id VARCHAR UNIQUE,
        public_key BLOB,
        counter BIGINT,
        transports JSON,
        backed_up BOOLEAN,
        trusted_from TIMESTAMPTZ,
        sealed_secret VARCHAR,
        last_step BIGINT,
        confirmed BOOLEAN
      );
      CREATE INDEX factors_user ON factors (user_id);
      CREATE TABLE recovery_codes (
        user_id VARCHAR NOT NULL,
        code_hash VARCHAR NOT NULL,
        created_at TIMESTAMPTZ NOT NULL,
        used_at TIMESTAMPTZ,
        PRIMARY KEY (user_id, code_hash)
      );
      CREATE TABLE sessions (
        id_hash VARCHAR PRIMARY KEY,
        user_id VARCHAR NOT NULL,
        created_at TIMESTAMPTZ NOT NULL,
        last_seen_at TIMESTAMPTZ NOT NULL,
        expires_at TIMESTAMPTZ NOT NULL,
        idle_timeout_ms BIGINT NOT NULL,
        method VARCHAR NOT NULL,
        step_up_at TIMESTAMPTZ,
        step_up_method VARCHAR,
        device VARCHAR NOT NULL,
        place VARCHAR NOT NULL,
        revoked_at TIMESTAMPTZ,
        revoked_reason VARCHAR
      );
      CREATE INDEX sessions_user ON sessions (user_id);
      CREATE TABLE challenges (
        id_hash VARCHAR PRIMARY KEY,
        purpose VARCHAR NOT NULL,
        user_id VARCHAR NOT NULL,
        session_id_hash VARCHAR,
        data JSON NOT NULL,
        expires_at TIMESTAMPTZ NOT NULL
      );
      CREATE TABLE devices (
        user_id VARCHAR NOT NULL,
        device_hash VARCHAR NOT NULL,
        first_seen_at TIMESTAMPTZ NOT NULL,
        last_seen_at TIMESTAMPTZ NOT NULL,
        PRIMARY KEY (user_id, device_hash)
      );
      CREATE TABLE invitations (
        id VARCHAR PRIMARY KEY,
        org_id VARCHAR NOT NULL,
        email VARCHAR NOT NULL,
        role VARCHAR NOT NULL,
        token_hash VARCHAR NOT NULL UNIQUE,
        created_by VARCHAR,
        created_at TIMESTAMPTZ NOT NULL,
        expires_at TIMESTAMPTZ NOT NULL,
        accepted_at TIMESTAMPTZ
      );
      CREATE INDEX invitations_org ON invitations (org_id);
      CREATE TABLE api_keys (
        id VARCHAR PRIMARY KEY,
        project_id VARCHAR NOT NULL,
        name VARCHAR NOT NULL,
        secret_hash VARCHAR NOT NULL UNIQUE,
        prefix VARCHAR NOT NULL,
        scopes JSON NOT NULL,
        allowed_cidrs JSON NOT NULL,
        created_by VARCHAR,
        created_at TIMESTAMPTZ NOT NULL,
        expires_at TIMESTAMPTZ,
        revoked_at TIMESTAMPTZ,
        rotated_from VARCHAR,
        last_used_at TIMESTAMPTZ,
        last_used_place VARCHAR,
        use_count BIGINT NOT NULL
      );
      CREATE INDEX api_keys_project ON api_keys (project_id);
      CREATE TABLE notices (
        id VARCHAR PRIMARY KEY,
        user_id VARCHAR NOT NULL,
        kind VARCHAR NOT NULL,
        details JSON NOT NULL,
        created_at TIMESTAMPTZ NOT NULL,
        read_at TIMESTAMPTZ
      );
      CREATE INDEX notices_user ON notices (user_id, created_at);
      CREATE TABLE saved_views (
        id VARCHAR PRIMARY KEY,
        project_id VARCHAR NOT NULL,
        name VARCHAR NOT NULL,
        query JSON NOT NULL,
        created_by VARCHAR NOT NULL,
        created_at TIMESTAMPTZ NOT NULL
      );
      CREATE INDEX saved_views_project ON saved_views (project_id);
      CREATE TABLE project_orgs (
        project_id VARCHAR PRIMARY KEY,
        org_id VARCHAR NOT NULL
      );
      CREATE INDEX project_orgs_org ON project_orgs (org_id);
      -- Every project's bootstrap secret becomes an API key (one place where keys are looked up);
      -- DuckDbMetaStore.createProject writes the same row for projects created from now on.
      INSERT INTO api_keys
        SELECT 'key_' || substr(secret_hash, 1, 16), id, 'bootstrap secret', secret_hash, 'sil_sk_',
          '["query","import","admin"]', '[]', NULL, created_at, NULL, NULL, NULL, NULL, NULL, 0
        FROM projects;
    `,
  },
  {
    version: 6,
    name: "accounts: an organisation's grant (per-membership session cut-off and suspension), setup links bound to an account",
    // Issue 9: an organisation acts on its own grant to a person, never on the account as a whole.
    sql: `
      ALTER TABLE memberships ADD COLUMN access_from TIMESTAMPTZ;
      ALTER TABLE memberships ADD COLUMN suspended_reason VARCHAR;
      ALTER TABLE invitations ADD COLUMN user_id VARCHAR;
    `,
  },
  {
    version: 7,
    name: 'audit log (hash chain), its signed head and checkpoints, suspensions',
    sql: `
      CREATE TABLE audit_log (
        seq BIGINT NOT NULL,
        at_ms BIGINT NOT NULL,
        kind VARCHAR NOT NULL,
        actor VARCHAR NOT NULL,
        org_id VARCHAR,
        project_id VARCHAR,
        source VARCHAR NOT NULL,
        country VARCHAR,
        network VARCHAR,
        outcome VARCHAR NOT NULL,
        target VARCHAR,
        detail VARCHAR NOT NULL,
        fields VARCHAR NOT NULL,
        event_names VARCHAR NOT NULL,
        row_count BIGINT NOT NULL,
        subject_count BIGINT NOT NULL,
        subjects BLOB NOT NULL,
        prev_hash VARCHAR NOT NULL,
        hash VARCHAR NOT NULL
      );
      CREATE TABLE audit_checkpoints (
        kind VARCHAR NOT NULL,
        seq BIGINT NOT NULL,
        hash VARCHAR NOT NULL,
        at_ms BIGINT NOT NULL,
        signature VARCHAR NOT NULL
      );
      CREATE TABLE audit_suspensions (
        id VARCHAR PRIMARY KEY,
        actor VARCHAR NOT NULL,
        org_id VARCHAR,
        rule VARCHAR NOT NULL,
        reason VARCHAR NOT NULL,
        created_at_ms BIGINT NOT NULL,
        lifted_at_ms BIGINT,
        lifted_by VARCHAR
      );
    `,
  },
  {
    version: 8,
    name: 'bootstrap secrets keep exactly query and import (no admin)',
    // Issue 11: the secret `project create` prints ends up in app servers for /import; leaked from
    // one, it must not read the privacy report or erase people. Projects created since then get
    // ["query","import"] (DuckDbMetaStore.createProject); this takes `admin` from older ones.
    sql: `
      UPDATE api_keys SET scopes = '["query","import"]'
        WHERE name = 'bootstrap secret' AND CAST(scopes AS VARCHAR) = '["query","import","admin"]';
    `,
  },
  {
    version: 9,
    name: 'cohorts: saved per project, defined by behaviour and person properties',
    // Issue 12. The definition is the public JSON, validated again when read (query/cohorts.ts).
    sql: `
      CREATE TABLE cohorts (
        id VARCHAR PRIMARY KEY,
        project_id VARCHAR NOT NULL,
        name VARCHAR NOT NULL,
        definition JSON NOT NULL,
        created_by VARCHAR NOT NULL,
        created_at TIMESTAMPTZ NOT NULL,
        updated_at TIMESTAMPTZ NOT NULL
      );
      CREATE INDEX cohorts_project ON cohorts (project_id);
    `,
  },
  {
    version: 10,
    name: 'events: the resolved person, kept current as identity links arrive',
    // Issue 12 (performance): queries read one column instead of joining the links per event.
    // The rule and its upkeep are in persons.ts; this fills the column for existing rows.
    sql: `
      ALTER TABLE events ADD COLUMN person_id VARCHAR;
      UPDATE events SET person_id = r.uid
        FROM (SELECT e.dedup_key, ${PERSON_OF_EVENT} AS uid
                FROM events e ${PERSON_LINK_JOINS}) r
       WHERE events.dedup_key = r.dedup_key AND r.uid IS NOT NULL;
    `,
  },
  {
    version: 11,
    name: 'person_days: the days each person was active, per project time zone',
    // Issue 12 (performance): daily, weekly and monthly active users read one row per person and
    // active day (rollups.ts). `load_seq` numbers the load that inserted a row, so that a load
    // finds its own rows (older rows: NULL; loads are numbered in increasing order, so the zone
    // maps of finished row groups skip them).
    sql: `
      ALTER TABLE events ADD COLUMN load_seq BIGINT;
      CREATE TABLE person_days (
        project_id VARCHAR NOT NULL,
        day INTEGER NOT NULL,
        person_id VARCHAR NOT NULL
      );
      CREATE TABLE person_days_state (
        project_id VARCHAR PRIMARY KEY,
        timezone VARCHAR NOT NULL,
        built_at TIMESTAMPTZ NOT NULL
      );
    `,
  },
  {
    version: 12,
    name: 'event_days: the number of events per day and event name, per project time zone',
    // Issue 12 (performance): total events by day, week or month read one row per day and event
    // (rollups.ts). It is built and kept with person_days, under one state: the projects whose
    // person_days was built are built again, both tables, on their next query.
    sql: `
      CREATE TABLE event_days (
        project_id VARCHAR NOT NULL,
        day INTEGER NOT NULL,
        event VARCHAR NOT NULL,
        n BIGINT NOT NULL,
        PRIMARY KEY (project_id, day, event)
      );
      DROP TABLE person_days_state;
      DELETE FROM person_days;
      CREATE TABLE rollups_state (
        project_id VARCHAR PRIMARY KEY,
        timezone VARCHAR NOT NULL,
        built_at TIMESTAMPTZ NOT NULL
      );
    `,
  },
  {
    version: 13,
    name: 'events without the unique index on dedup_key (a load looks keys up by time instead)',
    // Issues 10, 12 and 16: DuckDB holds a unique index in memory whole (~40 bytes per stored
    // event, 400 MB at 10M) and rewrote all of it at each checkpoint: at 10M events a load of a
    // few thousand rows took 5–12 s, and queries waited behind it. A load now skips stored keys
    // by looking only at rows within its own first and last instants (batch-apply.ts
    // INSERT_NEW_SQL). DuckDB cannot drop a primary key, so the table is copied (about a minute per
    // 10M events, once) with the same columns and constraints but the key.
    sql: `
      CREATE TABLE events_unkeyed (
        project_id VARCHAR NOT NULL,
        dedup_key UHUGEINT NOT NULL,
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
        received_at TIMESTAMPTZ NOT NULL,
        person_id VARCHAR,
        load_seq BIGINT
      );
      INSERT INTO events_unkeyed
        SELECT project_id, dedup_key, time, event, distinct_id, device_id, user_id, insert_id,
               browser, browser_version, os, device_type, country_code, region, city,
               referring_domain, current_url, utm_source, utm_medium, utm_campaign, utm_content,
               utm_term, lib, properties, received_at, person_id, load_seq
          FROM events;
      DROP TABLE events;
      ALTER TABLE events_unkeyed RENAME TO events;
    `,
  },
  {
    version: 14,
    name: 'value_days: per day and value of the standard columns, its events and its persons',
    // Issue 12 (performance): unique users broken down by `$browser`, `$os`, `$device_type` or the
    // country read about one row per person, active day and value instead of every event; the
    // values are ranked by their events per day (rollups.ts). A key cannot hold a NULL, so a
    // count of events without the value is `is_set` false and `value` ''. Kept under the same state as
    // person_days and event_days: every built project is built again, all four tables, on its
    // next query.
    sql: `
      CREATE TABLE value_days (
        project_id VARCHAR NOT NULL,
        col VARCHAR NOT NULL,
        day INTEGER NOT NULL,
        is_set BOOLEAN NOT NULL,
        value VARCHAR NOT NULL,
        n BIGINT NOT NULL,
        PRIMARY KEY (project_id, col, day, is_set, value)
      );
      CREATE TABLE person_value_days (
        project_id VARCHAR NOT NULL,
        col VARCHAR NOT NULL,
        day INTEGER NOT NULL,
        value VARCHAR,
        person_id VARCHAR NOT NULL
      );
      DELETE FROM person_days;
      DELETE FROM event_days;
      DELETE FROM rollups_state;
    `,
  },
  {
    version: 15,
    name: 'person_event_days: per event name, day and person, the first instant and its values',
    // Issue 12 (performance): retention reads one row per person, active day and event name
    // instead of every event (rollups.ts): the first instant of the day's events of that name,
    // for the cohort's period and first-ever start, and the values of the standard columns on
    // them, for its segment. Kept under the same state as the other four: every built project
    // is built again, all five tables, on its next query. The value columns are those of
    // VALUE_DAYS_COLUMNS (query/plan.ts) as they were then.
    sql: `
      CREATE TABLE person_event_days (
        project_id VARCHAR NOT NULL,
        event VARCHAR NOT NULL,
        day INTEGER NOT NULL,
        person_id VARCHAR NOT NULL,
        first_ms BIGINT NOT NULL,
        browser VARCHAR,
        os VARCHAR,
        device_type VARCHAR,
        country_code VARCHAR
      );
      DELETE FROM person_days;
      DELETE FROM event_days;
      DELETE FROM value_days;
      DELETE FROM person_value_days;
      DELETE FROM rollups_state;
    `,
  },
];

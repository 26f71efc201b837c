// PostgreSQL schema of the metadata side, as ordered migrations. Times are BIGINT epoch
// milliseconds (exact round trip, no time-zone conversion on the way), binary values BYTEA, JSON
// documents TEXT written and read by the adapter. Events stay on the events store.
export const POSTGRES_MIGRATIONS: readonly { version: number; name: string; sql: string }[] = [
  {
    version: 1,
    name: 'projects, wrapped keys, settings, policies, vault, accounts',
    sql: `
      CREATE TABLE projects (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        token TEXT NOT NULL UNIQUE,
        secret_hash TEXT NOT NULL,
        timezone TEXT NOT NULL,
        created_at BIGINT NOT NULL
      );
      CREATE INDEX projects_secret_hash ON projects (secret_hash);
      CREATE TABLE project_keys (
        project_id TEXT NOT NULL,
        purpose TEXT NOT NULL,
        version INTEGER NOT NULL,
        wrapped BYTEA NOT NULL,
        created_at BIGINT NOT NULL,
        PRIMARY KEY (project_id, purpose, version)
      );
      CREATE TABLE settings (
        name TEXT PRIMARY KEY,
        value TEXT NOT NULL
      );
      CREATE TABLE project_policies (
        project_id TEXT PRIMARY KEY,
        policy TEXT NOT NULL,
        updated_at BIGINT NOT NULL
      );
      CREATE TABLE policy_changes (
        seq BIGSERIAL PRIMARY KEY,
        project_id TEXT NOT NULL,
        actor TEXT NOT NULL,
        changed_at BIGINT NOT NULL,
        policy_before TEXT,
        policy_after TEXT NOT NULL
      );
      CREATE INDEX policy_changes_project ON policy_changes (project_id, changed_at);
      CREATE TABLE vault_subject_keys (
        project_id TEXT NOT NULL,
        subject_id TEXT NOT NULL,
        vault_key_version INTEGER NOT NULL,
        wrapped BYTEA NOT NULL,
        created_at BIGINT NOT NULL,
        PRIMARY KEY (project_id, subject_id)
      );
      CREATE TABLE vault_values (
        project_id TEXT NOT NULL,
        subject_id TEXT NOT NULL,
        property TEXT NOT NULL,
        sealed TEXT NOT NULL,
        updated_at BIGINT NOT NULL,
        PRIMARY KEY (project_id, subject_id, property)
      );
      CREATE TABLE orgs (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        policy TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        locked_down_at BIGINT,
        locked_down_by TEXT
      );
      CREATE TABLE users (
        id TEXT PRIMARY KEY,
        email TEXT NOT NULL UNIQUE,
        password_hash TEXT,
        status TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        failed_attempts INTEGER NOT NULL,
        locked_until BIGINT NOT NULL
      );
      CREATE TABLE memberships (
        org_id TEXT NOT NULL,
        user_id TEXT NOT NULL,
        role TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        access_from BIGINT,
        suspended_reason TEXT,
        PRIMARY KEY (org_id, user_id)
      );
      CREATE INDEX memberships_user ON memberships (user_id);
      CREATE TABLE factors (
        id TEXT PRIMARY KEY,
        user_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        label TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        last_used_at BIGINT,
        credential_id TEXT UNIQUE,
        public_key BYTEA,
        counter BIGINT,
        transports TEXT,
        backed_up BOOLEAN,
        trusted_from BIGINT,
        sealed_secret TEXT,
        last_step BIGINT,
        confirmed BOOLEAN
      );
      CREATE INDEX factors_user ON factors (user_id);
      CREATE TABLE recovery_codes (
        user_id TEXT NOT NULL,
        code_hash TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        used_at BIGINT,
        PRIMARY KEY (user_id, code_hash)
      );
      CREATE TABLE sessions (
        id_hash TEXT PRIMARY KEY,
        user_id TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        last_seen_at BIGINT NOT NULL,
        expires_at BIGINT NOT NULL,
        idle_timeout_ms BIGINT NOT NULL,
        method TEXT NOT NULL,
        step_up_at BIGINT,
        step_up_method TEXT,
        device TEXT NOT NULL,
        place TEXT NOT NULL,
        revoked_at BIGINT,
        revoked_reason TEXT
      );
      CREATE INDEX sessions_user ON sessions (user_id);
      CREATE TABLE challenges (
        id_hash TEXT PRIMARY KEY,
        purpose TEXT NOT NULL,
        user_id TEXT NOT NULL,
        session_id_hash TEXT,
        data TEXT NOT NULL,
        expires_at BIGINT NOT NULL
      );
      CREATE TABLE devices (
        user_id TEXT NOT NULL,
        device_hash TEXT NOT NULL,
        first_seen_at BIGINT NOT NULL,
        last_seen_at BIGINT NOT NULL,
        PRIMARY KEY (user_id, device_hash)
      );
      CREATE TABLE invitations (
        id TEXT PRIMARY KEY,
        org_id TEXT NOT NULL,
        email TEXT NOT NULL,
        role TEXT NOT NULL,
        token_hash TEXT NOT NULL UNIQUE,
        created_by TEXT,
        created_at BIGINT NOT NULL,
        expires_at BIGINT NOT NULL,
        accepted_at BIGINT,
        user_id TEXT
      );
      CREATE INDEX invitations_org ON invitations (org_id);
      CREATE TABLE api_keys (
        id TEXT PRIMARY KEY,
        project_id TEXT NOT NULL,
        name TEXT NOT NULL,
        secret_hash TEXT NOT NULL UNIQUE,
        prefix TEXT NOT NULL,
        scopes TEXT NOT NULL,
        allowed_cidrs TEXT NOT NULL,
        created_by TEXT,
        created_at BIGINT NOT NULL,
        expires_at BIGINT,
        revoked_at BIGINT,
        rotated_from TEXT,
        last_used_at BIGINT,
        last_used_place TEXT,
        use_count BIGINT NOT NULL
      );
      CREATE INDEX api_keys_project ON api_keys (project_id);
      CREATE TABLE notices (
        id TEXT PRIMARY KEY,
        user_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        details TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        read_at BIGINT
      );
      CREATE INDEX notices_user ON notices (user_id, created_at);
      CREATE TABLE saved_views (
        id TEXT PRIMARY KEY,
        project_id TEXT NOT NULL,
        name TEXT NOT NULL,
        query TEXT NOT NULL,
        created_by TEXT NOT NULL,
        created_at BIGINT NOT NULL
      );
      CREATE INDEX saved_views_project ON saved_views (project_id);
      CREATE TABLE project_orgs (
        project_id TEXT PRIMARY KEY,
        org_id TEXT NOT NULL
      );
      CREATE INDEX project_orgs_org ON project_orgs (org_id);
    `,
  },
  {
    version: 2,
    name: 'cohorts: saved per project, defined by behaviour and person properties',
    // Issue 12 (DuckDB migration 9). The definition is JSON text, validated again when read.
    sql: `
      CREATE TABLE cohorts (
        id TEXT PRIMARY KEY,
        project_id TEXT NOT NULL,
        name TEXT NOT NULL,
        definition TEXT NOT NULL,
        created_by TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL
      );
      CREATE INDEX cohorts_project ON cohorts (project_id);
    `,
  },
  {
    version: 3,
    name: 'audit log shared by every node: one hash chain, its signed head and checkpoints, suspensions, trigger claims',
    // Issue 13 (DuckDB migration 7, plus claims). One chain for the cluster: appends take an
    // advisory lock, so `seq` is dense and commits in order (followers read it as a cursor).
    sql: `
      CREATE TABLE audit_log (
        seq BIGINT PRIMARY KEY,
        at_ms BIGINT NOT NULL,
        kind TEXT NOT NULL,
        actor TEXT NOT NULL,
        org_id TEXT,
        project_id TEXT,
        source TEXT NOT NULL,
        country TEXT,
        network TEXT,
        outcome TEXT NOT NULL,
        target TEXT,
        detail TEXT NOT NULL,
        fields TEXT NOT NULL,
        event_names TEXT NOT NULL,
        row_count BIGINT NOT NULL,
        subject_count BIGINT NOT NULL,
        subjects BYTEA NOT NULL,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL
      );
      CREATE INDEX audit_log_time ON audit_log (at_ms);
      CREATE INDEX audit_log_actor ON audit_log (actor, at_ms);
      CREATE TABLE audit_checkpoints (
        kind TEXT NOT NULL,
        seq BIGINT NOT NULL,
        hash TEXT NOT NULL,
        at_ms BIGINT NOT NULL,
        signature TEXT NOT NULL
      );
      CREATE INDEX audit_checkpoints_kind ON audit_checkpoints (kind, seq);
      CREATE TABLE audit_suspensions (
        id TEXT PRIMARY KEY,
        actor TEXT NOT NULL,
        org_id TEXT,
        rule TEXT NOT NULL,
        reason TEXT NOT NULL,
        created_at_ms BIGINT NOT NULL,
        lifted_at_ms BIGINT,
        lifted_by TEXT
      );
      CREATE TABLE audit_trigger_claims (
        key TEXT PRIMARY KEY,
        at_ms BIGINT NOT NULL
      );
    `,
  },
  {
    version: 4,
    name: 'several nodes: change notifications for cached project state, shared sign-in throttling',
    // Issue 15. Every node caches each project's record, wrapped keys and policy; a trigger
    // announces each change on channel sillage_meta (delivered at commit) and every node
    // drops its copy. Per-source sign-in failures (a keyed hash of the address, never the
    // address) are shared so that an attacker cannot spread guesses over nodes.
    sql: `
      CREATE FUNCTION sillage_notify_project() RETURNS trigger AS $$
      BEGIN
        IF TG_TABLE_NAME = 'projects' THEN
          PERFORM pg_notify('sillage_meta', COALESCE(NEW.id, OLD.id));
        ELSE
          PERFORM pg_notify('sillage_meta', COALESCE(NEW.project_id, OLD.project_id));
        END IF;
        RETURN NULL;
      END;
      $$ LANGUAGE plpgsql;
      CREATE TRIGGER projects_changed AFTER INSERT OR UPDATE OR DELETE ON projects
        FOR EACH ROW EXECUTE FUNCTION sillage_notify_project();
      CREATE TRIGGER project_keys_changed AFTER INSERT OR UPDATE OR DELETE ON project_keys
        FOR EACH ROW EXECUTE FUNCTION sillage_notify_project();
      CREATE TRIGGER project_policies_changed AFTER INSERT OR UPDATE OR DELETE ON project_policies
        FOR EACH ROW EXECUTE FUNCTION sillage_notify_project();
      CREATE TABLE sign_in_source_failures (
        source_key TEXT NOT NULL,
        account TEXT NOT NULL,
        at_ms BIGINT NOT NULL
      );
      CREATE INDEX sign_in_source_failures_key ON sign_in_source_failures (source_key, at_ms);
      CREATE INDEX sign_in_source_failures_at ON sign_in_source_failures (at_ms);
      CREATE TABLE sign_in_source_blocks (
        source_key TEXT PRIMARY KEY,
        blocked_until_ms BIGINT NOT NULL
      );
    `,
  },
];

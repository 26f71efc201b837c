// Projects: creation (ids, tokens, secrets, wrapped keys) and the cached directory the ingest
// path uses to turn a token into everything needed to process an event for that project.
import { randomBytes } from 'node:crypto';
import { hashToken, newToken, SECRET_KEY_PREFIX } from '../auth/tokens.js';
import {
  DEFAULT_POLICY,
  ProjectKeyring,
  createPseudonymiser,
  generateProjectKeys,
  parsePolicy,
  type PrivacyPolicy,
  type Pseudonymiser,
} from '../privacy/index.js';
import { AppError } from '../shared/errors.js';
import type { ApiKeyRecord, MetaStore, ProjectRecord } from '../store/index.js';

/** Everything the pipeline needs about one project, resolved once and cached. */
export interface ProjectContext {
  project: ProjectRecord;
  policy: PrivacyPolicy;
  keyring: ProjectKeyring;
  /** HMAC pseudonym of an identifier under the project's current pseudonym key. */
  pseudonymise: Pseudonymiser;
  /**
   * Always empty: group keys come from the policy only, never from traffic (issue 11). Kept until
   * the worker protocol (ingest/event-workers.ts), which compares its size, drops it.
   */
  groupKeys: Set<string>;
  /** The pseudonymiser of an older key version (erasure and matching across rotations). */
  pseudonymiserFor(version: number): Pseudonymiser;
}

/** What `sillage project create --json` prints. The secret is shown once and stored hashed. */
export interface CreatedProject {
  project_id: string;
  token: string;
  secret: string;
}

const NEGATIVE_CACHE_MS = 5_000;

/** The bootstrap secret is an API key like any other (as migration 5 did for older projects). */
function bootstrapApiKey(project: ProjectRecord): ApiKeyRecord {
  return {
    id: `key_${project.secretHash.slice(0, 16)}`,
    projectId: project.id,
    name: 'bootstrap secret',
    secretHash: project.secretHash,
    prefix: SECRET_KEY_PREFIX,
    scopes: ['query', 'import'],
    allowedCidrs: [],
    createdBy: null,
    createdAtMs: project.createdAtMs,
    expiresAtMs: null,
    revokedAtMs: null,
    rotatedFrom: null,
    lastUsedAtMs: null,
    lastUsedPlace: null,
    useCount: 0,
  };
}

/** Resolves tokens, ids and secrets to project contexts, with caching on the hot path. */
export class ProjectDirectory {
  private readonly byTokenCache = new Map<string, ProjectContext>();
  private readonly byIdCache = new Map<string, ProjectContext>();
  private readonly loadedAt = new WeakMap<ProjectContext, number>();
  private readonly unknownTokens = new Map<string, number>();
  /** Counts invalidations (see `load`). */
  private generation = 0;

  /**
   * `maxAgeMs`: a cached context older than this is loaded again (default: never). With a
   * metadata database several nodes share, changes arrive through `invalidate` (the store's
   * change feed) and this bounds how long a missed announcement can go unnoticed.
   */
  constructor(
    private readonly meta: MetaStore,
    private readonly masterKey: Buffer,
    private readonly maxAgeMs = Infinity,
  ) {}

  /** The cached context, unless it is older than `maxAgeMs` (then forgotten). */
  private fresh(context: ProjectContext | undefined): ProjectContext | undefined {
    if (!context || this.maxAgeMs === Infinity) return context;
    if (Date.now() - (this.loadedAt.get(context) ?? 0) <= this.maxAgeMs) return context;
    this.invalidate(context.project.id);
    return undefined;
  }

  /** Creates a project with fresh token, secret and wrapped keys. */
  async create(
    name: string,
    options: { timezone?: string; nowMs?: number } = {},
  ): Promise<CreatedProject> {
    const nowMs = options.nowMs ?? Date.now();
    const id = `prj_${randomBytes(8).toString('hex')}`;
    const token = randomBytes(16).toString('hex');
    const secret = newToken(32, SECRET_KEY_PREFIX);
    const project: ProjectRecord = {
      id,
      name,
      token,
      secretHash: hashToken(secret),
      timezone: options.timezone ?? 'UTC',
      createdAtMs: nowMs,
    };
    await this.meta.createProject(
      project,
      generateProjectKeys(this.masterKey, id, nowMs),
      bootstrapApiKey(project),
    );
    return { project_id: id, token, secret };
  }

  private async load(project: ProjectRecord | null): Promise<ProjectContext | null> {
    if (!project) return null;
    const cached = this.fresh(this.byIdCache.get(project.id));
    if (cached) return cached;
    // A change announced while this load reads must not be cached over (it read the old state).
    const generation = this.generation;
    const keyring = ProjectKeyring.open(this.masterKey, await this.meta.listKeys(project.id));
    const stored = await this.meta.getPolicy(project.id);
    const policy = stored ? parsePolicy(stored) : DEFAULT_POLICY;
    const context: ProjectContext = {
      project,
      policy,
      keyring,
      pseudonymise: createPseudonymiser(keyring.current('pseudonym').key),
      groupKeys: new Set(),
      pseudonymiserFor: (version) => {
        const key = keyring.byVersion('pseudonym', version);
        if (!key) throw new AppError('PROJECT_KEY_INVALID', 'no pseudonym key of that version');
        return createPseudonymiser(key.key, { cacheSize: 0 });
      },
    };
    if (generation !== this.generation) return context;
    this.loadedAt.set(context, Date.now());
    this.byIdCache.set(project.id, context);
    this.byTokenCache.set(project.token, context);
    return context;
  }

  async byToken(token: string): Promise<ProjectContext | null> {
    const hit = this.fresh(this.byTokenCache.get(token));
    if (hit) return hit;
    const missAt = this.unknownTokens.get(token);
    if (missAt !== undefined && Date.now() - missAt < NEGATIVE_CACHE_MS) return null;
    const context = await this.load(await this.meta.findProjectByToken(token));
    if (!context) {
      // Bounded: a flood of random tokens cannot grow this map without limit.
      if (this.unknownTokens.size > 10_000) this.unknownTokens.clear();
      this.unknownTokens.set(token, Date.now());
    }
    return context;
  }

  async byId(id: string): Promise<ProjectContext | null> {
    return this.fresh(this.byIdCache.get(id)) ?? this.load(await this.meta.getProject(id));
  }

  /** Drops cached contexts (after a policy or key change). */
  invalidate(projectId: string): void {
    this.generation++;
    // A new project's token may sit in the negative cache.
    this.unknownTokens.clear();
    const cached = this.byIdCache.get(projectId);
    if (cached) this.byTokenCache.delete(cached.project.token);
    this.byIdCache.delete(projectId);
  }

  /** Drops every cached context and forgotten token (another node may have changed anything). */
  invalidateAll(): void {
    this.generation++;
    this.byIdCache.clear();
    this.byTokenCache.clear();
    this.unknownTokens.clear();
  }
}

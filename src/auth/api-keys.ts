// Secret API keys: scoped, bound to one project, optionally expiring and limited to networks;
// shown once, stored as a hash, recognisable by prefix, rotated with an overlap, revoked at once.
import ipaddr from 'ipaddr.js';
import { AppError } from '../shared/errors.js';
import type { ApiKeyRecord, KeyScope } from '../store/account-types.js';
import type { AuthDeps, ClientInfo, KeyPrincipal } from './context.js';
import { hashToken, newId, newToken, SECRET_KEY_PREFIX } from './tokens.js';

/** Characters of the secret kept for display, prefix included ('sil_sk_AbCd'). */
const DISPLAY_PREFIX_LENGTH = SECRET_KEY_PREFIX.length + 4;

/** Default overlap of a rotation: the old key keeps working this long. */
export const DEFAULT_ROTATION_OVERLAP_MS = 24 * 3_600_000;

/** Throws REQUEST_INVALID naming the first entry that is not a CIDR (or a single address). */
export function validateCidrs(cidrs: readonly string[]): string[] {
  return cidrs.map((entry, i) => {
    try {
      if (entry.includes('/')) {
        const [address, bits] = ipaddr.parseCIDR(entry);
        return `${address.toString()}/${bits}`;
      }
      const address = ipaddr.parse(entry);
      return `${address.toString()}/${address.kind() === 'ipv4' ? 32 : 128}`;
    } catch {
      throw new AppError('REQUEST_INVALID', 'not a network address or CIDR', {
        details: [{ path: `allowed_cidrs.${i}`, message: 'expected e.g. 203.0.113.0/24' }],
      });
    }
  });
}

function ipAllowed(ip: string | null, cidrs: readonly string[]): boolean {
  if (cidrs.length === 0) return true;
  if (ip === null) return false;
  let address: ipaddr.IPv4 | ipaddr.IPv6;
  try {
    address = ipaddr.process(ip);
  } catch {
    return false;
  }
  return cidrs.some((cidr) => {
    const [range, bits] = ipaddr.parseCIDR(cidr);
    const candidate =
      address.kind() === range.kind()
        ? address
        : address.kind() === 'ipv4'
          ? (address as ipaddr.IPv4).toIPv4MappedAddress()
          : null;
    return candidate !== null && candidate.kind() === range.kind() && candidate.match(range, bits);
  });
}

/** A key as listed: never the secret or its hash. */
export interface KeyView {
  id: string;
  name: string;
  prefix: string;
  project_id: string;
  scopes: KeyScope[];
  allowed_cidrs: string[];
  created_at: string;
  expires_at: string | null;
  revoked_at: string | null;
  rotated_from: string | null;
  last_used_at: string | null;
  last_used_place: string | null;
  use_count: number;
  status: 'active' | 'expired' | 'revoked';
}

export function keyView(key: ApiKeyRecord, nowMs: number): KeyView {
  const iso = (ms: number | null): string | null =>
    ms === null ? null : new Date(ms).toISOString();
  return {
    id: key.id,
    name: key.name,
    prefix: key.prefix,
    project_id: key.projectId,
    scopes: key.scopes,
    allowed_cidrs: key.allowedCidrs,
    created_at: new Date(key.createdAtMs).toISOString(),
    expires_at: iso(key.expiresAtMs),
    revoked_at: iso(key.revokedAtMs),
    rotated_from: key.rotatedFrom,
    last_used_at: iso(key.lastUsedAtMs),
    last_used_place: key.lastUsedPlace,
    use_count: key.useCount,
    status:
      key.revokedAtMs !== null
        ? 'revoked'
        : key.expiresAtMs !== null && key.expiresAtMs <= nowMs
          ? 'expired'
          : 'active',
  };
}

export interface NewKey {
  name: string;
  scopes: KeyScope[];
  expiresAtMs: number | null;
  allowedCidrs: string[];
}

/** Creates a key; the secret is returned once and only its hash is kept. */
export async function createApiKey(
  deps: AuthDeps,
  projectId: string,
  spec: NewKey,
  createdBy: string | null,
  rotatedFrom: string | null = null,
): Promise<{ key: ApiKeyRecord; secret: string }> {
  const now = deps.now();
  if (spec.expiresAtMs !== null && spec.expiresAtMs <= now) {
    throw new AppError('REQUEST_INVALID', 'the expiry is in the past', {
      details: [{ path: 'expires_at', message: 'must be in the future' }],
    });
  }
  const secret = newToken(32, SECRET_KEY_PREFIX);
  const key: ApiKeyRecord = {
    id: newId('key'),
    projectId,
    name: spec.name,
    secretHash: hashToken(secret),
    prefix: secret.slice(0, DISPLAY_PREFIX_LENGTH),
    scopes: [...new Set(spec.scopes)].sort(),
    allowedCidrs: validateCidrs(spec.allowedCidrs),
    createdBy,
    createdAtMs: now,
    expiresAtMs: spec.expiresAtMs,
    revokedAtMs: null,
    rotatedFrom,
    lastUsedAtMs: null,
    lastUsedPlace: null,
    useCount: 0,
  };
  await deps.store.createApiKey(key);
  deps.logger.info('key created', {
    projectId,
    actor: `key:${key.id}`,
    kind: key.scopes.join(','),
  });
  return { key, secret };
}

/** A key of the project, or NOT_FOUND (keys of other projects are not found, not forbidden). */
export async function projectKey(
  deps: AuthDeps,
  projectId: string,
  keyId: string,
): Promise<ApiKeyRecord> {
  const key = await deps.store.getApiKey(keyId);
  if (!key || key.projectId !== projectId) throw new AppError('NOT_FOUND', 'no such key');
  return key;
}

/**
 * Rotation: a new key with the same scopes and networks; the old one keeps working for the
 * overlap (so deployments can switch) and then expires.
 */
export async function rotateApiKey(
  deps: AuthDeps,
  old: ApiKeyRecord,
  overlapMs: number,
  createdBy: string | null,
): Promise<{ key: ApiKeyRecord; secret: string }> {
  const now = deps.now();
  if (old.revokedAtMs !== null || (old.expiresAtMs !== null && old.expiresAtMs <= now)) {
    throw new AppError('CONFLICT', 'a revoked or expired key cannot be rotated');
  }
  const created = await createApiKey(
    deps,
    old.projectId,
    {
      name: old.name,
      scopes: old.scopes,
      expiresAtMs:
        old.expiresAtMs !== null && old.expiresAtMs > now + overlapMs ? old.expiresAtMs : null,
      allowedCidrs: old.allowedCidrs,
    },
    createdBy,
    old.id,
  );
  const oldEnd = now + overlapMs;
  if (old.expiresAtMs === null || old.expiresAtMs > oldEnd) {
    await deps.store.setApiKeyExpiry(old.id, oldEnd);
  }
  return created;
}

export async function revokeApiKey(deps: AuthDeps, key: ApiKeyRecord): Promise<void> {
  if (key.revokedAtMs === null) await deps.store.revokeApiKey(key.id, deps.now());
  deps.logger.warn('key revoked', { projectId: key.projectId, actor: `key:${key.id}` });
}

/**
 * Resolves a secret to its key: unknown, revoked, expired and off-network keys are refused with
 * a message that says which (the caller holds the secret, so nothing is disclosed). Every use is
 * counted with its time and coarse place.
 */
export async function authenticateApiKey(
  deps: AuthDeps,
  secret: string,
  client: ClientInfo,
): Promise<KeyPrincipal> {
  if (!secret.startsWith(SECRET_KEY_PREFIX) || secret.length > 200) {
    throw new AppError('AUTH_REQUIRED', 'invalid secret key');
  }
  const key = await deps.store.findApiKeyByHash(hashToken(secret));
  const now = deps.now();
  if (!key) throw new AppError('AUTH_REQUIRED', 'invalid secret key');
  if (key.revokedAtMs !== null) throw new AppError('AUTH_REQUIRED', 'this key was revoked');
  if (key.expiresAtMs !== null && key.expiresAtMs <= now) {
    throw new AppError('AUTH_REQUIRED', 'this key has expired');
  }
  if (!ipAllowed(client.ip, key.allowedCidrs)) {
    deps.logger.warn('key refused', { actor: `key:${key.id}`, outcome: 'network' });
    throw new AppError('AUTH_FORBIDDEN', 'this key may not be used from this network');
  }
  await deps.store.recordApiKeyUse(key.id, now, client.place);
  return { kind: 'api-key', key, actor: `key:${key.id}` };
}

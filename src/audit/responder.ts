// What happens when detection fires: the alert goes on the record, every owner of the
// organisation is told (in-app notice, e-mail through the notices outbox when SMTP is configured,
// a signed webhook), and under the default policy the principal — its sessions, and for a person
// the keys they created — is suspended until an owner lifts it (a person's open invitations are
// withdrawn).
import { randomBytes } from 'node:crypto';
import type { Notifier } from '../auth/notifier.js';
import { AppError } from '../shared/errors.js';
import type { Logger } from '../shared/log.js';
import type { AccountStore } from '../store/account-types.js';
import type { AuditLog } from './audit-log.js';
import type { Trigger } from './detector.js';
import type { Actor, SuspensionRecord } from './types.js';

export interface ResponderDeps {
  audit: AuditLog;
  accounts: AccountStore;
  notifier: Notifier;
  logger: Logger;
  /** Suspend on `suspend` triggers (SILLAGE_AUDIT_SUSPEND, on by default). */
  suspend: boolean;
  webhookUrl: string | undefined;
  now: () => number;
}

/** Posts a JSON body signed with the audit signing key (Ed25519); retries a few times. */
export async function postSigned(
  audit: AuditLog,
  url: string,
  body: unknown,
  logger: Logger,
  attempts = 3,
): Promise<boolean> {
  const payload = Buffer.from(JSON.stringify(body));
  for (let i = 0; i < attempts; i++) {
    try {
      const res = await fetch(url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'x-sillage-signature': `ed25519=${audit.signer.signBytes(payload)}`,
        },
        body: payload,
        signal: AbortSignal.timeout(5_000),
      });
      if (res.ok) return true;
    } catch {
      // retried below
    }
    await new Promise((r) => setTimeout(r, 500 * (i + 1)));
  }
  logger.warn('audit webhook not delivered', { outcome: 'failure' });
  return false;
}

export class AlertResponder {
  constructor(private readonly deps: ResponderDeps) {}

  private async orgsOf(t: Trigger): Promise<string[]> {
    if (t.orgId) return [t.orgId];
    if (t.actor.startsWith('user:'))
      return (await this.deps.accounts.listMemberships(t.actor.slice(5))).map((m) => m.orgId);
    return [];
  }

  /** Handles one trigger; never throws (each step is logged on failure). */
  async handle(t: Trigger): Promise<void> {
    const { audit, accounts, logger } = this.deps;
    let suspended = false;
    try {
      const orgs = await this.orgsOf(t);
      let heldIn: string[] = [];
      if (t.severity === 'suspend' && this.deps.suspend && !audit.isSuspended(t.actor)) {
        heldIn = await this.suspend(t, orgs[0] ?? null);
        suspended = true;
      }
      // The organisations where a key of the person was held are told too (their owners decide
      // about it), without the project of the organisation the trigger came from.
      const told = [...orgs, ...heldIn.filter((o) => !orgs.includes(o))];
      for (const orgId of told.length ? told : [null]) {
        await audit.record({
          kind: 'alert',
          actor: 'system',
          orgId,
          projectId: orgId === null || orgs.includes(orgId) ? t.projectId : null,
          target: t.actor,
          detail: { rule: t.rule, severity: t.severity, reason: t.reason, seq: t.seq, suspended },
        });
      }
      const label = await this.label(t.actor);
      for (const orgId of told) {
        const org = await accounts.getOrg(orgId);
        const owners = (await accounts.listMembers(orgId)).filter((m) => m.role === 'owner');
        for (const m of owners) {
          const user = await accounts.getUser(m.userId);
          if (user)
            await this.deps.notifier.notify(user, 'access_alert', {
              actor: label,
              ...(org ? { orgName: org.name } : {}),
              alert: `${t.rule}: ${t.reason}`,
              suspended,
            });
        }
      }
      if (this.deps.webhookUrl) {
        void postSigned(
          audit,
          this.deps.webhookUrl,
          {
            type: 'sillage.access_alert',
            rule: t.rule,
            severity: t.severity,
            principal: t.actor,
            org_ids: told,
            project_id: t.projectId,
            audit_seq: t.seq,
            at: new Date(t.atMs).toISOString(),
            reason: t.reason,
            suspended,
          },
          logger,
        );
      }
    } catch (error) {
      logger.error('audit alert not handled', {
        code: error instanceof AppError ? error.code : 'INTERNAL',
        kind: t.rule,
      });
    }
  }

  /** The e-mail of a person (owners know them), or the key's name. */
  private async label(actor: string): Promise<string> {
    if (actor.startsWith('user:'))
      return (await this.deps.accounts.getUser(actor.slice(5)))?.email ?? actor;
    if (actor.startsWith('key:')) {
      const key = await this.deps.accounts.getApiKey(actor.slice(4));
      return key ? `API key "${key.name}"` : actor;
    }
    return actor;
  }

  /** Holds the principal (and a person's keys); answers the organisations holds were filed in. */
  private async suspend(t: Trigger, orgId: string | null): Promise<string[]> {
    const { audit, accounts } = this.deps;
    const now = this.deps.now();
    const holds: { actor: string; orgId: string | null }[] = [{ actor: t.actor, orgId }];
    if (t.actor.startsWith('user:')) {
      // Every key the person created, in each of their organisations: a key of another
      // organisation's project reads that organisation's data all the same. Each key's hold is
      // filed under the key's own organisation, whose owners see it and decide.
      const userId = t.actor.slice(5);
      const orgIds = new Set((await accounts.listMemberships(userId)).map((m) => m.orgId));
      if (orgId) orgIds.add(orgId);
      for (const keyOrg of orgIds) {
        for (const projectId of await accounts.listOrgProjects(keyOrg))
          for (const key of await accounts.listApiKeys(projectId))
            if (key.createdBy === userId && key.revokedAtMs === null)
              holds.push({ actor: `key:${key.id}`, orgId: keyOrg });
        // The invitations they sent and nobody has joined by yet are withdrawn (a setup begun with
        // one stops too): a link planted before detection would otherwise let its holder in.
        for (const invitation of await accounts.listInvitations(keyOrg)) {
          if (invitation.createdBy !== userId) continue;
          const invitee = await accounts.findUserByEmail(invitation.email);
          const joined =
            invitee !== null &&
            (await accounts.listMemberships(invitee.id)).some((m) => m.orgId === keyOrg);
          if (!joined) await accounts.deleteInvitation(invitation.id);
        }
      }
    }
    for (const { actor, orgId: holdOrg } of holds) {
      const record: SuspensionRecord = {
        id: `sus_${randomBytes(8).toString('hex')}`,
        actor,
        orgId: holdOrg,
        rule: t.rule,
        reason: t.reason,
        createdAtMs: now,
        liftedAtMs: null,
        liftedBy: null,
      };
      await audit.store.putSuspension(record);
      audit.markSuspended([actor], true);
      await audit.record({
        kind: 'suspension',
        actor: 'system',
        orgId: holdOrg,
        target: actor,
        detail: { id: record.id, rule: t.rule, reason: t.reason },
      });
    }
    if (t.actor.startsWith('user:'))
      await accounts.revokeSessions(
        { userId: t.actor.slice(5) },
        now,
        'suspended after unusual access',
      );
    return [...new Set(holds.flatMap((h) => (h.orgId === null ? [] : [h.orgId])))];
  }
}

/** Lifts a suspension (an owner's decision); recorded. */
export async function liftSuspension(
  audit: AuditLog,
  id: string,
  orgId: string,
  by: Actor,
  now: number,
): Promise<SuspensionRecord> {
  const all = await audit.store.listSuspensions(false);
  const s = all.find((x) => x.id === id && x.orgId === orgId);
  if (!s || s.liftedAtMs !== null) throw new AppError('NOT_FOUND', 'no such active suspension');
  await audit.store.liftSuspension(id, now, by.actor);
  const stillHeld = all.some((x) => x.id !== id && x.actor === s.actor && x.liftedAtMs === null);
  if (!stillHeld) audit.markSuspended([s.actor], false);
  await audit.record({
    kind: 'suspension_lifted',
    actor: by.actor,
    orgId,
    source: by.source,
    target: s.actor,
    detail: { id },
  });
  return { ...s, liftedAtMs: now, liftedBy: by.actor };
}

/**
 * Copies the signed head off-box (a file of JSON lines, a webhook): whoever keeps these copies can
 * later prove a rolled-back or rewritten log (Crosby & Wallach; ASVS 16.4.3) with
 * `sillage audit verify --checkpoints <file>`. Pushes nothing when the head has not moved since
 * `afterSeq`; returns the sequence number pushed (or null).
 */
export async function pushCheckpoint(
  audit: AuditLog,
  target: { file: string | undefined; url: string | undefined },
  logger: Logger,
  afterSeq = 0,
): Promise<number | null> {
  const head = await audit.store.head();
  if (!head || head.seq <= afterSeq) return null;
  const body = {
    type: 'sillage.audit_checkpoint',
    seq: head.seq,
    hash: head.hash,
    at: new Date(head.atMs).toISOString(),
    signature: head.signature,
    public_key: audit.signer.publicKeyPem(),
  };
  if (target.file) {
    const { open } = await import('node:fs/promises');
    const file = await open(target.file, 'a', 0o600);
    try {
      await file.appendFile(JSON.stringify(body) + '\n');
      await file.datasync();
    } finally {
      await file.close();
    }
  }
  if (target.url && !(await postSigned(audit, target.url, body, logger)) && !target.file) {
    return null; // not delivered anywhere: tried again at the next tick
  }
  return head.seq;
}

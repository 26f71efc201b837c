// The one-user service fails closed: a suspended principal reads nothing, and a page whose audit
// entry cannot be written is never released (unit test: the reader and the audit port are fakes).
import { describe, expect, it } from 'vitest';
import type { AuditInput, AuditPort, ReadAttempt } from '../audit/types.js';
import type { UserStreamReader } from '../query/index.js';
import { AppError } from '../shared/errors.js';
import { readUserEvents, readUserProfile } from './users.js';

const by = { actor: 'user:a', source: { kind: 'cli' as const } };

function fakes(options: { failRecord?: boolean; suspended?: boolean }) {
  const recorded: AuditInput[] = [];
  const refused: ReadAttempt[] = [];
  let reads = 0;
  const audit: AuditPort = {
    assertMayRead: () => {
      if (options.suspended) throw new AppError('AUDIT_PRINCIPAL_SUSPENDED', 'suspended');
    },
    admitRead: (attempt) => {
      if (!options.suspended) return Promise.resolve();
      refused.push(attempt);
      return Promise.reject(new AppError('AUDIT_PRINCIPAL_SUSPENDED', 'suspended'));
    },
    record: (input) => {
      if (options.failRecord)
        return Promise.reject(new AppError('AUDIT_UNAVAILABLE', 'cannot write'));
      recorded.push(input);
      return Promise.resolve();
    },
    hmacValue: () => 'h',
  };
  const reader = {
    resolve: () => Promise.resolve('u_person'),
    profile: () => {
      reads++;
      return Promise.resolve({
        id: 'raw id',
        person: 'u_person',
        aliases: [],
        properties: { plan: 'gold' },
        profileUpdatedAtMs: 1,
        eventCount: 1,
        firstSeenMs: 1,
        lastSeenMs: 1,
      });
    },
    events: () => {
      reads++;
      return Promise.resolve([]);
    },
  } as unknown as UserStreamReader;
  return { deps: { audit, reader }, recorded, refused, reads: () => reads };
}

const page = { beforeMs: null, limit: 10, cursor: null };

describe('one user, on the record', () => {
  it('releases nothing when the audit entry cannot be written', async () => {
    const f = fakes({ failRecord: true });
    await expect(readUserProfile(f.deps, by, 'prj', 'u_x')).rejects.toMatchObject({
      code: 'AUDIT_UNAVAILABLE',
    });
    await expect(readUserEvents(f.deps, by, 'prj', 'u_x', page)).rejects.toMatchObject({
      code: 'AUDIT_UNAVAILABLE',
    });
  });

  it('reads nothing for a suspended principal, and hands the attempt to the log', async () => {
    const f = fakes({ suspended: true });
    await expect(readUserEvents(f.deps, by, 'prj', 'u_x', page)).rejects.toMatchObject({
      code: 'AUDIT_PRINCIPAL_SUSPENDED',
    });
    expect(f.reads()).toBe(0);
    expect(f.refused).toEqual([
      expect.objectContaining({
        kind: 'user_read',
        actor: 'user:a',
        projectId: 'prj',
        sensitive: { user: 'u_x' },
      }),
    ]);
  });

  it('records the id as typed only as a sensitive value, and the subjects returned', async () => {
    const f = fakes({});
    await readUserProfile(f.deps, by, 'prj', 'alice@example.com');
    expect(f.recorded).toHaveLength(1);
    const entry = f.recorded[0]!;
    expect(entry).toMatchObject({ kind: 'user_read', sensitive: { user: 'alice@example.com' } });
    expect(JSON.stringify(entry.detail)).not.toContain('alice');
    expect([...(entry.subjects ?? [])]).toContain('u_person');
  });
});

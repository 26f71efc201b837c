// A build of the per-day tables that fails is not started again by every query, and the spans
// of `person_event_days`' build fit DuckDB's memory limit whatever the data's shape.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { LogFields, Logger } from '../../shared/log.js';
import { DuckDbDatabase } from './database.js';
import { BUILD_LIMITS, eventsPerSpan, ProjectRollups } from './rollups.js';

const MINUTE = 60_000;

describe('eventsPerSpan', () => {
  it('sizes spans so that one row per event fits a share of the memory limit', () => {
    // 256MB as DuckDB reads it (10^6 bytes): 40 % at 160 bytes a row.
    expect(eventsPerSpan(256_000_000)).toBe(640_000);
    expect(eventsPerSpan(1_000_000_000)).toBe(BUILD_LIMITS.personEventDaysChunk);
    // No limit set: the cap.
    expect(eventsPerSpan(undefined)).toBe(BUILD_LIMITS.personEventDaysChunk);
    // A tiny limit still builds, in spans of a useful size.
    expect(eventsPerSpan(8_000_000)).toBe(50_000);
  });
});

describe('a failed build', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('is tried again after a pause that doubles with each failure, not on every query', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sillage-rollups-retry-'));
    dirs.push(dir);
    const db = await DuckDbDatabase.open(dir);
    try {
      let now = Date.parse('2026-12-05T12:00:00Z');
      let attempts = 0;
      const warnings: LogFields[] = [];
      const logger: Logger = {
        debug: () => undefined,
        info: () => undefined,
        warn: (_msg, fields) => void warnings.push(fields ?? {}),
        error: () => undefined,
      };
      // Every build fails when it asks for its connection (as one that ran out of memory would
      // fail later, after reading the project).
      const rollups = new ProjectRollups(
        db.writer,
        () => {
          attempts++;
          return Promise.reject(new Error('no connection for the build'));
        },
        logger,
        { now: () => now },
      );
      const ensure = vi.spyOn(rollups, 'ensure');
      // `ensure` is spied from here on: the second call below must not reach it either.
      const failed = async (n: number): Promise<void> => {
        await vi.waitFor(() => expect(warnings).toHaveLength(n));
        expect(attempts).toBe(n);
      };

      // Queries while it builds wait for that build: one failure, one warning.
      expect(rollups.ready('prj_a', 'UTC')).toBe(false);
      expect(rollups.ready('prj_a', 'UTC')).toBe(false);
      await failed(1);
      expect(warnings[0]).toMatchObject({ projectId: 'prj_a', durationMs: 5 * MINUTE });
      // Queries in the next five minutes read the events and start no build.
      now += 5 * MINUTE - 1;
      expect(rollups.ready('prj_a', 'UTC')).toBe(false);
      expect(ensure).toHaveBeenCalledTimes(1);
      // Another project, or the same in another zone, is not held back by this failure.
      expect(rollups.ready('prj_a', 'Europe/Paris')).toBe(false);
      expect(ensure).toHaveBeenCalledTimes(2);
      await failed(2);
      // Then one query tries again; failing again, the pause doubles.
      now += 1;
      expect(rollups.ready('prj_a', 'UTC')).toBe(false);
      expect(ensure).toHaveBeenCalledTimes(3);
      await failed(3);
      expect(warnings[2]).toMatchObject({ projectId: 'prj_a', durationMs: 10 * MINUTE });
      now += 10 * MINUTE - 1;
      expect(rollups.ready('prj_a', 'UTC')).toBe(false);
      expect(ensure).toHaveBeenCalledTimes(3);
      now += 1;
      expect(rollups.ready('prj_a', 'UTC')).toBe(false);
      expect(ensure).toHaveBeenCalledTimes(4);
      await failed(4);
    } finally {
      await db.close();
    }
  });
});

// 5xx answers are summarised per interval: a flood of 503s writes a few lines, not one per request.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createLogger } from '../shared/log.js';
import { ServerErrorLog } from './answer-log.js';

afterEach(() => {
  vi.useRealTimers();
});

describe('ServerErrorLog', () => {
  it('writes one line per route and status per interval, with counts', () => {
    vi.useFakeTimers();
    const lines: string[] = [];
    const log = new ServerErrorLog(createLogger({ sink: (l) => lines.push(l) }), 1_000);
    for (let i = 0; i < 5_000; i++) log.note('/track', 'POST', 503, i % 7);
    log.note('/engage', 'POST', 503, 3);
    log.note('/track', 'POST', 500, 1);
    expect(lines).toEqual([]);
    vi.advanceTimersByTime(1_000);
    const parsed = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(parsed).toHaveLength(3);
    expect(parsed[0]).toMatchObject({
      level: 'warn',
      msg: 'requests answered with a server error',
      route: '/track',
      method: 'POST',
      status: 503,
      count: 5_000,
      durationMs: 6,
    });
    expect(parsed.map((p) => p.count)).toEqual([5_000, 1, 1]);
    // Quiet afterwards: nothing more is written.
    vi.advanceTimersByTime(10_000);
    expect(lines).toHaveLength(3);
    log.note('/track', 'POST', 503, 1);
    log.flush();
    expect(lines).toHaveLength(4);
  });
});

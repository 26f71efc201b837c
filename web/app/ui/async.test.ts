// What the dashboard advises on an error: a query refused memory because other reports held it
// is retried as it is; one too large for the store alone is narrowed (the server's message says so).
import { describe, expect, it } from 'vitest';
import { ApiError } from '../api/client';
import { adviceFor } from './async';

describe('adviceFor', () => {
  it('says "busy, try again" (not "narrow") when other reports hold the memory', () => {
    for (const code of ['QUERY_BUSY', 'STORE_BUSY']) {
      const advice = adviceFor(new ApiError(503, code, 'the store is short of memory right now'));
      expect(advice).toMatch(/busy.*try again/i);
      expect(advice).not.toMatch(/narrow/i);
    }
  });
});

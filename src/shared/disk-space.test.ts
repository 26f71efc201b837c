// The disk watch learns of a full disk from a failed write, not only from free-space samples.
import os from 'node:os';
import { afterEach, describe, expect, it } from 'vitest';
import { DiskSpaceWatch, isOutOfSpace } from './disk-space.js';

const enospc = (): NodeJS.ErrnoException =>
  Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });

const watches: DiskSpaceWatch[] = [];
afterEach(() => {
  for (const w of watches.splice(0)) w.close();
});

describe('DiskSpaceWatch', () => {
  it('counts the disk full after a write fails for lack of space, until a write succeeds', () => {
    const watch = new DiskSpaceWatch(os.tmpdir(), 1, 60_000);
    watches.push(watch);
    expect(watch.low).toBe(false);
    watch.noteWriteFailed(new Error('some other failure'));
    expect(watch.low).toBe(false);
    watch.noteWriteFailed(new Error('the events could not be stored', { cause: enospc() }));
    expect(watch.low).toBe(true);
    watch.noteWriteSucceeded();
    expect(watch.low).toBe(false);
  });
});

describe('isOutOfSpace', () => {
  it('finds ENOSPC by code or message anywhere in the cause chain', () => {
    expect(isOutOfSpace(enospc())).toBe(true);
    expect(
      isOutOfSpace(new Error('wrapped', { cause: new Error('wrapped', { cause: enospc() }) })),
    ).toBe(true);
    expect(isOutOfSpace(new Error('IO Error: No space left on device'))).toBe(true);
    expect(isOutOfSpace(new Error('constraint violated'))).toBe(false);
    expect(isOutOfSpace('ENOSPC')).toBe(false);
  });
});

// The file reader of `sillage import`: chunks hold whole lines, numbered from the file's start,
// whatever the chunk size (gzip or not), and the progress figures.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { formatDuration, importFile, progressFigures, type ImportTarget } from './import.js';

/** A target that keeps what it was given (the chunking logic is what is under test). */
function recorder(): ImportTarget & { chunks: { text: string; firstLine: number }[] } {
  const chunks: { text: string; firstLine: number }[] = [];
  return {
    chunks,
    push(pieces, firstLine) {
      chunks.push({ text: Buffer.concat(pieces).toString('utf8'), firstLine });
      return Promise.resolve();
    },
    finish: () => Promise.resolve({ lines: 0, imported: 0, duplicates: 0, ignored: 0 }),
    progress: () => ({ lines: 0, imported: 0, duplicates: 0, ignored: 0 }),
  };
}

describe('importFile chunks', () => {
  const lines = Array.from({ length: 60 }, (_, i) =>
    i % 7 === 3 ? '' : JSON.stringify({ event: `é${i}`, properties: { n: 'x'.repeat(i % 13) } }),
  );
  const text = lines.join('\n') + '\n' + '{"event":"last, no newline"}';
  const all = [...lines, '{"event":"last, no newline"}'];

  for (const [label, bytes] of [
    ['plain', Buffer.from(text)],
    ['gzip', gzipSync(text)],
  ] as const) {
    for (const chunkBytes of [7, 64, 1 << 20]) {
      it(`${label}, ${chunkBytes}-byte reads: whole lines, each with its file line number`, async () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sillage-import-'));
        const file = path.join(dir, 'export.jsonl');
        fs.writeFileSync(file, bytes);
        const target = recorder();
        await importFile(file, () => target, { progress: false, chunkBytes });
        fs.rmSync(dir, { recursive: true, force: true });
        const seen: string[] = [];
        for (const chunk of target.chunks) {
          const chunkLines = chunk.text.endsWith('\n')
            ? chunk.text.slice(0, -1).split('\n')
            : chunk.text.split('\n');
          // Every chunk starts where the previous one ended, at the line number it was given.
          expect(chunk.firstLine).toBe(seen.length);
          seen.push(...chunkLines);
        }
        expect(seen).toEqual(all);
      });
    }
  }
});

describe('progress figures', () => {
  it('gives events/s so far and the time left at that pace', () => {
    expect(progressFigures(50_000, 25, 100, 2_000)).toEqual({ rate: '25,000', left: '6s' });
    expect(progressFigures(0, 0, 100, 0)).toEqual({ rate: '0', left: '…' });
    expect(formatDuration(3725)).toBe('1h 02m');
    expect(formatDuration(185)).toBe('3m 05s');
  });
});

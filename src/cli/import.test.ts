// The file reader of `sillage import`: chunks hold whole lines, numbered from the file's start,
// whatever the chunk size (gzip or not), and the progress figures, bar or plain lines.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { MessageChannel } from 'node:worker_threads';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import {
  formatDuration,
  importFile,
  progressFigures,
  progressLine,
  type ImportTarget,
} from './import.js';

/** A target that keeps what it was given (the chunking logic is what is under test). */
function recorder(): ImportTarget & { chunks: { text: string; firstLine: number }[] } {
  const chunks: { text: string; firstLine: number }[] = [];
  return {
    chunks,
    push(chunk, firstLine) {
      chunks.push({ text: Buffer.from(chunk).toString('utf8'), firstLine });
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

describe('importFile hands each chunk over', () => {
  // FileImporter moves a chunk's memory to a worker thread (postMessage with a transfer list),
  // which empties it here: the reader must neither read it again nor keep part of it.
  it('reads on correctly when the target moves every chunk away', async () => {
    const lines = Array.from({ length: 400 }, (_, i) =>
      JSON.stringify({ event: `ë${i}`, properties: { pad: 'y'.repeat(i % 37) } }),
    );
    const text = lines.join('\n') + '\n';
    for (const [label, bytes] of [
      ['plain', Buffer.from(text)],
      ['gzip', gzipSync(text)],
    ] as const) {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sillage-import-'));
      const file = path.join(dir, 'export.jsonl');
      fs.writeFileSync(file, bytes);
      const { port1, port2 } = new MessageChannel();
      const got: { text: string; firstLine: number }[] = [];
      let detached = 0;
      await importFile(
        file,
        () => ({
          push(chunk, firstLine) {
            got.push({ text: Buffer.from(chunk).toString('utf8'), firstLine });
            port1.postMessage(chunk, [chunk.buffer as ArrayBuffer]);
            if (chunk.byteLength === 0) detached++;
            return Promise.resolve();
          },
          finish: () => Promise.resolve({ lines: 0, imported: 0, duplicates: 0, ignored: 0 }),
          progress: () => ({ lines: 0, imported: 0, duplicates: 0, ignored: 0 }),
        }),
        { progress: false, chunkBytes: 1000 },
      );
      port1.close();
      port2.close();
      fs.rmSync(dir, { recursive: true, force: true });
      // The chunks really were moved (not copied), and every line arrived once, numbered.
      expect(detached, label).toBe(got.length);
      const seen: string[] = [];
      for (const chunk of got) {
        expect(chunk.firstLine, label).toBe(seen.length);
        seen.push(...chunk.text.slice(0, -1).split('\n'));
      }
      expect(seen, label).toEqual(lines);
    }
  });
});

describe('progress figures', () => {
  it('gives events/s so far and the time left at that pace', () => {
    expect(progressFigures(50_000, 25, 100, 2_000)).toEqual({ rate: '25,000', left: '6s' });
    expect(progressFigures(0, 0, 100, 0)).toEqual({ rate: '0', left: '…' });
    expect(formatDuration(3725)).toBe('1h 02m');
    expect(formatDuration(185)).toBe('3m 05s');
  });
});

describe('progress as plain lines (output that is not a terminal)', () => {
  it('writes events/s and the time left, and a last line once everything is committed', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sillage-import-'));
    const file = path.join(dir, 'export.jsonl');
    fs.writeFileSync(file, '{"event":"a"}\n{"event":"b"}\n{"event":"c"}\n');
    let committed = 0;
    const written: string[] = [];
    let linesWhilePushing = 0;
    await importFile(
      file,
      () => ({
        async push() {
          // Long enough for the timer to fire at least once while the import runs.
          const waitUntil = written.length + 1;
          for (let i = 0; i < 2000 && written.length < waitUntil; i++) {
            await new Promise((resolve) => setTimeout(resolve, 5));
          }
          linesWhilePushing = written.length;
        },
        finish: () => {
          committed = 3;
          return Promise.resolve({ lines: 3, imported: 3, duplicates: 0, ignored: 0 });
        },
        progress: () => ({ lines: committed, imported: committed, duplicates: 0, ignored: 0 }),
      }),
      { progress: 'lines', progressEveryMs: 1, write: (line) => written.push(line) },
    );
    fs.rmSync(dir, { recursive: true, force: true });
    expect(linesWhilePushing).toBeGreaterThan(0);
    for (const line of written) {
      expect(line).toMatch(
        /^importing: \d+% \| [\d,]+ imported, \d+ rejected \| [\d,]+ events\/s \| \S.* left$/,
      );
    }
    expect(written.at(-1)).toMatch(
      /^importing: 100% \| 3 imported, 0 rejected \| [\d,]+ events\/s \| 0s left$/,
    );
  });

  it('writes nothing when progress is off', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sillage-import-'));
    const file = path.join(dir, 'export.jsonl');
    fs.writeFileSync(file, '{"event":"a"}\n');
    const written: string[] = [];
    await importFile(file, () => recorder(), {
      progress: 'off',
      progressEveryMs: 1,
      write: (line) => written.push(line),
    });
    fs.rmSync(dir, { recursive: true, force: true });
    expect(written).toEqual([]);
  });

  it('formats a line like the bar', () => {
    expect(
      progressLine({
        percent: 41.7,
        imported: 1_234_567,
        rejected: 2,
        rate: '98,765',
        left: '3m 05s',
      }),
    ).toBe('importing: 41% | 1,234,567 imported, 2 rejected | 98,765 events/s | 3m 05s left');
  });
});

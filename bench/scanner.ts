// `npm run bench:scanner`: the PII scanner on 9.5 MB strings of the worst shapes (issue 10's
// "1 1 1 …" and each detector's), warm, best of three, printed next to plain text of the same size
// measured in the same run, with the ratio (the figure that holds on a noisy machine).
import { scanString } from '../src/privacy/index.js';

const SIZE = Number(process.env.BENCH_SCANNER_BYTES ?? 9_500_000);
const PLAIN = 'Viewed pricing page 2 of 14 on 2024-05-01, plan pro, seats 25, total 1299.00 EUR. ';
const SHAPES: Record<string, string> = {
  'digits and spaces ("1 1 1 …")': '1 ',
  'digits and dashes': '1-',
  'digits, double spaces': '1  ',
  'card-like groups': '4444 ',
  'at signs': 'a@',
  'encoded at signs': '%40',
  'doubly encoded': '%2540',
  'plus groups': '+1 ',
  colons: '1:',
  'zero-width characters': 'a\u200b',
  'full-width digits': '１ ',
  'dotted numbers': '1.1.1.1.',
  'dashed addresses (all redacted)': '1-1-1-1 ',
  'e-mails and cards (all redacted)': 'x@y.co 4111 1111 1111 1111 ',
};

function repeatTo(unit: string, length: number): string {
  return unit.repeat(Math.ceil(length / unit.length)).slice(0, length);
}

function best(text: string): number {
  let ms = Infinity;
  for (let i = 0; i < 3; i++) {
    const t = performance.now();
    scanString(text);
    ms = Math.min(ms, performance.now() - t);
  }
  return ms;
}

const plain = best(repeatTo(PLAIN, SIZE));
console.log(`scanner on ${(SIZE / 1e6).toFixed(1)} MB strings (best of 3, warm)`);
console.log(`${'plain text (baseline)'.padEnd(36)} ${plain.toFixed(0).padStart(7)} ms   1.0×`);
for (const [name, unit] of Object.entries(SHAPES)) {
  const ms = best(repeatTo(unit, SIZE));
  console.log(
    `${name.padEnd(36)} ${ms.toFixed(0).padStart(7)} ms ${(ms / plain).toFixed(1).padStart(5)}×`,
  );
}

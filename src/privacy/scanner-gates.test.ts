// The scanner's gates (each detector runs only when the characters it needs are present) must not
// change what it finds: the gated scan and the scan that runs every detector on every string give
// the same text and the same counts, on random strings and on strings built from the fragments
// every family starts from, the shortest matches included.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ibanChecksumValid, scanText, scanTextUngated, type PiiHits } from './scanner.js';

const SEED = Number(process.env.FC_SEED ?? Math.floor(Math.random() * 2 ** 31));
const RUNS = { seed: SEED, numRuns: Number(process.env.FC_RUNS ?? 2000) };

function bothScans(text: string): void {
  const gatedHits: PiiHits = {};
  const fullHits: PiiHits = {};
  const gated = scanText(text, gatedHits);
  const full = scanTextUngated(text, fullHits);
  expect({ text: gated, hits: gatedHits }).toEqual({ text: full, hits: fullHits });
}

// What the families are made of: signs, separators, digit runs, the fixed prefixes of the secret
// formats, JWT and PEM markers, IBAN country codes, and the characters NFKC turns into them.
const FRAGMENTS = [
  ...'0123456789',
  '13',
  '2',
  '4111',
  '5555',
  '203',
  '0000',
  '00',
  '06',
  'a',
  'Z',
  'x',
  'ab',
  'DE',
  'GB',
  'QA',
  'NO',
  'fr',
  'MALT',
  'DOHB',
  '@',
  '%40',
  '%2540',
  '.',
  '-',
  '_',
  ' ',
  '  ',
  ':',
  '::',
  '+',
  '(',
  ')',
  '/',
  '?',
  '=',
  '\n',
  'AKIA',
  'ASIA',
  'AIza',
  'Bearer ',
  'bearer\t',
  'Basic ',
  'YTpiY2Rl',
  'sk-',
  'sk_live_',
  'sil_sk_',
  'whsec_',
  'ghp_',
  'xoxb-',
  'xapp-1-',
  'glpat-',
  'npm_',
  'SG.',
  'shpat_',
  'hf_',
  'dop_v1_',
  'eyJ',
  'eyJhbGciOiJIUzI1NiJ9',
  '-----BEGIN PRIVATE KEY-----',
  '-----END PRIVATE KEY-----',
  'ABCDEFGHIJKLMNOP',
  'abcdefghijklmnopqrst',
  '０６',
  '＠',
  '．',
  '\u00ad',
  '\u200b',
  'é',
];

const fragments = fc
  .array(fc.constantFrom(...FRAGMENTS), { minLength: 1, maxLength: 24 })
  .map((parts) => parts.join(''));

/** An IBAN of Qatar (4 letters then 21 alphanumerics) with no digit but its check digits. */
function qatarIbanWithoutDigits(letters: string): string {
  const bban = `DOHB${letters}`;
  for (let check = 2; check <= 98; check++) {
    const candidate = `QA${String(check).padStart(2, '0')}${bban}`;
    if (ibanChecksumValid(candidate)) return candidate;
  }
  throw new Error('no check digits');
}

describe(`scanner gates (fast-check seed ${SEED}; rerun with FC_SEED=${SEED})`, () => {
  it('change nothing on random strings', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ maxLength: 60 }),
          fc.string({ unit: 'binary', maxLength: 60 }),
          fc.string({ unit: fc.constantFrom(...'0123456789 .-+()@%:_abAZ'), maxLength: 60 }),
        ),
        bothScans,
      ),
      RUNS,
    );
  });

  it('change nothing on strings built from what the families start with', () => {
    fc.assert(fc.property(fragments, bothScans), RUNS);
  });

  it('change nothing on the shortest match of each family', () => {
    for (const text of [
      // 14 characters: `Basic` credentials decoding to "a:bcde".
      'Basic YTpiY2Rl',
      'xoxb-1234567890',
      // 26 characters: a PEM header alone.
      '-----BEGIN PRIVATE KEY-----',
      'AKIAABCDEFGHIJKLMNOP',
      'a@b.co',
      qatarIbanWithoutDigits('ABCDEFGHIJKLMNOPQRSTU'),
      '+33 6 12 34 56 78',
      '1.2.3.4',
      'ip-10-0-0-1',
      '2001:db8::1',
      '4111111111111111',
    ]) {
      bothScans(text);
      bothScans(`x ${text} y`);
    }
  });
});

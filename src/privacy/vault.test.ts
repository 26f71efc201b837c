// Tests for the PII vault: sealing values under per-subject keys and wrapping those keys.
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { JsonValue } from '../shared/json.js';
import { AppError } from '../shared/errors.js';
import {
  generateSubjectKey,
  openProperties,
  openValue,
  sealProperties,
  sealValue,
  unwrapSubjectKey,
  wrapSubjectKey,
} from './vault.js';

const SEED = Number(process.env.FC_SEED ?? Math.floor(Math.random() * 2 ** 31));
const RUNS = { seed: SEED, numRuns: Number(process.env.FC_RUNS ?? 300) };

function fails(run: () => unknown): void {
  expect(run).toThrow(AppError);
  try {
    run();
  } catch (e) {
    expect((e as AppError).code).toBe('VAULT_VALUE_INVALID');
  }
}

describe('sealValue / openValue', () => {
  const key = generateSubjectKey();

  it('round-trips JSON values; the sealed text never contains the plaintext', () => {
    for (const value of [
      'jane@example.com',
      'Jane Doe',
      33612345678,
      null,
      true,
      ['a', { b: 1 }],
    ] as JsonValue[]) {
      const sealed = sealValue(key, value, '$email');
      expect(sealed).toMatch(/^v1\.[A-Za-z0-9_-]+$/);
      expect(sealed).not.toContain(JSON.stringify(value));
      expect(openValue(key, sealed, '$email')).toEqual(value);
    }
  });

  it('uses a fresh IV per seal and pads lengths to 16-byte blocks', () => {
    expect(sealValue(key, 'x')).not.toBe(sealValue(key, 'x'));
    expect(sealValue(key, 'Al').length).toBe(sealValue(key, 'Alexandra').length);
  });

  it('fails with another subject key, another context, or an altered value', () => {
    const sealed = sealValue(key, 'Jane', '$name');
    fails(() => openValue(generateSubjectKey(), sealed, '$name'));
    fails(() => openValue(key, sealed, '$email'));
    // Alter a character in the middle (the last one may only carry padding bits).
    const altered = sealed.slice(0, 10) + (sealed[10] === 'A' ? 'B' : 'A') + sealed.slice(11);
    fails(() => openValue(key, altered, '$name'));
    fails(() => openValue(key, sealed.replace('v1.', 'v2.'), '$name'));
    fails(() => openValue(key, 'v1.', '$name'));
  });

  it('seals and opens a property bag, binding each value to its name', () => {
    const sealed = sealProperties(key, { $email: 'jane@example.com', $name: 'Jane' });
    expect(openProperties(key, sealed)).toEqual({ $email: 'jane@example.com', $name: 'Jane' });
    fails(() => openProperties(key, { $name: sealed.$email! }));
  });

  it(`round-trips any JSON value (fast-check seed ${SEED}; rerun with FC_SEED=${SEED})`, () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.string({ maxLength: 20 }), (value, context) => {
        expect(openValue(key, sealValue(key, value as JsonValue, context), context)).toEqual(
          JSON.parse(JSON.stringify(value)) as JsonValue,
        );
      }),
      RUNS,
    );
  });
});

describe('subject keys wrapped by the project vault key', () => {
  const vaultKey = randomBytes(32);
  const context = { projectId: 'prj_v', subjectId: 'u_AAAAAAAAAAAAAAAAAAAAAA', vaultKeyVersion: 1 };

  it('round-trips and is bound to project, subject and vault key version', () => {
    const subjectKey = generateSubjectKey();
    const wrapped = wrapSubjectKey(vaultKey, context, subjectKey);
    expect(unwrapSubjectKey(vaultKey, context, wrapped).equals(subjectKey)).toBe(true);
    fails(() =>
      unwrapSubjectKey(vaultKey, { ...context, subjectId: 'u_BBBBBBBBBBBBBBBBBBBBBB' }, wrapped),
    );
    fails(() => unwrapSubjectKey(vaultKey, { ...context, projectId: 'prj_w' }, wrapped));
    fails(() => unwrapSubjectKey(vaultKey, { ...context, vaultKeyVersion: 2 }, wrapped));
    fails(() => unwrapSubjectKey(randomBytes(32), context, wrapped));
  });

  it('erasing a subject is deleting its wrapped key: the sealed values become unreadable', () => {
    const subjectKey = generateSubjectKey();
    const sealed = sealValue(subjectKey, 'jane@example.com', '$email');
    // After deletion nobody holds subjectKey; a freshly generated key cannot open the value.
    fails(() => openValue(generateSubjectKey(), sealed, '$email'));
  });
});

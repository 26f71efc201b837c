// Tests for refusing personal data typed into what Sillage keeps (saved cohorts and views).
import { describe, expect, it } from 'vitest';
import { AppError } from '../shared/errors.js';
import { refuseTypedPersonalData } from './typed-input.js';

function refusal(value: unknown): { path: string; message: string } | null {
  try {
    refuseTypedPersonalData(value);
    return null;
  } catch (e) {
    if (!(e instanceof AppError)) throw e;
    expect(e.code).toBe('REQUEST_INVALID');
    return e.details?.[0] ?? null;
  }
}

describe('refuseTypedPersonalData', () => {
  it('names the place of an e-mail, a phone or a card, at any depth, never the value', () => {
    const email = refusal({ name: 'ok', query: { filters: [{ value: 'jane@example.org' }] } });
    expect(email).toEqual({ path: 'query.filters.0.value', message: expect.any(String) });
    expect(JSON.stringify(email)).not.toContain('jane');
    expect(refusal({ name: 'call +44 20 7946 0958' })?.path).toBe('name');
    expect(refusal({ values: ['x', '4111 1111 1111 1111'] })?.path).toBe('values.1');
    expect(refusal({ filters: { ok: 1, 'jane@example.org': 1 } })?.path).toBe('filters.[key #2]');
  });

  it('lets ordinary definitions through', () => {
    expect(
      refusal({
        name: 'Gold users on example.org',
        conditions: [{ kind: 'person_property', property: '$email', op: 'eq', value: 'gold' }],
      }),
    ).toBeNull();
  });
});

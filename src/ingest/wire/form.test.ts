// Tests for the hand-rolled form reader and the `data` field's `+` rule.
import { describe, expect, it } from 'vitest';
import { decodeDataField, decodeFormComponent, readFormFields } from './form.js';

describe('decodeDataField', () => {
  it.each([
    ['raw base64 with + (mixpanel-node)', 'ab+c/d==', 'ab+c/d=='],
    ['URL-encoded base64 (mixpanel-browser)', 'ab%2Bc%2Fd%3D%3D', 'ab+c/d=='],
    ['base64 whose + a proxy turned into spaces', 'ab c/d==', 'ab+c/d=='],
    ['URL-encoded JSON', '%7B%22a%22%3A%22x%20y%22%7D', '{"a":"x y"}'],
    ['form-encoded JSON (+ is a space)', '{"a":"x+y"}', '{"a":"x y"}'],
    ['JSON after encoded spaces', '+%5B1%5D', ' [1]'],
    ['UTF-8 escapes', '%5B%22%C3%A9%22%5D', '["é"]'],
  ])('%s', (_name, raw, expected) => {
    expect(decodeDataField(raw)).toEqual({ ok: true, value: expected });
  });

  it.each([
    ['ab%2', 2, 'bad-escape'],
    ['%7B%zz', 3, 'bad-escape'],
    ['%C3%28', 0, 'bad-utf8'],
  ])('refuses %j', (raw, position, kind) => {
    expect(decodeDataField(raw)).toEqual({ ok: false, problem: { position, kind } });
  });

  it('decodes ordinary form components', () => {
    expect(decodeFormComponent('gzip-js')).toEqual({ ok: true, value: 'gzip-js' });
    expect(decodeFormComponent('a+b%21')).toEqual({ ok: true, value: 'a b!' });
  });
});

describe('readFormFields', () => {
  it('finds data and compression anywhere, first occurrence winning', () => {
    expect(readFormFields('compression=lz64&ver=1&data=abc%3D&data=zzz')).toEqual({
      data: 'abc%3D',
      compression: 'lz64',
    });
    expect(readFormFields('%64ata=x')).toEqual({ data: 'x', compression: undefined });
    expect(readFormFields('data=')).toEqual({ data: '', compression: undefined });
  });

  it('treats a long run without a short name as no field', () => {
    expect(readFormFields('eyJldmVudCI6ImEifQ==')).toEqual({
      data: undefined,
      compression: undefined,
    });
    expect(readFormFields('x'.repeat(100) + '=data')).toEqual({
      data: undefined,
      compression: undefined,
    });
  });

  it('stays linear on pathological input', () => {
    const text = 'a&'.repeat(500_000) + 'data=x';
    expect(readFormFields(text).data).toBe('x');
  });
});

// Tests for reading Mixpanel's request parameters from the query string and the form body.
import { describe, expect, it } from 'vitest';
import { readMultipartFields } from './multipart.js';
import { isOn, ipOff, readFormParams, readRequestParams, safeCallbackName } from './params.js';

const FORM = 'application/x-www-form-urlencoded';
const source = (body: string | Buffer | null, contentType: string | null = FORM, query = {}) => ({
  query,
  body: body === null ? null : Buffer.from(body),
  contentType,
  contentEncoding: null,
});

describe('readRequestParams', () => {
  it('reads mixpanel-python’s body (data, verbose, ip, api_key)', () => {
    const body = 'data=%7B%22event%22%3A%22x%22%7D&verbose=1&ip=0&api_key=k%2B1';
    expect(readRequestParams(source(body))).toEqual({ verbose: '1', ip: '0', api_key: 'k+1' });
  });
  it('prefers the query string, then fills from the body', () => {
    expect(readRequestParams(source('verbose=0&ip=0&img=1', FORM, { verbose: '1' }))).toEqual({
      verbose: '1',
      ip: '0',
      img: '1',
    });
  });
  it('reads nothing from a JSON or gzip body', () => {
    expect(readRequestParams(source('{"verbose":1}', 'application/json'))).toEqual({});
    expect(readRequestParams(source(' [1]', FORM))).toEqual({});
    expect(readRequestParams({ ...source('verbose=1'), contentEncoding: 'gzip' })).toEqual({});
    expect(readRequestParams(source(Buffer.from([0x1f, 0x8b, 8, 0])))).toEqual({});
  });
  it('reads multipart/form-data fields', () => {
    const body =
      '--XyZ\r\nContent-Disposition: form-data; name="data"\r\n\r\n[{"event":"x"}]\r\n' +
      '--XyZ\r\nContent-Disposition: form-data; name="verbose"\r\n\r\n1\r\n' +
      '--XyZ\r\nContent-Disposition: form-data; name="ip"\r\n\r\n0\r\n--XyZ--\r\n';
    expect(readRequestParams(source(body, 'multipart/form-data; boundary=XyZ'))).toEqual({
      verbose: '1',
      ip: '0',
    });
    const parts = readMultipartFields(Buffer.from(body), 'multipart/form-data; boundary="XyZ"');
    expect(parts.ok && parts.fields.get('data')?.toString()).toBe('[{"event":"x"}]');
  });
  it('ignores unknown names, overlong values and names inside a long base64 body', () => {
    const long = 'A'.repeat(10_000);
    expect(
      readFormParams(Buffer.from(`${long}=verbose&callback=${'x'.repeat(300)}&test=1`)),
    ).toEqual({
      test: '1',
    });
  });
});

describe('flags', () => {
  it('isOn, ipOff and safeCallbackName', () => {
    expect([isOn('1'), isOn('true'), isOn('0'), isOn(undefined)]).toEqual([
      true,
      true,
      false,
      false,
    ]);
    expect([ipOff('0'), ipOff('false'), ipOff('1'), ipOff(undefined)]).toEqual([
      true,
      true,
      false,
      false,
    ]);
    expect(safeCallbackName('mp.cb_1')).toBe('mp.cb_1');
    expect(safeCallbackName('alert(1)//')).toBeNull();
    expect(safeCallbackName('a</script>')).toBeNull();
  });
});

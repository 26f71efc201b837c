// Enricher: server-derived values fill only what the SDK did not send; location from the real DB.
import { describe, expect, it } from 'vitest';
import type { IncomingEvent, JsonObject } from '../records.js';
import type { GeoResult } from './geo.js';
import { Enricher, type GeoLookup } from './enricher.js';

const CHROME_MAC =
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36';
const GOOGLEBOT = 'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)';
const PARIS: GeoResult = {
  countryCode: 'FR',
  region: 'Ile-de-France',
  city: 'Paris',
  timezone: null,
};

function event(fields: Partial<IncomingEvent> & { properties?: JsonObject }): IncomingEvent {
  return {
    index: 0,
    token: 'tok',
    event: 'Signed up',
    timeMs: 1_700_000_000_000,
    distinctId: 'd1',
    insertId: null,
    properties: {},
    geoIp: null,
    userAgent: null,
    ...fields,
  };
}

/** A geolocator that answers PARIS for every address and counts its lookups. */
function fakeGeo(): GeoLookup & { calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    lookup(ip) {
      calls.push(ip);
      return PARIS;
    },
  };
}

describe('Enricher.enrichEvent', () => {
  it('derives everything from the user agent and IP when the SDK sent nothing', () => {
    const geo = fakeGeo();
    const enricher = new Enricher({ geo });
    expect(enricher.enrichEvent(event({ userAgent: CHROME_MAC, geoIp: '203.0.113.9' }))).toEqual({
      browser: 'Chrome',
      browserVersion: '120',
      os: 'Mac OS X',
      deviceType: 'desktop',
      countryCode: 'FR',
      region: 'Ile-de-France',
      city: 'Paris',
      timezone: null,
    });
    expect(geo.calls).toEqual(['203.0.113.9']);
  });

  it('gives all-null fields without user agent or IP', () => {
    const enricher = new Enricher({ geo: fakeGeo() });
    const fields = enricher.enrichEvent(event({}));
    expect(Object.values(fields).every((v) => v === null)).toBe(true);
  });

  it("keeps the SDK's $browser and $os, with the SDK's version cut to its major part", () => {
    const enricher = new Enricher({ geo: null });
    const fields = enricher.enrichEvent(
      event({
        userAgent: CHROME_MAC,
        properties: { $browser: 'Safari', $browser_version: 17.2, $os: 'iOS' },
      }),
    );
    expect(fields).toMatchObject({ browser: 'Safari', browserVersion: '17', os: 'iOS' });
  });

  it("does not pair the SDK's browser with the parsed version of another browser", () => {
    const enricher = new Enricher({ geo: null });
    const fields = enricher.enrichEvent(
      event({ userAgent: CHROME_MAC, properties: { $browser: 'Safari' } }),
    );
    expect(fields).toMatchObject({ browser: 'Safari', browserVersion: null, os: 'Mac OS X' });
  });

  it('fills in only the fields the SDK left out', () => {
    const enricher = new Enricher({ geo: null });
    const fields = enricher.enrichEvent(
      event({ userAgent: CHROME_MAC, properties: { $os: 'Linux' } }),
    );
    expect(fields).toMatchObject({ browser: 'Chrome', browserVersion: '120', os: 'Linux' });
  });

  it('ignores sent values that are not non-empty strings', () => {
    const enricher = new Enricher({ geo: null });
    const fields = enricher.enrichEvent(
      event({
        userAgent: CHROME_MAC,
        properties: { $browser: '', $os: 42, $device_type: 'Fridge' },
      }),
    );
    expect(fields).toMatchObject({ browser: 'Chrome', os: 'Mac OS X', deviceType: 'desktop' });
  });

  it("uses PostHog's $device_type, but a crawler's user agent makes it a bot", () => {
    const enricher = new Enricher({ geo: null });
    expect(
      enricher.enrichEvent(event({ userAgent: CHROME_MAC, properties: { $device_type: 'Mobile' } }))
        .deviceType,
    ).toBe('mobile');
    expect(
      enricher.enrichEvent(event({ userAgent: GOOGLEBOT, properties: { $device_type: 'Desktop' } }))
        .deviceType,
    ).toBe('bot');
  });

  it('keeps a sent location as a whole and does not look the IP up', () => {
    const geo = fakeGeo();
    const enricher = new Enricher({ geo });
    const fields = enricher.enrichEvent(
      event({ geoIp: '203.0.113.9', properties: { mp_country_code: 'DE', $city: 'Berlin' } }),
    );
    expect(fields).toMatchObject({
      countryCode: 'DE',
      region: null,
      city: 'Berlin',
      timezone: null,
    });
    expect(geo.calls).toEqual([]);
  });

  it("reads PostHog's $geoip_* names as a sent location", () => {
    const geo = fakeGeo();
    const enricher = new Enricher({ geo });
    const fields = enricher.enrichEvent(
      event({
        geoIp: '203.0.113.9',
        properties: {
          $geoip_country_code: 'JP',
          $geoip_city_name: 'Tokyo',
          $geoip_time_zone: 'Asia/Tokyo',
        },
      }),
    );
    expect(fields).toMatchObject({ countryCode: 'JP', city: 'Tokyo', timezone: 'Asia/Tokyo' });
    expect(geo.calls).toEqual([]);
  });

  it('honours $geoip_disable', () => {
    const geo = fakeGeo();
    const enricher = new Enricher({ geo });
    const fields = enricher.enrichEvent(
      event({ geoIp: '203.0.113.9', properties: { $geoip_disable: true } }),
    );
    expect(fields.countryCode).toBeNull();
    expect(geo.calls).toEqual([]);
  });

  it('works on profile updates through enrich()', () => {
    const enricher = new Enricher({ geo: fakeGeo() });
    expect(enricher.enrich({ userAgent: CHROME_MAC, geoIp: '203.0.113.9' })).toMatchObject({
      browser: 'Chrome',
      countryCode: 'FR',
    });
  });
});

describe('Enricher.open', () => {
  it('geolocates with the bundled database', async () => {
    const enricher = await Enricher.open();
    const fields = enricher.enrichEvent(event({ userAgent: CHROME_MAC, geoIp: '81.2.69.142' }));
    expect(fields).toMatchObject({
      countryCode: 'GB',
      region: 'England',
      city: 'London',
      browser: 'Chrome',
    });
    expect(enricher.enrichEvent(event({ geoIp: '192.168.1.10' })).countryCode).toBeNull();
  });
});

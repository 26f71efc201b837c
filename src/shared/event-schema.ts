// The standard event properties, declared once: each typed column of the events table, the
// Mixpanel property that fills it and the other names that fill it too. Ingest (which names leave
// the property bag for a column, which ones enrichment writes), the query model (which names read
// a column), export, the reference evaluator and the README table (held to it by a test) derive
// from this list; storage encodings are checked against it by tests.

/** One standard property: a typed column and the property names that map to it. */
export interface StandardPropertyDef {
  /** Column of the `events` table. */
  readonly column: string;
  /** Field of a stored event row (camelCase of the column). */
  readonly field: string;
  /** Mixpanel's event property name: what export writes and discovery reports. */
  readonly property: string;
  /**
   * Other names that fill the column when sent (PostHog's, Mixpanel's profile name), after
   * `property` in precedence. Queries accept every name.
   */
  readonly aliases: readonly string[];
  /**
   * Enrichment (user agent, IP) writes this field; on profiles it uses `profileProperty`
   * (Mixpanel's profile name). Null: not enriched.
   */
  readonly profileProperty: string | null;
  /** What the column holds, for the README. */
  readonly description: string;
}

export const STANDARD_EVENT_PROPERTIES = [
  {
    column: 'browser',
    field: 'browser',
    property: '$browser',
    aliases: [],
    profileProperty: '$browser',
    description: 'browser name (as sent by the SDK, else parsed from the user agent)',
  },
  {
    column: 'browser_version',
    field: 'browserVersion',
    property: '$browser_version',
    aliases: [],
    profileProperty: '$browser_version',
    description: 'major browser version',
  },
  {
    column: 'os',
    field: 'os',
    property: '$os',
    aliases: [],
    profileProperty: '$os',
    description: 'operating system',
  },
  {
    column: 'device_type',
    field: 'deviceType',
    property: '$device_type',
    aliases: [],
    profileProperty: '$device_type',
    description: '`desktop`, `mobile`, `tablet`, …',
  },
  {
    column: 'country_code',
    field: 'countryCode',
    property: 'mp_country_code',
    aliases: ['$geoip_country_code', '$country_code'],
    profileProperty: '$country_code',
    description: 'ISO country code, at the project geo granularity',
  },
  {
    column: 'region',
    field: 'region',
    property: '$region',
    aliases: ['$geoip_subdivision_1_name'],
    profileProperty: '$region',
    description: 'region, at the project geo granularity',
  },
  {
    column: 'city',
    field: 'city',
    property: '$city',
    aliases: ['$geoip_city_name'],
    profileProperty: '$city',
    description: 'city, at the project geo granularity',
  },
  {
    column: 'referring_domain',
    field: 'referringDomain',
    property: '$referring_domain',
    aliases: [],
    profileProperty: null,
    description: 'referrer, domain only',
  },
  {
    column: 'current_url',
    field: 'currentUrl',
    property: '$current_url',
    aliases: [],
    profileProperty: null,
    description: 'page URL: scheme, host, path and `utm_*` parameters only',
  },
  {
    column: 'utm_source',
    field: 'utmSource',
    property: 'utm_source',
    aliases: [],
    profileProperty: null,
    description: 'campaign source',
  },
  {
    column: 'utm_medium',
    field: 'utmMedium',
    property: 'utm_medium',
    aliases: [],
    profileProperty: null,
    description: 'campaign medium',
  },
  {
    column: 'utm_campaign',
    field: 'utmCampaign',
    property: 'utm_campaign',
    aliases: [],
    profileProperty: null,
    description: 'campaign name',
  },
  {
    column: 'utm_content',
    field: 'utmContent',
    property: 'utm_content',
    aliases: [],
    profileProperty: null,
    description: 'campaign content',
  },
  {
    column: 'utm_term',
    field: 'utmTerm',
    property: 'utm_term',
    aliases: [],
    profileProperty: null,
    description: 'campaign term',
  },
  {
    column: 'lib',
    field: 'lib',
    property: 'mp_lib',
    aliases: ['$lib'],
    profileProperty: null,
    description: 'SDK that sent the event',
  },
] as const satisfies readonly StandardPropertyDef[];

type Def = (typeof STANDARD_EVENT_PROPERTIES)[number];

/** A typed column of the events table. */
export type StandardColumn = Def['column'];
/** The event-row field of a typed column. */
export type StandardField = Def['field'];
/** The typed fields of a stored event row. */
export type StandardEventFields = { [F in StandardField]: string | null };

/** Every name that reads or fills a column (its property, then its aliases), in precedence order. */
export function namesOf(def: StandardPropertyDef): readonly string[] {
  return [def.property, ...def.aliases];
}

/** Property name (any of a column's names) → its definition. */
export const STANDARD_PROPERTY_BY_NAME: ReadonlyMap<string, Def> = new Map(
  STANDARD_EVENT_PROPERTIES.flatMap((def) => namesOf(def).map((name) => [name, def] as const)),
);

/** Column → its definition. */
export const STANDARD_PROPERTY_BY_COLUMN: ReadonlyMap<StandardColumn, Def> = new Map(
  STANDARD_EVENT_PROPERTIES.map((def) => [def.column, def] as const),
);

/** The properties enrichment writes, in list order. */
export const ENRICHED_PROPERTIES = STANDARD_EVENT_PROPERTIES.filter(
  (def): def is Extract<Def, { profileProperty: string }> => def.profileProperty !== null,
);

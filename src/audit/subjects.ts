// Compact sets of pseudonymous subjects: each `u_`/`g_` pseudonym (prefix + 16 bytes in
// base64url) packs into 17 bytes, sorted and deduplicated, so that "whose rows" costs little.
const PSEUDONYM = /^([ug])_([A-Za-z0-9_-]{22})$/;
const WIDTH = 17;

/** Whether a string is a Sillage pseudonym (user or group). */
export function isPseudonym(value: string): boolean {
  return PSEUDONYM.test(value);
}

/** Packs the pseudonyms among `values` (others are ignored). */
export function packSubjects(values: Iterable<string>): { packed: Uint8Array; count: number } {
  const keys = new Set<string>();
  for (const v of values) {
    const m = PSEUDONYM.exec(v);
    // Only canonical encodings of 16 bytes (what the pseudonymiser writes) pack losslessly.
    if (!m?.[1] || !m[2] || !/[AQgw]$/.test(m[2])) continue;
    keys.add(v);
  }
  const sorted = [...keys].sort();
  const out = Buffer.alloc(sorted.length * WIDTH);
  sorted.forEach((v, i) => {
    out[i * WIDTH] = v.charCodeAt(0) === 0x75 ? 0 : 1;
    Buffer.from(v.slice(2), 'base64url').copy(out, i * WIDTH + 1);
  });
  return { packed: out, count: sorted.length };
}

/** Calls `visit` for each pseudonym of a packed set. */
export function forEachSubject(packed: Uint8Array, visit: (pseudonym: string) => void): void {
  const buf = Buffer.from(packed.buffer, packed.byteOffset, packed.byteLength);
  for (let i = 0; i + WIDTH <= buf.length; i += WIDTH) {
    visit((buf[i] === 0 ? 'u_' : 'g_') + buf.toString('base64url', i + 1, i + WIDTH));
  }
}

export function unpackSubjects(packed: Uint8Array): string[] {
  const out: string[] = [];
  forEachSubject(packed, (s) => out.push(s));
  return out;
}

/** Every pseudonym found anywhere in a JSON value (query results: breakdown values, lists). */
export function pseudonymsIn(value: unknown, out: Set<string> = new Set()): Set<string> {
  if (typeof value === 'string') {
    if (value.length === 24 && PSEUDONYM.test(value)) out.add(value);
  } else if (Array.isArray(value)) {
    for (const v of value) pseudonymsIn(v, out);
  } else if (value !== null && typeof value === 'object') {
    for (const v of Object.values(value)) pseudonymsIn(v, out);
  }
  return out;
}

/**
 * The subjects an event's properties name (ids, group ids, identifier properties), leaving out
 * `$insert_id`: a pseudonym too, but of an event, not of a person or a group.
 */
export function subjectsOfEventProperties(
  properties: Readonly<Record<string, unknown>>,
  out: Set<string> = new Set(),
): Set<string> {
  for (const [name, value] of Object.entries(properties))
    if (name !== '$insert_id') pseudonymsIn(value, out);
  return out;
}

// The one event schema: its names are unambiguous, the storage encodings and the events table
// have exactly its columns, and the README's table of standard properties is this list.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { DuckDbDatabase } from '../store/duckdb/database.js';
import { EVENT_LINE_COLUMNS } from '../store/duckdb/log-codec.js';
import { EVENT_ROW_JSON_KEYS } from '../store/row-json.js';
import { EVENT_COLUMNS } from '../store/types.js';
import { STANDARD_EVENT_PROPERTIES, namesOf } from './event-schema.js';

const README = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../README.md');
const KEY_COLUMNS = ['project_id', 'dedup_key', 'time', 'event', 'distinct_id', 'device_id'];

/** The README's table as rows of cells, from the schema. */
function expectedTable(): string[][] {
  const code = (name: string) => `\`${name}\``;
  return [
    ['Property', 'Also accepted', 'Holds'],
    ...STANDARD_EVENT_PROPERTIES.map((def) => [
      code(def.property),
      def.aliases.map(code).join(', ') || '—',
      def.description,
    ]),
  ];
}

/** Rows of cells of a Markdown table (the separator row left out; Prettier pads the cells). */
function cellsOf(table: string): string[][] {
  return table
    .split('\n')
    .filter((line) => !/^\|[\s:|-]+\|$/.test(line))
    .map((line) =>
      line
        .slice(1, -1)
        .split(' | ')
        .map((cell) => cell.trim()),
    );
}

describe('the event schema', () => {
  it('gives every name one column, and columns are the snake case of their fields', () => {
    const names = STANDARD_EVENT_PROPERTIES.flatMap((def) => namesOf(def));
    expect(new Set(names).size).toBe(names.length);
    for (const def of STANDARD_EVENT_PROPERTIES)
      expect(def.column).toBe(def.field.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`));
  });

  it('is what every storage encoding and the events table hold', async () => {
    const columns = STANDARD_EVENT_PROPERTIES.map((def) => def.column);
    const standardOf = (list: readonly string[]) =>
      list.filter(
        (c) =>
          !KEY_COLUMNS.includes(c) &&
          !['user_id', 'insert_id', 'properties', 'received_at'].includes(c),
      );
    expect(standardOf(EVENT_COLUMNS)).toEqual(columns);
    expect(standardOf(EVENT_LINE_COLUMNS.map((c) => c[2]))).toEqual(columns);
    const fields = Object.keys(EVENT_ROW_JSON_KEYS);
    for (const def of STANDARD_EVENT_PROPERTIES) expect(fields).toContain(def.field);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sillage-schema-'));
    const db = await DuckDbDatabase.open(dir);
    try {
      const table = await db.instance.connect();
      const described = (await table.runAndReadAll('DESCRIBE events')).getRowsJS();
      table.closeSync();
      // Not sent: `person_id` is the resolved person, derived from identity links at load;
      // `load_seq` numbers the load that inserted the row (store/duckdb/rollups.ts).
      const derived = ['person_id', 'load_seq'];
      const stored = described.map((r) => r[0] as string).filter((c) => !derived.includes(c));
      expect(standardOf(stored)).toEqual(columns);
      for (const c of derived) expect(described.map((r) => r[0])).toContain(c);
    } finally {
      await db.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('is the README table of standard properties', () => {
    const readme = fs.readFileSync(README, 'utf8');
    const table =
      /<!-- standard-properties:start -->([\s\S]*?)<!-- standard-properties:end -->/.exec(readme);
    expect(cellsOf(table?.[1]?.trim() ?? '')).toEqual(expectedTable());
  });
});

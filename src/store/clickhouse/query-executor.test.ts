// Hoisted scalars (query-executor.ts): a scalar subquery's value written back as a literal must be
// exactly the value, of exactly the type (empty arrays too), whatever the strings hold; and a
// statement with marked scalars must answer as the same statement with them left in place.
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  clickHouseAvailable,
  startClickHouse,
  type ClickHouseTestServer,
} from '../../../test/helpers/clickhouse.js';
import { SCALAR_CLOSE, SCALAR_OPEN } from '../../query/compile-clickhouse.js';
import { ClickHouseClient } from './client.js';
import { ClickHouseQueryExecutor, scalarLiteral } from './query-executor.js';

const available = clickHouseAvailable();

describe.skipIf(!available)('ClickHouse hoisted scalars', () => {
  let server: ClickHouseTestServer;
  let client: ClickHouseClient;

  beforeAll(async () => {
    server = await startClickHouse();
    client = new ClickHouseClient({ url: server.url, database: 'default' });
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('writes tuples of string and count arrays back exactly (hostile strings, empty arrays)', async () => {
    const text = fc.string({
      unit: fc.constantFrom('a', "'", '\\', '\0', '\n', 'é', '😀', ')', '>'),
    });
    await fc.assert(
      fc.asyncProperty(
        fc.array(text, { maxLength: 5 }),
        fc.array(fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), { maxLength: 5 }),
        fc.array(fc.option(text), { maxLength: 4 }),
        async (strings, counts, nullable) => {
          const type = 'Tuple(Array(String), Array(UInt64), Array(Nullable(String)))';
          const value = [strings, counts.map(String), nullable];
          const literal = scalarLiteral(type, value);
          const r = await client.query(`SELECT ${literal} AS v, toTypeName(v) AS t`);
          expect(r.rows[0]).toEqual([value, type]);
        },
      ),
      { numRuns: 40 },
    );
  }, 120_000);

  it('answers a statement with marked scalars as the statement without the marks', async () => {
    const scalar = `${SCALAR_OPEN}(SELECT (groupArray(toString(number)), groupArray(number)) FROM numbers(3))${SCALAR_CLOSE}`;
    const statement = `WITH ${scalar} AS s SELECT arrayJoin(tupleElement(s, 1)) AS n, indexOf(tupleElement(s, 1), '2') AS at, (SELECT count() FROM (WITH ${scalar} AS t SELECT tupleElement(t, 2))) AS c`;
    const executor = new ClickHouseQueryExecutor(client);
    const hoisted = await executor.run(
      { text: statement, params: [] },
      { deadlineMs: Date.now() + 30_000, maxRows: 100 },
    );
    const plain = await client.query(
      statement.replaceAll(SCALAR_OPEN, '').replaceAll(SCALAR_CLOSE, ''),
    );
    expect(hoisted.rows).toEqual(plain.rows);
    expect(hoisted.rows.map((row) => row[0])).toEqual(['0', '1', '2']);
  });
});

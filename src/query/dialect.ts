// The dialect boundary: how a SQL piece tree becomes text plus bound values for one database.
// The engine builds dialect-neutral trees (sql.ts); each backend supplies the spellings below.
import type { SqlFunction, SqlNode, SqlValue } from './sql.js';

/** Statement text with positional placeholders, and the values to bind to them in order. */
export interface RenderedSql {
  text: string;
  params: SqlValue[];
}

/** A SQL dialect: renders piece trees. Pure (no driver): execution goes through a QueryExecutor. */
export interface Dialect {
  readonly name: string;
  render(node: SqlNode): RenderedSql;
}

/** What a dialect spells its own way; `createRenderer` does the walking and the binding. */
export interface DialectSpelling {
  name: string;
  /** Placeholder for the `index`-th bound value (0-based), e.g. `$1` or `{p0:String}`. */
  placeholder(index: number, value: SqlValue): string;
  /** A portable function applied to already-rendered arguments. */
  call(fn: SqlFunction, args: string[]): string;
  /** `WITH name AS [MATERIALIZED] (body)` prefix for one CTE. */
  cte(name: string, body: string, materialize: boolean): string;
  /** The join clause of an `asof_next_join` node. */
  asofNextJoin(parts: {
    right: string;
    rightAlias: string;
    leftKey: string;
    rightKey: string;
    leftTime: string;
    rightTime: string;
  }): string;
  /** The relation of a `json_each` node (FROM item, joined laterally). */
  jsonEach(json: string, alias: string): string;
}

/** Builds a Dialect from its spellings. */
export function createDialect(spelling: DialectSpelling): Dialect {
  return {
    name: spelling.name,
    render(node) {
      const params: SqlValue[] = [];
      const walk = (n: SqlNode): string => {
        switch (n.kind) {
          case 'text':
            return n.text;
          case 'param':
            params.push(n.value);
            return spelling.placeholder(params.length - 1, n.value);
          case 'seq':
            return n.parts.map(walk).join('');
          case 'call':
            return spelling.call(n.fn, n.args.map(walk));
          case 'with':
            if (n.ctes.length === 0) return walk(n.body);
            return (
              'WITH ' +
              n.ctes.map((c) => spelling.cte(c.name, walk(c.body), c.materialize)).join(',\n') +
              '\n' +
              walk(n.body)
            );
          case 'asof_next_join':
            return spelling.asofNextJoin({
              right: walk(n.right),
              rightAlias: n.rightAlias,
              leftKey: walk(n.leftKey),
              rightKey: walk(n.rightKey),
              leftTime: walk(n.leftTime),
              rightTime: walk(n.rightTime),
            });
          case 'json_each':
            return spelling.jsonEach(walk(n.json), n.alias);
        }
      };
      const text = walk(node);
      return { text, params };
    },
  };
}

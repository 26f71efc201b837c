// The WHERE clause of an audit filter in SQL, shared by the SQL audit stores (DuckDB, PostgreSQL): they
// differ only in how a column is tested against a bound list of values.
import type { AuditFilter } from './types.js';

/** A statement over the entries a filter matches, with its own parameters. */
export type AuditStatement = [sql: string, params: unknown[]];

/** Binds a value as the statement's next positional parameter and returns its placeholder. */
export type Bind = (value: unknown) => string;

/**
 * Builds a statement: `make` gets the WHERE clause of `filter` and a binder for its own values
 * (both engines want every parameter a statement is given to appear in it); `memberOf` spells
 * "column is one of these values" in the engine's SQL, with the list bound as one parameter (a
 * wide CIDR's networks are many values). An empty list matches nothing.
 */
export function auditStatement(
  filter: AuditFilter,
  make: (where: string, bind: Bind) => string,
  memberOf: (column: string, values: string[], bind: Bind) => string,
): AuditStatement {
  const where: string[] = [];
  const params: unknown[] = [];
  const bind: Bind = (value) => {
    params.push(value);
    return `$${params.length}`;
  };
  if (filter.fromMs !== undefined) where.push(`at_ms >= ${bind(filter.fromMs)}`);
  if (filter.toMs !== undefined) where.push(`at_ms < ${bind(filter.toMs)}`);
  if (filter.afterSeq !== undefined) where.push(`seq > ${bind(filter.afterSeq)}`);
  if (filter.orgId === null) where.push('org_id IS NULL');
  else if (filter.orgId !== undefined) where.push(`org_id = ${bind(filter.orgId)}`);
  if (filter.projectId !== undefined) where.push(`project_id = ${bind(filter.projectId)}`);
  for (const [column, values] of [
    ['actor', filter.actors],
    ['kind', filter.kinds],
    ['network', filter.networks],
  ] as const) {
    if (!values) continue;
    where.push(values.length === 0 ? 'false' : memberOf(column, [...values], bind));
  }
  return [make(`WHERE ${[...where, 'true'].join(' AND ')}`, bind), params];
}

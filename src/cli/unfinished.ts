// A command that can no longer progress must not end as a success. When Node's event loop has
// nothing left to run, the process exits — with code 0 — even if the command's promise never
// settled: `sillage import` did exactly that when a load into DuckDB failed (the loader retries on
// an unref'd timer, which keeps nothing alive), and printed no summary.

/**
 * Tracks `work`: if the event loop empties before it settles, says so with `say` and exits with
 * code 1. Returns `work` (settled as it settles).
 */
export function failIfUnfinished<T>(work: Promise<T>, say: (line: string) => void): Promise<T> {
  let settled = false;
  const onBeforeExit = (): void => {
    if (settled) return;
    say(
      'sillage: stopped before finishing: what it waited for can no longer happen (for an import: ' +
        'events could not be loaded into the database; what was acknowledged stays in the ingest ' +
        'log and loads when the store next opens, and the file can be imported again: duplicates are ' +
        'skipped) [INCOMPLETE]',
    );
    process.exit(1);
  };
  process.once('beforeExit', onBeforeExit);
  const done = (): void => {
    settled = true;
    process.removeListener('beforeExit', onBeforeExit);
  };
  return work.then(
    (value) => {
      done();
      return value;
    },
    (error: unknown) => {
      done();
      throw error;
    },
  );
}

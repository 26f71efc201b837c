// What a failed load may say about itself, on stderr and in a log line. DuckDB's messages can
// quote the data a statement read (a conversion or constraint error names the value), so only the
// messages of error types that describe the engine's state (memory, files, transactions, the
// catalog) are shown; of any other DuckDB error, only its type.
import { isAppError } from '../../shared/errors.js';

/** DuckDB error types ("<Type> Error: …") whose messages carry no row data. */
const MESSAGE_SHOWN = new Set([
  'Out of Memory',
  'IO',
  'Permission',
  'Interrupt',
  'TransactionContext',
  'Catalog',
  'Fatal',
]);

/** Characters of a shown message kept (its first line: DuckDB appends advice after a blank line). */
const MAX_CHARS = 300;

/**
 * A short account of why a load failed, safe to print and to log: "Out of Memory Error: failed to
 * pin block of size 256.0 KiB (244.1 MiB/244.1 MiB used)", "Conversion Error (its message is not
 * shown: it may quote event data)", an AppError's own message, or a system error's code.
 */
export function describeLoadError(error: unknown): string {
  if (isAppError(error)) return error.message;
  if (!(error instanceof Error)) return 'unknown error';
  const duck = /^([A-Za-z][A-Za-z ]*?) Error: ([^\n]*)/.exec(error.message);
  if (duck) {
    const type = duck[1] as string;
    if (!MESSAGE_SHOWN.has(type)) {
      return `${type} Error (its message is not shown: it may quote event data)`;
    }
    return `${type} Error: ${(duck[2] as string).trim().slice(0, MAX_CHARS)}`;
  }
  const code = (error as NodeJS.ErrnoException).code;
  // A system error (ENOSPC, EACCES…): its message names a path, the code says enough.
  if (typeof code === 'string' && /^E[A-Z0-9]+$/.test(code)) return `system error ${code}`;
  return error.name === 'Error' ? 'unknown error' : `${error.name} (its message is not shown)`;
}

/**
 * DuckDB's buffer pool refusing memory: "Out of Memory Error: …", or the same refusal met while a
 * transaction commits, which DuckDB reports as "TransactionContext Error: Failed to commit: failed
 * to pin block of size 256.0 KiB (243.9 MiB/244.1 MiB used)" (seen under a flood of queries: the
 * audit journal's loads and the metadata reads failed so, and answered 500).
 */
const OUT_OF_MEMORY =
  /^(?:Out of Memory Error: |TransactionContext Error: Failed to commit: (?:failed to pin block|failed to allocate data|could not allocate block) of size )/;

/** Whether a statement failed because DuckDB ran out of memory (the limit can be raised). */
export function isOutOfMemory(error: unknown): boolean {
  return error instanceof Error && OUT_OF_MEMORY.test(error.message);
}

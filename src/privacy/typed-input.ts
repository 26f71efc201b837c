// What people type into Sillage and Sillage keeps (a saved cohort's or view's name and
// definition) holds no personal data: stored events hold `[email]` where an e-mail was, so a typed
// e-mail matches nothing, and keeping it would put it on disk (the audit log keeps the filter
// values of a query only as HMACs).
import { AppError } from '../shared/errors.js';
import { hasHits, scanText, type PiiHits } from './scanner.js';

/**
 * Refuses (400 `REQUEST_INVALID`, the path named, never the value) a value holding a string or a
 * key that the PII scanner would redact, at any depth.
 */
export function refuseTypedPersonalData(value: unknown, path = ''): void {
  const found = findPersonalData(value, path);
  if (found === null) return;
  const message = `holds personal data (${found.kind}), which Sillage does not keep; stored events hold a placeholder such as [email] instead`;
  throw new AppError('REQUEST_INVALID', `${found.path} ${message}`, {
    details: [{ path: found.path, message }],
  });
}

function findPersonalData(value: unknown, path: string): { path: string; kind: string } | null {
  if (typeof value === 'string') {
    const hits: PiiHits = {};
    scanText(value, hits);
    return hasHits(hits) ? { path, kind: Object.keys(hits).join(', ') } : null;
  }
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = findPersonalData(value[i], join(path, String(i)));
      if (found) return found;
    }
    return null;
  }
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value);
    for (let i = 0; i < entries.length; i++) {
      const [key, item] = entries[i] as [string, unknown];
      // A key holding personal data is named by its position (the path is echoed).
      const inKey = findPersonalData(key, join(path, `[key #${i + 1}]`));
      if (inKey) return inKey;
      const found = findPersonalData(item, join(path, key));
      if (found) return found;
    }
  }
  return null;
}

function join(path: string, part: string): string {
  return path === '' ? part : `${path}.${part}`;
}

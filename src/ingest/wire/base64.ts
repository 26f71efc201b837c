// Strict base64 decoding (standard and URL-safe alphabets, padding optional) with error positions.

/** Outcome of a strict base64 decode; `position` is the index of the first offending character. */
export type Base64Result =
  { ok: true; bytes: Buffer } | { ok: false; position: number; reason: string };

function isBase64Char(c: number): boolean {
  return (
    (c >= 0x41 && c <= 0x5a) || // A-Z
    (c >= 0x61 && c <= 0x7a) || // a-z
    (c >= 0x30 && c <= 0x39) || // 0-9
    c === 0x2b || // +
    c === 0x2f || // /
    c === 0x2d || // -
    c === 0x5f // _
  );
}

/** Error path only: walks the text to name the first character that breaks the grammar. */
function locateProblem(text: string): { position: number; reason: string } {
  let count = 0;
  let padAt = -1;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x0a || c === 0x0d) continue;
    if (c === 0x3d) {
      if (padAt === -1) padAt = count;
      if (count - padAt >= 2) return { position: i, reason: 'too much padding' };
      count++;
      continue;
    }
    if (padAt !== -1) return { position: i, reason: 'data after padding' };
    if (!isBase64Char(c)) return { position: i, reason: 'invalid character' };
    count++;
  }
  return { position: text.length, reason: 'invalid length' };
}

/**
 * Decodes standard (`+/`) or URL-safe (`-_`) base64, padding optional, line breaks ignored (GNU
 * `base64` wraps at 76 columns and curl users paste that). Anything else is refused with the
 * position of the first bad character. Node's decoder is lenient (it skips junk), so strictness
 * comes from checking the decoded length against the input length: any skipped or early-ending
 * character makes the output shorter than the input says it must be.
 */
export function decodeBase64Strict(input: string): Base64Result {
  const text = input.includes('\n') || input.includes('\r') ? input.replace(/[\r\n]+/g, '') : input;
  let end = text.length;
  while (end > 0 && text.charCodeAt(end - 1) === 0x3d && text.length - end < 2) end--;
  const padded = end !== text.length;
  const rem = end % 4;
  if (end === 0 || rem === 1 || (padded && text.length % 4 !== 0)) {
    const found = locateProblem(input);
    return { ok: false, ...found };
  }
  const bytes = Buffer.from(text, 'base64');
  const expected = (end >> 2) * 3 + (rem === 0 ? 0 : rem - 1);
  if (bytes.length !== expected) {
    return { ok: false, ...locateProblem(input) };
  }
  return { ok: true, bytes };
}

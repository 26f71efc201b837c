// A bounded multipart/form-data reader (RFC 7578) for the few named text fields the SDK APIs use:
// `data`, `compression` and Mixpanel's parameters, as `curl -F data=…` sends them.

/** Parts beyond this many are not read (a form has a handful). */
const MAX_PARTS = 32;
/** Header block of one part, bytes. */
const MAX_PART_HEADERS = 1024;

export type MultipartResult =
  { ok: true; fields: Map<string, Buffer> } | { ok: false; reason: string };

/** The `boundary` parameter of a multipart Content-Type (quoted or not), or null. */
export function multipartBoundary(contentType: string): string | null {
  const match = /;\s*boundary=(?:"([^"]{1,70})"|([^\s;]{1,70}))/i.exec(contentType);
  return match ? (match[1] ?? match[2] ?? null) : null;
}

function partName(headers: string): string | null {
  for (const line of headers.split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon === -1) continue;
    if (line.slice(0, colon).trim().toLowerCase() !== 'content-disposition') continue;
    const match = /;\s*name="([^"]*)"/i.exec(line) ?? /;\s*name=([^;\s]+)/i.exec(line);
    return match?.[1] ?? null;
  }
  return null;
}

/**
 * The named fields of a multipart/form-data body (first occurrence wins; values are the raw part
 * bytes, without the part's own Content-Transfer-Encoding, which RFC 7578 deprecates). Linear in
 * the body length; refuses a body without the boundary, or with a part whose headers do not end.
 */
export function readMultipartFields(body: Buffer, contentType: string): MultipartResult {
  const boundary = multipartBoundary(contentType);
  if (boundary === null) return { ok: false, reason: 'multipart Content-Type has no boundary' };
  const delimiter = Buffer.from(`--${boundary}`, 'latin1');
  let at = body.indexOf(delimiter);
  if (at === -1) return { ok: false, reason: 'multipart body does not contain its boundary' };
  const fields = new Map<string, Buffer>();
  const next = Buffer.from(`\r\n--${boundary}`, 'latin1');
  for (let parts = 0; parts < MAX_PARTS; parts++) {
    at += delimiter.length;
    // `--boundary--` closes the body.
    if (body[at] === 0x2d && body[at + 1] === 0x2d) return { ok: true, fields };
    const headersStart = body.indexOf('\r\n', at);
    if (headersStart === -1) return { ok: false, reason: 'multipart body ends inside a part' };
    const headersEnd = body.indexOf('\r\n\r\n', headersStart);
    if (headersEnd === -1 || headersEnd - headersStart > MAX_PART_HEADERS) {
      return { ok: false, reason: 'multipart part headers do not end' };
    }
    const valueStart = headersEnd + 4;
    const valueEnd = body.indexOf(next, valueStart);
    if (valueEnd === -1) return { ok: false, reason: 'multipart body is not closed' };
    const name = partName(body.toString('latin1', headersStart + 2, headersEnd));
    if (name !== null && !fields.has(name)) fields.set(name, body.subarray(valueStart, valueEnd));
    at = valueEnd + 2;
  }
  return { ok: true, fields };
}

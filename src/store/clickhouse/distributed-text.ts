// Statement text that survives ClickHouse 18.16's distributed rewrite. A query on a Distributed
// table reaches each shard as the initiator's AST printed back to text, and 18.16 prints
// `tupleElement(t, 2)` as `t.2`: followed by a subscript, `t.2[i]` no longer parses on the shard
// (error 62). With a non-literal index the function is printed as written, so this spells each
// `tupleElement(name, N)` of the compiler's statements `tupleElement(name, toUInt8(N))` — the same
// value (the index is still a constant), on one server or many. Quoted strings and identifiers
// are copied as they are (so a value that looks like the pattern is never changed).

const CALL = /^tupleElement\(([A-Za-z_][A-Za-z0-9_]*), ([0-9]{1,3})\)/;

/** `text` with every unquoted `tupleElement(name, N)` given a non-literal index. */
export function distributedSafe(text: string): string {
  if (!text.includes('tupleElement(')) return text;
  let out = '';
  let i = 0;
  // Bounded: every pass consumes at least one character.
  while (i < text.length) {
    const ch = text[i]!;
    if (ch === "'" || ch === '`') {
      // A quoted string or identifier, with the backslash escapes of escape.ts.
      let j = i + 1;
      while (j < text.length && text[j] !== ch) j += text[j] === '\\' ? 2 : 1;
      out += text.slice(i, j + 1);
      i = j + 1;
      continue;
    }
    if (ch === 't') {
      const m = CALL.exec(text.slice(i, i + 80));
      if (m && !/[A-Za-z0-9_]/.test(text[i - 1] ?? ' ')) {
        out += `tupleElement(${m[1]!}, toUInt8(${m[2]!}))`;
        i += m[0].length;
        continue;
      }
    }
    out += ch;
    i++;
  }
  return out;
}

// JSON values as the safe JSON parser produces them: vocabulary shared by every layer.

/** A JSON value as produced by the safe JSON parser (no prototype keys, bounded depth). */
export type JsonValue = string | number | boolean | null | JsonValue[] | JsonObject;
export interface JsonObject {
  [key: string]: JsonValue;
}

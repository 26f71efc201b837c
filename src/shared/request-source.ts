// Where a request came from, as services see it. The address is for the audit log's keyed hash of
// its network and never leaves memory; `place` is already coarse ('Lyon, FR', 'FR').
export type RequestSource =
  | { kind: 'http'; ip: string | null; place: string | null }
  | { kind: 'cli' }
  | { kind: 'admin-socket' }
  | { kind: 'system' };

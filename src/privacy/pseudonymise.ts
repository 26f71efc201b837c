// Keyed pseudonyms for identifiers: HMAC-SHA256 under the project's pseudonym key, truncated.
//
// Format: `u_` (user-ish ids) or `g_` (group ids) + base64url of the first 16 bytes (128 bits) of
// HMAC-SHA256(key, domain-separated input): 24 ASCII characters.
//
// Collision maths: for n distinct ids the probability that any two share a pseudonym is about
// n² / 2^129 (birthday bound). One billion ids give ≈ 1.5·10⁻²¹; 2^32 ids give ≈ 2^-65. 128 bits
// also meets ASVS 11.2.3. Without the key, a pseudonym reveals nothing (HMAC is a PRF), so
// dictionary attacks on e-mails or small integer ids need the key, which never sits with the data.
import { KeyedHash128 } from './keyed-hash.js';
import { KEY_BYTES } from './master-key.js';
import type { ProjectKeyring } from './keyring.js';

/** Maps raw identifiers to stable pseudonyms under one key. */
export interface Pseudonymiser {
  /**
   * A user-ish id (distinct_id, $user_id, $device_id, alias ids, identifier properties): all share
   * one domain because identity merge relies on the same value mapping to the same pseudonym.
   * `$device:<id>` (mixpanel-browser's anonymous distinct_id) maps like `<id>`, as Mixpanel itself
   * treats it as that device id. '' (no user) stays ''.
   */
  (id: string): string;
  /** A group id, separated by group key: `acme` as a `company` and as a `team` differ. */
  group(groupKey: string, id: string): string;
}

/** Options for `createPseudonymiser`. */
export interface PseudonymiserOptions {
  /**
   * Entries in each generation of the memo of recent ids (default 32768; 0 disables it). An HMAC
   * costs two SHA-256 blocks (keyed-hash.ts; ~4-5× cheaper than node:crypto's createHmac, measured
   * in the same run) and the same ids recur across requests (users, devices and sessions active at
   * the moment), so the memo should hold the ids active within a few minutes. When ids rarely
   * recur (an import of many distinct users), misses cost a map insertion and old-generation
   * garbage (a 200k-line import with ~120k distinct ids, the import worker's stages in one
   * thread, two alternating pairs at load 15-20: 27.8 and 23.9 µs per event without the memo,
   * 30.2 and 34.3 with it); the memo stays on, as ids do recur in live traffic. The memo holds
   * raw ids in process memory only, like the request being processed (~100 bytes each), and
   * only for as long as they are in use: see MEMO_GENERATION_MS.
   */
  cacheSize?: number;
}

/**
 * How long a memo generation lasts: every this often the young generation becomes the old one and
 * the old one is dropped, so an id not used for two generations (10 minutes) is forgotten, busy or
 * idle. The memo then never holds more than what the process saw in its last minutes: a heap dump
 * of it shows the raw ids of recent requests (which the process held anyway while serving them)
 * with their pseudonyms (which its pseudonym key, in the same heap, computes for any id).
 */
export const MEMO_GENERATION_MS = 5 * 60_000;

const USER_PREFIX = 'u_';
const GROUP_PREFIX = 'g_';
const DEVICE_PREFIX = '$device:';
// Long ids are rare and would make the memo's memory unbounded; they are simply not memoised.
const MAX_MEMO_INPUT = 256;
/** The group key under which the privacy stage pseudonymises insert ids (never memoised). */
const UNIQUE_PER_EVENT = '$insert_id';

/** Creates a pseudonymiser for one key (the project's current pseudonym key). */
export function createPseudonymiser(
  key: Buffer,
  options: PseudonymiserOptions = {},
): Pseudonymiser {
  if (key.length !== KEY_BYTES) throw new RangeError('pseudonym key must be 32 bytes');
  // HMAC-SHA256 truncated to 16 bytes (keyed-hash.ts: the key's blocks are hashed once).
  const hasher = new KeyedHash128(key);
  // Memoised by the raw id (no string is built on a hit), one memo per domain.
  const userMemo = new TwoGenerationMemo(options.cacheSize ?? 32_768);
  const groupMemo = new TwoGenerationMemo(options.cacheSize ?? 32_768);
  const mac = (input: string, prefix: string): string => prefix + hasher.digest(input);
  // Without a memo (an import's workers), the last id and its pseudonym: an event's distinct_id
  // and $user_id are mostly the same id, hashed once instead of twice. One id, held until the
  // next one, in the thread that is processing it anyway.
  const memoless = (options.cacheSize ?? 32_768) <= 0;
  let lastId = '';
  let lastPseudonym = '';
  const user = (id: string): string => {
    if (id === '') return '';
    if (memoless) {
      if (id === lastId) return lastPseudonym;
      const canonical = id.startsWith(DEVICE_PREFIX) ? id.slice(DEVICE_PREFIX.length) : id;
      lastPseudonym = mac(`id:${canonical}`, USER_PREFIX);
      lastId = id;
      return lastPseudonym;
    }
    const memoable = id.length <= MAX_MEMO_INPUT;
    const hit = memoable ? userMemo.get(id) : undefined;
    if (hit !== undefined) return hit;
    const canonical = id.startsWith(DEVICE_PREFIX) ? id.slice(DEVICE_PREFIX.length) : id;
    const pseudonym = mac(`id:${canonical}`, USER_PREFIX);
    if (memoable) userMemo.set(id, pseudonym);
    return pseudonym;
  };
  // Length-prefixing the group key keeps (key, id) pairs unambiguous whatever they contain.
  const group = (groupKey: string, id: string): string => {
    if (id === '') return '';
    const input = `group:${groupKey.length}:${groupKey}:${id}`;
    // Insert ids are unique per event: memoising them would only push the ids that do recur out
    // of the memo (and cost a map insertion per event).
    const memoable = input.length <= MAX_MEMO_INPUT && groupKey !== UNIQUE_PER_EVENT;
    const hit = memoable ? groupMemo.get(input) : undefined;
    if (hit !== undefined) return hit;
    const pseudonym = mac(input, GROUP_PREFIX);
    if (memoable) groupMemo.set(input, pseudonym);
    return pseudonym;
  };
  return Object.assign(user, { group });
}

/** True when a string has the shape of a pseudonym made here. */
export function isPseudonym(value: string): boolean {
  return /^[ug]_[A-Za-z0-9_-]{22}$/.test(value);
}

/** One id's pseudonyms under every key version of a project. */
export interface PseudonymMatch {
  id: string;
  pseudonyms: Array<{ version: number; pseudonym: string }>;
}

/**
 * For a key holder matching their own list of ids against stored pseudonyms (erasure requests,
 * breach reports): computes, for each id, its pseudonym under every pseudonym key version. Nothing
 * reversible is stored anywhere; the mapping exists only in the caller's hands.
 * `groupKey` switches to group ids of that group key.
 */
export function pseudonymsFor(
  keyring: ProjectKeyring,
  ids: Iterable<string>,
  groupKey?: string,
): PseudonymMatch[] {
  const makers = keyring.all('pseudonym').map((k) => ({
    version: k.version,
    make: createPseudonymiser(k.key, { cacheSize: 0 }),
  }));
  const out: PseudonymMatch[] = [];
  for (const id of ids) {
    out.push({
      id,
      pseudonyms: makers.map(({ version, make }) => ({
        version,
        pseudonym: groupKey === undefined ? make(id) : make.group(groupKey, id),
      })),
    });
  }
  return out;
}

/**
 * A bounded memo with O(1) operations: when the young map fills, or at every `age` (see
 * MEMO_GENERATION_MS), it becomes the old one; a hit in the old one moves the entry back.
 */
export class TwoGenerationMemo {
  private young = new Map<string, string>();
  private old = new Map<string, string>();

  constructor(private readonly limit: number) {
    if (limit > 0) trackMemo(this);
  }

  /** Starts a new generation: what was not used since the last one is forgotten. */
  age(): void {
    this.old = this.young;
    this.young = new Map();
  }

  get(key: string): string | undefined {
    const young = this.young.get(key);
    if (young !== undefined) return young;
    const old = this.old.get(key);
    if (old !== undefined) this.set(key, old);
    return old;
  }

  set(key: string, value: string): void {
    if (this.limit <= 0) return;
    if (this.young.size >= this.limit) {
      this.old = this.young;
      this.young = new Map();
    }
    this.young.set(key, value);
  }
}

// One timer for every memo of the process (per thread), holding them weakly: a pseudonymiser that
// is no longer used (a project's policy or key changed) is collected with its memo.
const memos = new Set<WeakRef<TwoGenerationMemo>>();
let sweeper: NodeJS.Timeout | null = null;

function trackMemo(memo: TwoGenerationMemo): void {
  memos.add(new WeakRef(memo));
  if (sweeper !== null) return;
  sweeper = setInterval(() => {
    for (const ref of memos) {
      const live = ref.deref();
      if (live === undefined) memos.delete(ref);
      else live.age();
    }
  }, MEMO_GENERATION_MS);
  // Never what keeps a process (or a worker thread) alive.
  sweeper.unref();
}

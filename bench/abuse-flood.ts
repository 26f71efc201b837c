// The flood of bench:abuse, in its own process: `node --import tsx bench/abuse-flood.ts <url>
// <public token> <ms>`. Twelve senders cycle through adversarial bodies with only the public token
// (a 9.5 MB string, deep nesting, many keys, "1 1 1 …" card-like strings, a gzip bomb) and rounds
// of slow-body connections run beside them, for <ms> once the bodies are built (it prints `ready`
// then); then it prints, as one JSON object, how many answers of each kind it got. Every loop is bounded in count and time.
import net from 'node:net';
import { gzipSync } from 'node:zlib';

const [url = '', token = '', msText = '15000'] = process.argv.slice(2);
let end = Number.POSITIVE_INFINITY;
const stop = () => Date.now() > end;
const answers = new Map<string, number>();

function count(map: Map<string, number>, key: string): void {
  map.set(key, (map.get(key) ?? 0) + 1);
}

// Adversarial bodies, built once.
const card = (chars: number) => '1 '.repeat(Math.ceil(chars / 2)).slice(0, chars);
function hostileBodies(
  token: string,
): { kind: string; body: Buffer; headers: Record<string, string> }[] {
  const json = { 'content-type': 'application/json' };
  const manyKeys = Object.fromEntries(Array.from({ length: 200_000 }, (_, i) => [`k${i}`, 1]));
  return [
    {
      kind: 'large string (9.5 MB value)',
      body: Buffer.from(
        JSON.stringify([{ event: 'x', properties: { token, v: card(9_500_000) } }]),
      ),
      headers: json,
    },
    {
      kind: 'deep nesting (100k levels)',
      body: Buffer.from('['.repeat(100_000) + ']'.repeat(100_000)),
      headers: json,
    },
    {
      kind: 'many keys (200k in one event)',
      body: Buffer.from(JSON.stringify([{ event: 'x', properties: { token, ...manyKeys } }])),
      headers: json,
    },
    {
      kind: 'card-like strings (40 × 60 KB "1 1 1")',
      body: Buffer.from(
        JSON.stringify(
          Array.from({ length: 40 }, (_, i) => ({
            event: 'x',
            properties: { token, distinct_id: `h${i}`, v: card(60_000) },
          })),
        ),
      ),
      headers: json,
    },
    {
      kind: 'gzip bomb (100 MB of spaces)',
      body: gzipSync(Buffer.alloc(100 * 1024 * 1024, 0x20)),
      headers: { ...json, 'content-encoding': 'gzip' },
    },
  ];
}

/** Slow bodies: connections that send headers and a byte now and then (bounded count). */
function slowBodies(
  port: number,
  stop: () => boolean,
  answers: Map<string, number>,
): Promise<void> {
  const one = (): Promise<void> =>
    new Promise((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => {
        s.write(
          'POST /track HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000000\r\n\r\n[',
        );
      });
      let answered = false;
      const drip = setInterval(() => (stop() ? s.destroy() : s.write(' ')), 1_000);
      s.on('data', (d: Buffer) => {
        if (!answered) count(answers, `slow body: ${d.toString('latin1').split(' ')[1] ?? '?'}`);
        answered = true;
      });
      s.on('error', () => undefined);
      s.on('close', () => {
        clearInterval(drip);
        if (!answered) count(answers, 'slow body: closed');
        resolve();
      });
    });
  return (async () => {
    for (let round = 0; round < 20 && !stop(); round++) {
      await Promise.all(Array.from({ length: 200 }, one));
    }
  })();
}

const hostile = hostileBodies(token);
const hostileSender = async (stop: () => boolean, answers: Map<string, number>, k: number) => {
  for (let r = 0; r < 1_000 && !stop(); r++) {
    const h = hostile[(k + r) % hostile.length]!;
    const res = await fetch(`${url}/track`, {
      method: 'POST',
      headers: h.headers,
      body: new Uint8Array(h.body),
    }).catch(() => null);
    if (res) await res.text();
    count(answers, `${h.kind}: ${res?.status ?? 'network error'}`);
  }
};

// The bodies are built: tell the bench (which starts its clock now), then flood for <ms>.
end = Date.now() + Number(msText);
process.stdout.write('ready\n');
const port = Number(new URL(url).port);
const work: Promise<unknown>[] = [];
for (let k = 0; k < 12; k++) work.push(hostileSender(stop, answers, k));
if (process.env.BENCH_SLOW_BODIES !== '0') work.push(slowBodies(port, stop, answers));
await Promise.all(work);
process.stdout.write(`${JSON.stringify(Object.fromEntries(answers))}\n`);

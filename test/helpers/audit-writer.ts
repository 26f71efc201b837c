// Child process for the audit journal crash test: the embedded runtime (sealed journal in front
// of DuckDB, as the server runs it) records entries from several concurrent clients. Prints
// `sent <client> <n>` before each record and `ack <seq> <client> <n>` once it has resolved
// (= durable: a read would be released now), then `done`.
// Usage: node --import tsx audit-writer.ts <data dir> <clients> <entries per client>
// (the master key file comes from SILLAGE_MASTER_KEY_FILE).
import { openRuntime } from '../../src/cli/runtime.js';
import { loadConfig } from '../../src/shared/config.js';
import { SILENT_LOGGER } from '../../src/shared/log.js';

const [data = '', clients = '0', perClient = '0'] = process.argv.slice(2);

// Pipes are written synchronously on Linux: a line printed is in the pipe before the next step.
const say = (line: string): void => void process.stdout.write(line + '\n');

const rt = await openRuntime(loadConfig({ data }, process.env), SILENT_LOGGER);
await Promise.all(
  Array.from({ length: Number(clients) }, async (_, c) => {
    for (let n = 0; n < Number(perClient); n++) {
      say(`sent ${c} ${n}`);
      const entry = await rt.audit.record({ kind: 'query', actor: `key:c${c}`, rows: n });
      say(`ack ${entry.seq} ${c} ${n}`);
    }
  }),
);
await rt.close();
say('done');

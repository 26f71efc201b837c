import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { SERVER_ENV, SERVER_NODE_FLAGS } from './node-flags.js';

describe('server Node.js flags', () => {
  it('are the flags and environment `npm start` runs the server with', () => {
    const manifest = JSON.parse(
      fs.readFileSync(new URL('../../package.json', import.meta.url), 'utf8'),
    ) as { scripts: Record<string, string> };
    expect(manifest.scripts.start).toBe(
      [
        ...Object.entries(SERVER_ENV).map(([k, v]) => `${k}=${v}`),
        'node',
        ...SERVER_NODE_FLAGS,
        'dist/cli/main.js',
        'serve',
      ].join(' '),
    );
  });
});

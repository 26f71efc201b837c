// failIfUnfinished in a real process: the exit code and the message when the event loop empties
// while the command's promise is pending, and nothing when the work settles or can still progress.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const MODULE = fileURLToPath(new URL('./unfinished.ts', import.meta.url));

function run(work: string): { status: number | null; stderr: string } {
  const script = `import { failIfUnfinished } from ${JSON.stringify(MODULE)};
failIfUnfinished(${work}, (line) => console.error(line)).then(
  () => console.error('settled'),
  () => { console.error('rejected'); process.exitCode = 2; },
);`;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    encoding: 'utf8',
    timeout: 30_000,
  });
  return { status: r.status, stderr: r.stderr };
}

describe('a command that can no longer progress', () => {
  it('exits 1 with a message instead of 0 when nothing is left that could settle it', () => {
    const r = run('new Promise(() => {})');
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('[INCOMPLETE]');
  });

  it('is quiet when the work settles, also later through a live timer', () => {
    for (const work of [
      'Promise.resolve(1)',
      'new Promise((resolve) => setTimeout(resolve, 200))',
    ]) {
      const r = run(work);
      expect(r.status).toBe(0);
      expect(r.stderr).toContain('settled');
      expect(r.stderr).not.toContain('INCOMPLETE');
    }
  });

  it('lets a failure through as a failure', () => {
    const r = run('Promise.reject(new Error("x"))');
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('rejected');
    expect(r.stderr).not.toContain('INCOMPLETE');
  });
});

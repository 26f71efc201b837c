// Builds the dashboard (web/app → web/dist) and checks what a first visit downloads: the scripts
// that index.html loads, gzip-compressed, must stay under FIRST_LOAD_BUDGET_BYTES.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';
import { defineConfig, type Plugin } from 'vite';

/** First-load JavaScript budget (compressed), from issue 14. */
export const FIRST_LOAD_BUDGET_BYTES = 250 * 1024;

const kb = (n: number): string => `${(n / 1024).toFixed(1)} KB`;

/** Prints each script's size and fails the build when the first load goes over budget. */
function firstLoadBudget(): Plugin {
  return {
    name: 'sillage-first-load-budget',
    apply: 'build',
    // After writing: index.html then names the final script files.
    writeBundle(options, bundle) {
      const source = readFileSync(path.join(options.dir ?? '', 'index.html'), 'utf8');
      const firstLoad = new Set(
        [...source.matchAll(/(?:src|href)="\/(static\/[^"]+\.js)"/g)].map((m) => m[1]),
      );
      let total = 0;
      const lines: string[] = [];
      for (const file of Object.values(bundle)) {
        if (file.type !== 'chunk') continue;
        const gz = gzipSync(file.code, { level: 9 }).length;
        const first = firstLoad.has(file.fileName);
        if (first) total += gz;
        lines.push(
          `  ${first ? 'first load' : 'on demand '}  ${kb(gz).padStart(9)}  ${file.fileName}`,
        );
      }
      const verdict = total <= FIRST_LOAD_BUDGET_BYTES ? 'within' : 'OVER';
      this.info(
        `JavaScript (gzip -9):\n${lines.join('\n')}\n  first load total ${kb(total)} — ${verdict} the ${kb(FIRST_LOAD_BUDGET_BYTES)} budget`,
      );
      if (total > FIRST_LOAD_BUDGET_BYTES) {
        this.error(`first-load JavaScript is ${kb(total)} compressed, over the budget`);
      }
    },
  };
}

export default defineConfig({
  root: fileURLToPath(new URL('./app', import.meta.url)),
  base: '/',
  esbuild: { jsx: 'automatic', jsxImportSource: 'preact' },
  plugins: [firstLoadBudget()],
  build: {
    outDir: fileURLToPath(new URL('./dist', import.meta.url)),
    emptyOutDir: true,
    assetsDir: 'static',
    // The CSP allows scripts and styles from this origin only: no inline helper scripts.
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
    target: 'es2022',
    sourcemap: false,
    reportCompressedSize: false,
  },
});

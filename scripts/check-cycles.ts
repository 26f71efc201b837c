// CI check: fails on any import cycle between files, or between the folders of src/ (each
// top-level folder is one node; a store adapter folder such as src/store/duckdb is its own node,
// so the ports cannot lean on an adapter). Type-only imports count: they tie the layers too.
import path from 'node:path';
import { parseDependencyTree, parseCircular } from 'dpdm';

const ROOT = path.resolve(import.meta.dirname, '..');
const TEST_FILE = /\.(test|conformance)\.ts$/;
const ADAPTER_DIRS = /^src\/store\/(duckdb|postgres|clickhouse)\//;

/** The folder node a file belongs to, or null for files outside src/. */
function folderOf(file: string): string | null {
  const adapter = ADAPTER_DIRS.exec(file);
  if (adapter) return `src/store/${adapter[1]}`;
  const parts = file.split('/');
  if (parts[0] !== 'src' || parts.length < 3) return null;
  return `src/${parts[1]}`;
}

/** Every elementary cycle reachable in a small graph, each reported once (Tarjan's SCCs). */
function stronglyConnected(graph: Map<string, Set<string>>): string[][] {
  let index = 0;
  const indices = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const out: string[][] = [];
  const visit = (v: string): void => {
    indices.set(v, index);
    low.set(v, index);
    index += 1;
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!indices.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v)!, indices.get(w)!));
      }
    }
    if (low.get(v) === indices.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1) out.push(component.sort());
    }
  };
  for (const v of graph.keys()) if (!indices.has(v)) visit(v);
  return out;
}

async function main(): Promise<number> {
  const tree = await parseDependencyTree(['src/**/*.ts', 'test/**/*.ts', 'bench/**/*.ts'], {
    context: ROOT,
    tsconfig: path.join(ROOT, 'tsconfig.json'),
    transform: false,
    skipDynamicImports: false,
  });
  let failed = 0;
  const fileCycles = parseCircular(tree);
  for (const cycle of fileCycles) {
    console.error(`file cycle: ${[...cycle, cycle[0]].join(' -> ')}`);
    failed += 1;
  }

  const folders = new Map<string, Set<string>>();
  const witness = new Map<string, string[]>();
  for (const [file, deps] of Object.entries(tree)) {
    const from = folderOf(file);
    // Tests are leaves: one may use an adapter of another folder without tying the layers.
    if (from === null || !deps || TEST_FILE.test(file)) continue;
    for (const dep of deps) {
      const to = dep.id === null ? null : folderOf(dep.id);
      if (to === null || to === from) continue;
      const edges = folders.get(from) ?? new Set<string>();
      edges.add(to);
      folders.set(from, edges);
      const seen = witness.get(`${from} ${to}`) ?? [];
      seen.push(`${file} -> ${dep.id}`);
      witness.set(`${from} ${to}`, seen);
    }
  }
  for (const component of stronglyConnected(folders)) {
    console.error(`folder cycle among: ${component.join(', ')}`);
    for (const from of component) {
      for (const to of folders.get(from) ?? []) {
        if (!component.includes(to)) continue;
        for (const edge of witness.get(`${from} ${to}`) ?? []) console.error(`  ${edge}`);
      }
    }
    failed += 1;
  }
  if (failed === 0) console.log(`no import cycle among ${Object.keys(tree).length} files`);
  return failed === 0 ? 0 : 1;
}

process.exitCode = await main();

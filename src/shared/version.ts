// The running version, read once from package.json (the one place it is written).
import { createRequire } from 'node:module';

const pkg = createRequire(import.meta.url)('../../package.json') as { version: string };

export const SILLAGE_VERSION: string = pkg.version;

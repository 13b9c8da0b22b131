import { existsSync, readFileSync } from 'node:fs';

// From src/ (tests) and dist/src/ (built) alike: the nearest package.json above this file.
const file = ['../package.json', '../../package.json']
  .map((p) => new URL(p, import.meta.url))
  .find((u) => existsSync(u) && (JSON.parse(readFileSync(u, 'utf8')) as { name?: string }).name === 'rampart');

export const VERSION: string = file ? (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version : '0.0.0';

#!/usr/bin/env node
// Entry point: kvopt is written in TypeScript and run through tsx, so no build step is needed.
import { register } from 'tsx/esm/api';
register();
const { run } = await import('../src/cli/main.ts');
const code = await run(process.argv.slice(2));
if (code !== 0) process.exit(code);

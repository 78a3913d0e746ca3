#!/usr/bin/env node
// Entry point: kvopt is written in TypeScript and run through tsx, so no build step is needed.
import { register } from 'tsx/esm/api';
register();
await import('../src/cli/main.ts');

#!/usr/bin/env node
// Copies the non-TypeScript files the compiled code reads at run time (the Redis store's Lua
// scripts) from src/ into dist/, keeping their paths; tsc only emits what it compiles.
import { cpSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const ASSETS = ['.lua'];
const walk = (dir) =>
  readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? walk(path) : ASSETS.some((ext) => name.endsWith(ext)) ? [path] : [];
  });

for (const file of walk('src')) cpSync(file, join('dist', relative('src', file)));

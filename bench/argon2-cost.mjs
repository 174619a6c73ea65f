// Time of one argon2id verify at Gatehouse's parameters (HASH_OPTIONS from the compiled
// src/services/passwords.ts), one at a time on an otherwise idle core. Prints JSON.
// Usage: node bench/argon2-cost.mjs [count] [path to the compiled passwords.js]
import { pathToFileURL } from 'node:url';
import argon2 from 'argon2';

const count = Number(process.argv[2] ?? 30);
const passwordsModule = process.argv[3] ? pathToFileURL(process.argv[3]).href : new URL('../dist/services/passwords.js', import.meta.url).href;
const { HASH_OPTIONS } = await import(passwordsModule);
const password = 'correct horse battery staple';
const hash = await argon2.hash(password, HASH_OPTIONS);
for (let i = 0; i < 3; i += 1) await argon2.verify(hash, password); // warm-up

const samples = [];
for (let i = 0; i < count; i += 1) {
  const started = process.hrtime.bigint();
  const ok = await argon2.verify(hash, password);
  samples.push(Number(process.hrtime.bigint() - started) / 1e6);
  if (!ok) throw new Error('argon2 verify failed');
}
samples.sort((a, b) => a - b);
const mean = samples.reduce((sum, value) => sum + value, 0) / samples.length;
process.stdout.write(`${JSON.stringify({
  options: { type: 'argon2id', memoryCost: HASH_OPTIONS.memoryCost, timeCost: HASH_OPTIONS.timeCost, parallelism: HASH_OPTIONS.parallelism },
  count,
  meanMs: mean,
  medianMs: samples[Math.floor(samples.length / 2)],
  minMs: samples[0],
  maxMs: samples[samples.length - 1],
})}\n`);

// `npm test`: the suite in two phases. The fault tests (test/faults/) measure latency
// percentiles and time bounds under injected faults, so they run one at a time after the
// rest, on a machine no other test file is loading; everything else runs in parallel
// first. Given test paths (`npm test -- test/unit/x.test.ts`) it is one plain Jest run.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const jest = fileURLToPath(new URL('../node_modules/jest/bin/jest.js', import.meta.url));
const FAULTS = '<rootDir>/test/faults/';

/** Runs Jest with these arguments; its exit code. */
function runJest(args) {
  const result = spawnSync(process.execPath, ['--experimental-vm-modules', jest, ...args], { stdio: 'inherit' });
  return result.status ?? 1;
}

const args = process.argv.slice(2);
// Paths, a name filter or any flag with a value: one run, as asked. Only switches
// (`--ci`, `--coverage`…) keep the two phases, and go to both.
if (!args.every((arg) => arg.startsWith('--') && !arg.includes('='))) process.exit(runJest(args));

console.log('== the suite, fault tests excepted');
const suite = runJest(['--testPathIgnorePatterns', FAULTS, ...args]);
console.log('== fault tests, one at a time');
const faults = runJest(['--runInBand', '--testPathPatterns', '/test/faults/', ...args]);
process.exit(suite || faults);

// Runs once before the suite: a fresh folder for the logs of every app the tests start
// (the workers inherit the variable).
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

export default async function globalSetup() {
  process.env.GATEHOUSE_TEST_LOG_DIR ??= await mkdtemp(path.join(tmpdir(), 'gatehouse-test-logs-'));
}

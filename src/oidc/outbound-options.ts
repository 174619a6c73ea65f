// Options for the outbound fetch (oidc/outbound-fetch.ts) from configuration. In every
// real deployment there are none: https only, public addresses only, system CA roots.
// A test run may name a CA file (OUTBOUND_TEST_CA_FILE) so that the relying parties it
// starts on local https servers can be reached; config.ts refuses the setting unless
// NODE_ENV=test, and it is checked again here.
import { readFileSync } from 'node:fs';
import type { Config } from '../config.js';
import type { OutboundFetchOptions } from './outbound-fetch.js';

export function outboundFetchOptions(config: Pick<Config, 'env' | 'outboundTestCaFile'>): OutboundFetchOptions {
  if (!config.outboundTestCaFile) return {};
  if (config.env !== 'test') throw new Error('OUTBOUND_TEST_CA_FILE is only allowed with NODE_ENV=test');
  return { ca: readFileSync(config.outboundTestCaFile), allowPrivateNetworks: true };
}

import { readFileSync } from 'node:fs';
import { describe, expect, test } from '@jest/globals';
import { ConfigError, loadConfig, settings } from '../../src/config.js';

describe('configuration', () => {
  test('when nothing is set, then development defaults apply', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({ env: 'development', port: 3000, issuer: 'http://localhost:3000', dataDir: './data' });
    expect(Object.isFrozen(config.ttl)).toBe(true);
  });

  test('when values are wrong, then one message per wrong setting names it', () => {
    expect(() => loadConfig({ PORT: 'eighty', DATABASE_URL: 'mysql://x', ACCESS_TOKEN_TTL: '-5' })).toThrow(ConfigError);
    try {
      loadConfig({ PORT: 'eighty', DATABASE_URL: 'mysql://x', ACCESS_TOKEN_TTL: '-5' });
    } catch (error) {
      const problems = (error as ConfigError).problems;
      expect(problems).toHaveLength(3);
      expect(problems.map((problem) => problem.split(':')[0])).toEqual(['PORT', 'DATABASE_URL', 'ACCESS_TOKEN_TTL']);
    }
  });

  test('when production has safe settings, then it starts; a trailing slash on the issuer is dropped', () => {
    const config = loadConfig({
      NODE_ENV: 'production',
      ISSUER: 'https://id.example.com/',
      TRUST_PROXY: 'true',
      SECRET_KEY: 'A'.repeat(44),
      COOKIE_KEYS: `${'k'.repeat(32)}, ${'o'.repeat(40)}`,
    });
    expect(config.issuer).toBe('https://id.example.com');
    expect(config.cookieKeys).toEqual(['k'.repeat(32), 'o'.repeat(40)]);
  });

  test('when a cookie key is short, then it is refused', () => {
    expect(() => loadConfig({ COOKIE_KEYS: 'short' })).toThrow(/COOKIE_KEYS: each cookie key needs at least 32 characters/);
  });

  test('when the README documents configuration, then its table lists exactly the settings of the schema', () => {
    const readme = readFileSync('README.md', 'utf8');
    const documented = [...readme.matchAll(/^\| `([A-Z_]+)` \|/gm)].map((match) => match[1]);
    expect(documented.sort()).toEqual(Object.keys(settings).sort());
  });
});

describe('https issuer', () => {
  test('when the issuer is https but proxy headers are not trusted, then start-up is refused with the setting to fix', () => {
    expect(() => loadConfig({ ISSUER: 'https://id.example.com' })).toThrow(/TRUST_PROXY: must be true when ISSUER is https/);
    expect(loadConfig({ ISSUER: 'https://id.example.com', TRUST_PROXY: 'true' }).trustProxy).toBe(true);
  });
});

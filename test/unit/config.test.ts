import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
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

  test('when the password-hashing queue is not set, then 4 hashes at once and 256 waiting; out-of-range values are refused by name', () => {
    expect(loadConfig({}).passwordHashing).toEqual({ concurrency: 4, queueLimit: 256 });
    expect(loadConfig({ HASH_CONCURRENCY: '1', HASH_QUEUE_LIMIT: '0' }).passwordHashing).toEqual({ concurrency: 1, queueLimit: 0 });
    expect(() => loadConfig({ HASH_CONCURRENCY: '0' })).toThrow(/HASH_CONCURRENCY: /);
    expect(() => loadConfig({ HASH_CONCURRENCY: '65' })).toThrow(/HASH_CONCURRENCY: /);
    expect(() => loadConfig({ HASH_QUEUE_LIMIT: '-1' })).toThrow(/HASH_QUEUE_LIMIT: /);
    expect(() => loadConfig({ HASH_QUEUE_LIMIT: '2.5' })).toThrow(/HASH_QUEUE_LIMIT: /);
  });

  test('when the database timeouts are not set, then 5 s for a connection and 15 s per statement; zero, fractions and huge values are refused by name', () => {
    expect(loadConfig({})).toMatchObject({ databasePoolMax: 10, databaseConnectTimeout: 5, databaseStatementTimeout: 15 });
    expect(loadConfig({ DATABASE_CONNECT_TIMEOUT: '1', DATABASE_STATEMENT_TIMEOUT: '2' })).toMatchObject({ databaseConnectTimeout: 1, databaseStatementTimeout: 2 });
    expect(() => loadConfig({ DATABASE_CONNECT_TIMEOUT: '0' })).toThrow(/DATABASE_CONNECT_TIMEOUT: /);
    expect(() => loadConfig({ DATABASE_CONNECT_TIMEOUT: '301' })).toThrow(/DATABASE_CONNECT_TIMEOUT: /);
    expect(() => loadConfig({ DATABASE_STATEMENT_TIMEOUT: '0' })).toThrow(/DATABASE_STATEMENT_TIMEOUT: /);
    expect(() => loadConfig({ DATABASE_STATEMENT_TIMEOUT: '1.5' })).toThrow(/DATABASE_STATEMENT_TIMEOUT: /);
    expect(() => loadConfig({ DATABASE_STATEMENT_TIMEOUT: '3601' })).toThrow(/DATABASE_STATEMENT_TIMEOUT: /);
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

  describe('CONFIG_FILE', () => {
    const file = (text: string) => {
      const dir = mkdtempSync(path.join(tmpdir(), 'gatehouse-config-'));
      const name = path.join(dir, 'gatehouse.env');
      writeFileSync(name, text);
      return name;
    };

    test('when settings come from a file, then they apply, and the environment wins over the file', () => {
      const name = file('# Gatehouse\nPORT=4100\nLOG_LEVEL=debug\nADMIN_RATE_LIMIT="30"\n');
      const config = loadConfig({ CONFIG_FILE: name, LOG_LEVEL: 'warn' });
      expect(config).toMatchObject({ port: 4100, logLevel: 'warn', admin: { mutationsPerMinute: 30 } });
    });

    test('when the file names a setting that does not exist, then start-up is refused naming it', () => {
      const name = file('PORT=4100\nADMIN_RATE_LIMTI=30\n');
      expect(() => loadConfig({ CONFIG_FILE: name })).toThrow(/CONFIG_FILE: .* sets ADMIN_RATE_LIMTI, which is not a Gatehouse setting/);
    });

    test('when the file cannot be read, then start-up is refused naming the file', () => {
      expect(() => loadConfig({ CONFIG_FILE: '/nonexistent/gatehouse.env' })).toThrow(/CONFIG_FILE: cannot read \/nonexistent\/gatehouse.env \(ENOENT\)/);
    });

    test('when a value in the file is wrong, then the message names the setting like one from the environment', () => {
      const name = file('PORT=eighty\n');
      expect(() => loadConfig({ CONFIG_FILE: name })).toThrow(ConfigError);
      expect(() => loadConfig({ CONFIG_FILE: name })).toThrow(/PORT: /);
    });
  });
});

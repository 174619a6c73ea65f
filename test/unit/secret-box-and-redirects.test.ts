import { randomBytes } from 'node:crypto';
import { describe, expect, test } from '@jest/globals';
import { SecretBox } from '../../src/crypto/secret-box.js';
import { redirectUriProblem } from '../../src/services/redirect-uris.js';

describe('secret box (AES-256-GCM at rest)', () => {
  const box = new SecretBox(randomBytes(32));

  test('when a value is sealed, then it opens to the same value and the ciphertext differs each time', () => {
    const first = box.seal('top secret', 'client-secret');
    expect(first).not.toContain('top secret');
    expect(box.seal('top secret', 'client-secret')).not.toBe(first);
    expect(box.open(first, 'client-secret')).toBe('top secret');
  });

  test('when a sealed value is tampered with, opened for another purpose or with another key, then it fails', () => {
    const sealed = box.seal('top secret', 'signing-key');
    const parts = sealed.split('.');
    parts[2] = Buffer.from('something else').toString('base64url');
    expect(() => box.open(parts.join('.'), 'signing-key')).toThrow();
    expect(() => box.open(sealed, 'client-secret')).toThrow();
    expect(() => new SecretBox(randomBytes(32)).open(sealed, 'signing-key')).toThrow();
  });
});

describe('redirect URI registration rules', () => {
  const web = { applicationType: 'web' as const, production: false };
  const native = { applicationType: 'native' as const, production: false };

  test.each([
    'https://app.example.com/callback',
    'https://app.example.com/callback?tenant=1',
    'http://localhost:8080/callback',
    'http://127.0.0.1:9000/cb',
  ])('when %s is registered by a web client, then it is accepted', (uri) => {
    expect(redirectUriProblem(uri, web)).toBeUndefined();
  });

  test.each([
    ['https://app.example.com/cb#fragment', /fragment/],
    ['http://app.example.com/cb', /https/],
    ['javascript:alert(1)', /javascript/],
    ['data:text/html,hi', /data/],
    ['file:///etc/passwd', /file/],
    ['https://*.example.com/cb', /wildcard/],
    ['/relative/cb', /absolute/],
    ['https://user:pw@app.example.com/cb', /user information/],
    ['com.example.app:/cb', /native/],
  ])('when %s is registered by a web client, then it is refused', (uri, reason) => {
    expect(redirectUriProblem(uri, web)).toMatch(reason);
  });

  test('when a native client registers a reverse-domain custom scheme, then it is accepted; a bare scheme is not', () => {
    expect(redirectUriProblem('com.example.app:/oauth/cb', native)).toBeUndefined();
    expect(redirectUriProblem('myapp:/cb', native)).toMatch(/reverse domain/);
  });

  test('when running in production, then plain-http loopback is refused for web clients only', () => {
    expect(redirectUriProblem('http://localhost:8080/cb', { ...web, production: true })).toMatch(/https in production/);
    expect(redirectUriProblem('http://127.0.0.1:8080/cb', { ...native, production: true })).toBeUndefined();
  });
});

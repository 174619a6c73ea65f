// Mail settings: what an SMTP_URL means for the connection, which URLs are refused, and
// what happens in production without one.
import { describe, expect, test } from '@jest/globals';
import { ConfigError, loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { createMailer, smtpOptions } from '../../src/mail/mailer.js';

const PRODUCTION = {
  NODE_ENV: 'production',
  ISSUER: 'https://id.example.com',
  TRUST_PROXY: 'true',
  SECRET_KEY: 'A'.repeat(44),
  COOKIE_KEYS: 'k'.repeat(32),
};

describe('SMTP_URL', () => {
  test('when the URL is smtp://, then STARTTLS is required on port 587 with certificates verified, and credentials are percent-decoded', () => {
    const options = smtpOptions('smtp://mailer%40example.com:p%40ss%2Fword@mail.example.com');
    expect(options).toMatchObject({
      host: 'mail.example.com',
      port: 587,
      secure: false,
      requireTLS: true,
      ignoreTLS: false,
      auth: { user: 'mailer@example.com', pass: 'p@ss/word' },
      tls: { rejectUnauthorized: true, minVersion: 'TLSv1.2' },
    });
  });

  test('when the URL is smtps://, then TLS starts with the connection on port 465', () => {
    expect(smtpOptions('smtps://mail.example.com')).toMatchObject({ port: 465, secure: true, requireTLS: false, auth: undefined });
  });

  test('when the URL says tls=none, then no TLS is attempted (a relay on the same host)', () => {
    expect(smtpOptions('smtp://localhost:25?tls=none')).toMatchObject({ port: 25, secure: false, requireTLS: false, ignoreTLS: true });
  });

  test('when the URL is not SMTP, has an unknown parameter or no host, then start-up is refused naming SMTP_URL', () => {
    for (const value of ['http://mail.example.com', 'smtp://mail.example.com?tls=maybe', 'smtp://mail.example.com?verify=false', 'smtps://mail.example.com?tls=none', 'smtp:nothing']) {
      expect(() => loadConfig({ SMTP_URL: value })).toThrow(/SMTP_URL: /);
    }
  });

  test('when production sends in plain text to another host, then start-up is refused; to localhost it is allowed', () => {
    expect(() => loadConfig({ ...PRODUCTION, SMTP_URL: 'smtp://relay.example.com?tls=none' })).toThrow(ConfigError);
    expect(loadConfig({ ...PRODUCTION, SMTP_URL: 'smtp://localhost:25?tls=none' }).mail.smtpUrl).toBe('smtp://localhost:25?tls=none');
  });

  test('when nothing is set, then the sender is no-reply at the issuer\'s host and files go to DATA_DIR/mail', () => {
    const config = loadConfig({ ISSUER: 'https://id.example.com', TRUST_PROXY: 'true', DATA_DIR: '/var/lib/gatehouse' });
    expect(config.mail).toMatchObject({ smtpUrl: undefined, from: 'Gatehouse <no-reply@id.example.com>', dir: '/var/lib/gatehouse/mail' });
  });
});

describe('without SMTP_URL', () => {
  test('when in production, then there is no mailer and a warning says reset and verification are disabled', () => {
    const lines: string[] = [];
    const logger = createLogger({ level: 'info' });
    logger.warn = ((message: string) => {
      lines.push(message);
    }) as typeof logger.warn;
    expect(createMailer({ config: loadConfig(PRODUCTION), logger })).toBeUndefined();
    expect(lines).toEqual([expect.stringMatching(/SMTP_URL is not set: password reset and email verification are disabled/)]);
  });

  test('when in development or test, then mail is written to files', () => {
    const logger = createLogger({ level: 'silent' });
    expect(createMailer({ config: loadConfig({ NODE_ENV: 'test' }), logger })?.kind).toBe('file');
  });
});

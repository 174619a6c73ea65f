// Outgoing mail behind one interface. With SMTP_URL, messages go to that server over
// TLS (implicit for smtps://, STARTTLS required for smtp:// unless the URL says tls=none)
// with certificates verified. Without it, development and test write each message as an
// .eml file a developer can open; production has no mail at all, and the features that
// need it say so (a start-up warning, and a notice on their pages).
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import nodemailer from 'nodemailer';
import type SMTPTransport from 'nodemailer/lib/smtp-transport/index.js';
import type { Config } from '../config.js';
import type { Logger } from '../logger.js';

export interface MailMessage {
  to: string;
  subject: string;
  text: string;
  html?: string;
}

export interface Mailer {
  /** Where messages go, for logs and pages: an SMTP server or a folder. */
  readonly kind: 'smtp' | 'file';
  /** Resolves once the message is accepted; rejects with a MailError that carries no secrets. */
  send(message: MailMessage): Promise<void>;
  close(): void;
}

/**
 * A failed delivery, described only by codes: nodemailer's own errors can quote the SMTP
 * conversation, and the message being sent holds a live token.
 */
export class MailError extends Error {
  constructor(
    readonly code: string,
    readonly responseCode: number | undefined,
  ) {
    super(`mail could not be sent (${code}${responseCode ? `, SMTP ${responseCode}` : ''})`);
    this.name = 'MailError';
  }
}

const TIMEOUTS = { connectionTimeout: 10_000, greetingTimeout: 10_000, socketTimeout: 30_000 } as const;

/** Transport options for an smtp:// or smtps:// URL (validated by the configuration). */
export function smtpOptions(smtpUrl: string): SMTPTransport.Options {
  const url = new URL(smtpUrl);
  const implicitTls = url.protocol === 'smtps:';
  const plain = url.searchParams.get('tls') === 'none';
  const host = url.hostname.replace(/^\[|\]$/g, '');
  return {
    host,
    port: url.port ? Number(url.port) : implicitTls ? 465 : 587,
    secure: implicitTls,
    // Without TLS a server that does not offer STARTTLS would get the message, and any
    // password, in the clear; requireTLS refuses to go on instead.
    requireTLS: !implicitTls && !plain,
    ignoreTLS: plain,
    auth: url.username ? { user: decodeURIComponent(url.username), pass: decodeURIComponent(url.password) } : undefined,
    tls: { minVersion: 'TLSv1.2', rejectUnauthorized: true, servername: host },
    ...TIMEOUTS,
    // Message bodies are ours; nothing in them may make the mailer read files or URLs.
    disableFileAccess: true,
    disableUrlAccess: true,
    logger: false,
  };
}

export function createMailer(deps: { config: Config; logger: Logger }): Mailer | undefined {
  const { config, logger } = deps;
  const { smtpUrl, from, dir } = config.mail;
  if (smtpUrl) return smtpMailer(smtpUrl, from);
  if (config.env === 'production') {
    logger.warn('SMTP_URL is not set: password reset and email verification are disabled');
    return undefined;
  }
  logger.info({ dir }, 'SMTP_URL is not set: mail is written to files in MAIL_DIR instead of being sent');
  return fileMailer(dir, from, logger);
}

function smtpMailer(smtpUrl: string, from: string): Mailer {
  const transport = nodemailer.createTransport(smtpOptions(smtpUrl));
  return {
    kind: 'smtp',
    async send(message) {
      try {
        await transport.sendMail({ from, ...message });
      } catch (error) {
        throw sanitized(error);
      }
    },
    close: () => transport.close(),
  };
}

function fileMailer(dir: string, from: string, logger: Logger): Mailer {
  // Builds the same MIME message SMTP would carry, without sending it anywhere.
  const composer = nodemailer.createTransport({ streamTransport: true, buffer: true, newline: 'unix', disableFileAccess: true, disableUrlAccess: true });
  return {
    kind: 'file',
    async send(message) {
      try {
        const info = await composer.sendMail({ from, ...message });
        // The files hold live links: readable by this user only.
        await mkdir(dir, { recursive: true, mode: 0o700 });
        const file = path.join(dir, `${new Date().toISOString().replace(/[:.]/g, '-')}-${randomBytes(4).toString('hex')}.eml`);
        await writeFile(file, info.message as Buffer, { mode: 0o600 });
        logger.info({ file, subject: message.subject }, 'mail written to a file (no SMTP_URL)');
      } catch (error) {
        throw sanitized(error);
      }
    },
    close: () => composer.close(),
  };
}

function sanitized(error: unknown): MailError {
  if (error instanceof MailError) return error;
  const { code, responseCode } = (error ?? {}) as { code?: unknown; responseCode?: unknown };
  return new MailError(typeof code === 'string' ? code : 'EMAIL', typeof responseCode === 'number' ? responseCode : undefined);
}

// A real SMTP server on a random loopback port that keeps what it receives, so tests can
// read the mail Gatehouse sends and follow its links. Plain text and AUTH without TLS are
// allowed here only: this server exists for tests and never leaves 127.0.0.1.
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';

export interface ReceivedMail {
  from: string | undefined;
  to: string[];
  /** The message as received, transfer encodings undone (quoted-printable soft breaks). */
  text: string;
  raw: string;
}

export interface MailServer {
  /** An SMTP_URL for Gatehouse: credentials included, TLS off. */
  url: string;
  received: ReceivedMail[];
  /** The first message to `address` (arriving later if need be). */
  waitFor(address: string, options?: { timeoutMs?: number; after?: number }): Promise<ReceivedMail>;
  /** Messages to `address` so far. */
  to(address: string): ReceivedMail[];
  close(): Promise<void>;
}

const USER = 'gatehouse';
const PASS = 'p@ss word/ for the test';

export async function startMailServer(): Promise<MailServer> {
  const received: ReceivedMail[] = [];
  const server = new SMTPServer({
    secure: false,
    disabledCommands: ['STARTTLS'],
    allowInsecureAuth: true,
    authMethods: ['PLAIN', 'LOGIN'],
    logger: false,
    onAuth(auth, _session, callback) {
      if (auth.username === USER && auth.password === PASS) callback(null, { user: USER });
      else callback(new Error('invalid credentials'));
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        received.push({
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : undefined,
          to: session.envelope.rcptTo.map((rcpt) => rcpt.address.toLowerCase()),
          raw,
          text: decodeQuotedPrintable(raw),
        });
        callback();
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.server.address() as AddressInfo).port;
  const to = (address: string) => received.filter((mail) => mail.to.includes(address.toLowerCase()));
  return {
    url: `smtp://${encodeURIComponent(USER)}:${encodeURIComponent(PASS)}@127.0.0.1:${port}/?tls=none`,
    received,
    to,
    async waitFor(address, options = {}) {
      const deadline = Date.now() + (options.timeoutMs ?? 10_000);
      const skip = options.after ?? 0;
      for (;;) {
        const mail = to(address)[skip];
        if (mail) return mail;
        if (Date.now() > deadline) throw new Error(`no mail for ${address} arrived`);
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

export function decodeQuotedPrintable(raw: string): string {
  return raw.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/g, (_match, hex: string) => String.fromCharCode(parseInt(hex, 16)));
}

/** The link in a message that leads to `path` on the issuer, and its token. */
export function linkIn(mail: { text: string }, issuer: string, path: string): { link: string; token: string } {
  const escaped = `${issuer}${path}`.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
  const match = new RegExp(`${escaped}\\?token=([A-Za-z0-9_-]+)`).exec(mail.text);
  if (!match) throw new Error(`no ${path} link in the message`);
  return { link: match[0], token: match[1]! };
}

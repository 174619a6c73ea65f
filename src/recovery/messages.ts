// The mails of password reset and email verification. Plain text first (every client
// shows it, and it is what a person reads in a terminal), with a minimal HTML twin.
import type { MailMessage } from '../mail/mailer.js';

const escapeHtml = (value: string) =>
  value.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');

function compose(to: string, subject: string, paragraphs: { before: string[]; link: string; after: string[] }): MailMessage {
  const text = [...paragraphs.before, paragraphs.link, ...paragraphs.after].join('\n\n');
  const html = [
    ...paragraphs.before.map((line) => `<p>${escapeHtml(line)}</p>`),
    `<p><a href="${escapeHtml(paragraphs.link)}">${escapeHtml(paragraphs.link)}</a></p>`,
    ...paragraphs.after.map((line) => `<p>${escapeHtml(line)}</p>`),
  ].join('\n');
  return { to, subject, text: `${text}\n`, html };
}

export function passwordResetMessage(to: string, link: string, minutes: number): MailMessage {
  return compose(to, 'Reset your password', {
    before: [
      'Someone, hopefully you, asked to reset the password of the account with this email address.',
      `To choose a new password, open this link within ${minutes} minutes:`,
    ],
    link,
    after: [
      'The link works once. Setting a new password signs you out on every device.',
      'If you did not ask for this, ignore this message: your password stays as it is.',
    ],
  });
}

export function verificationMessage(to: string, link: string, hours: number): MailMessage {
  return compose(to, 'Confirm your email address', {
    before: [`To confirm that this address belongs to you, open this link within ${hours} hours:`],
    link,
    after: ['If you do not have an account with us, ignore this message.'],
  });
}

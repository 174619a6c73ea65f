// The mails of password reset, email verification and security notices. Plain text
// first (every client shows it, and it is what a person reads in a terminal), with a
// minimal HTML twin.
import type { MailMessage } from '../mail/mailer.js';
import type { SecurityChangeKind } from '../services/security-changes.js';

const escapeHtml = (value: string) =>
  value.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');

/** The product name (BRAND_NAME) ends every subject, so people can tell whose mail it is. */
function compose(to: string, subject: string, brand: string, paragraphs: { before: string[]; link: string; after: string[] }): MailMessage {
  const text = [...paragraphs.before, paragraphs.link, ...paragraphs.after].join('\n\n');
  const html = [
    ...paragraphs.before.map((line) => `<p>${escapeHtml(line)}</p>`),
    `<p><a href="${escapeHtml(paragraphs.link)}">${escapeHtml(paragraphs.link)}</a></p>`,
    ...paragraphs.after.map((line) => `<p>${escapeHtml(line)}</p>`),
  ].join('\n');
  return { to, subject: `${subject} (${brand})`, text: `${text}\n`, html };
}

export function passwordResetMessage(to: string, link: string, minutes: number, brand = 'Gatehouse'): MailMessage {
  return compose(to, 'Reset your password', brand, {
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

export function verificationMessage(to: string, link: string, hours: number, brand = 'Gatehouse'): MailMessage {
  return compose(to, 'Confirm your email address', brand, {
    before: [`To confirm that this address belongs to you, open this link within ${hours} hours:`],
    link,
    after: ['If you do not have an account with us, ignore this message.'],
  });
}

/** What a security notice says about the change, in a phrase and a subject line. */
const CHANGES: Record<SecurityChangeKind, { subject: string; what: string }> = {
  password_changed: { subject: 'Your password was changed', what: 'The password of your account was changed.' },
  password_reset: { subject: 'Your password was reset', what: 'The password of your account was reset with a link mailed to this address.' },
  password_set: { subject: 'Your password was changed', what: 'An administrator set a new password for your account.' },
  totp_enabled: { subject: 'Two-step verification was turned on', what: 'Two-step verification with an authenticator app was turned on for your account.' },
  totp_disabled: { subject: 'Two-step verification was turned off', what: 'Two-step verification was turned off for your account: your password alone now signs you in.' },
  totp_reset: { subject: 'Two-step verification was removed', what: 'An administrator removed the two-step verification of your account: your password alone now signs you in.' },
  recovery_codes_regenerated: { subject: 'New recovery codes were made', what: 'New recovery codes were made for your account; the earlier ones no longer work.' },
  passkey_added: { subject: 'A passkey was added', what: 'A passkey was added to your account.' },
  passkey_removed: { subject: 'A passkey was removed', what: 'A passkey was removed from your account.' },
  email_changed: {
    subject: 'Your email address was changed',
    what: 'The email address of your account was changed. Mail about your account, password reset links included, now goes to the new address instead of this one.',
  },
};

export interface NoticeOrigin {
  /** The user made the change themselves (IP and browser shown), or an administrator did. */
  byAdministrator: boolean;
  ip?: string | undefined;
  userAgent?: string | undefined;
}

/**
 * Tells the user that how they sign in changed. It names the change, the time and where
 * it came from, and never carries a secret (no code, token or password), so a mailbox
 * that leaks gives nothing away but the notice itself.
 */
export function securityNoticeMessage(to: string, kind: SecurityChangeKind, at: Date, origin: NoticeOrigin, forgotLink: string, brand = 'Gatehouse'): MailMessage {
  const change = CHANGES[kind];
  const from = origin.byAdministrator
    ? ['The change was made by an administrator.']
    : [
        ...(origin.ip ? [`IP address: ${origin.ip}`] : []),
        // A header the browser chose: cut short, and only ever shown as text.
        ...(origin.userAgent ? [`Browser: ${origin.userAgent.slice(0, 200)}`] : []),
      ];
  return compose(to, change.subject, brand, {
    before: [change.what, `When: ${at.toUTCString()}`, ...from, 'If this was you, there is nothing more to do.', 'If this was not you, reset your password now:'],
    link: forgotLink,
    after: ['Then check the two-step verification and passkeys on your account page.'],
  });
}

// What a person sees when a protocol error cannot be sent back to the application (an
// unknown client, an unregistered redirect URI…): what happened and what to do, in the
// page's language, with the OAuth error code kept as a reference for whoever debugs it.
import type { MessageKey } from '../i18n/messages/index.js';
import type { Translate } from '../i18n/translator.js';

export interface ErrorPage {
  heading: string;
  message: string;
  hint: string;
}

/** Codes with their own words (`protocol.<code>.*` messages); others get the general page. */
const DESCRIBED = ['invalid_client', 'invalid_redirect_uri', 'invalid_request', 'session_not_found', 'invalid_grant'] as const;
/** Of those, the ones with a hint of their own. */
const WITH_HINT: readonly string[] = ['session_not_found'];

export function describeProtocolError(code: string, t: Translate): ErrorPage {
  const known = (DESCRIBED as readonly string[]).includes(code) ? code : 'other';
  const hint = WITH_HINT.includes(known) ? t(`protocol.${known}.hint` as MessageKey) : t('protocol.hint');
  return {
    heading: t(`protocol.${known}.heading` as MessageKey),
    message: t(`protocol.${known}.message` as MessageKey),
    hint: t('protocol.code', { hint, code }),
  };
}

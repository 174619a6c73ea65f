// What a person sees when a protocol error cannot be sent back to the application (an
// unknown client, an unregistered redirect URI…): what happened and what to do, with the
// OAuth error code kept as a reference for whoever debugs it.

export interface ErrorPage {
  heading: string;
  message: string;
  hint: string;
}

const PAGES: Record<string, Omit<ErrorPage, 'hint'> & { hint?: string }> = {
  invalid_client: {
    heading: 'Unknown application',
    message: 'The application that sent you here is not registered with this sign-in service.',
  },
  invalid_redirect_uri: {
    heading: 'Unrecognised return address',
    message: 'The application asked to send you back to an address it has not registered, so the sign-in was stopped to protect you.',
  },
  invalid_request: {
    heading: 'Something is wrong with this sign-in link',
    message: 'The link that brought you here is incomplete or malformed.',
  },
  session_not_found: {
    heading: 'This sign-in page has expired',
    message: 'The sign-in took too long or was opened in another browser.',
    hint: 'Go back to the application and start the sign-in again.',
  },
  invalid_grant: {
    heading: 'This link is no longer valid',
    message: 'It was already used or has expired.',
  },
};

export function describeProtocolError(code: string): ErrorPage {
  const page = PAGES[code] ?? {
    heading: 'Sign-in could not continue',
    message: 'The request could not be completed.',
  };
  return {
    heading: page.heading,
    message: page.message,
    hint: `${page.hint ?? 'Return to the application and try again. If it keeps happening, contact its support.'} (Error code: ${code})`,
  };
}

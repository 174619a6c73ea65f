// The built-in first-party client through which the account pages send a person to sign
// in: the account area is authenticated by Gatehouse's own browser session, and this
// client is how a browser without one (or with one too old for a change) gets it.
export const ACCOUNT_CLIENT_ID = 'gatehouse-account';
export const ACCOUNT_PATH = '/account';
export const ACCOUNT_CALLBACK_PATH = `${ACCOUNT_PATH}/callback`;

/** Static client metadata (oidc-provider `clients`): never stored, never listed, no secret. */
export function accountClientMetadata(issuer: string): Record<string, unknown> {
  return {
    client_id: ACCOUNT_CLIENT_ID,
    client_name: 'Your Gatehouse account',
    redirect_uris: [`${issuer}${ACCOUNT_CALLBACK_PATH}`],
    grant_types: ['authorization_code'],
    response_types: ['code'],
    // Public: the account pages never redeem the code (the browser session is what they
    // need), they destroy it on the callback.
    token_endpoint_auth_method: 'none',
    scope: 'openid',
    first_party: true,
  };
}

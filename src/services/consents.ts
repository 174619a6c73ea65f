// What a user has agreed to share with which client, and when the consent page can be
// skipped: always for a first-party client, otherwise for scopes already agreed to.
import type { ConsentStore } from '../stores/consents.js';

export type ConsentService = ReturnType<typeof createConsentService>;

export function createConsentService(deps: { consents: ConsentStore }) {
  const { consents } = deps;
  return {
    /**
     * The requested scopes that need no consent page, or undefined when the page must be
     * shown. `openid` must be among them: without it there is nothing to sign in to.
     */
    async preApprovedScopes(userId: string, client: { clientId: string; firstParty: boolean }, requested: string[]): Promise<string[] | undefined> {
      let scopes = requested;
      if (!client.firstParty) {
        const agreed = await consents.scopes(userId, client.clientId);
        if (!agreed) return undefined;
        scopes = requested.filter((scope) => agreed.includes(scope));
      }
      return scopes.includes('openid') ? scopes : undefined;
    },

    /** Remembers that the user agreed to share these scopes with the client. */
    remember: (userId: string, clientId: string, scopes: string[]) => consents.extend(userId, clientId, scopes),
  };
}

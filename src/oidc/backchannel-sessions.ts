// Back-channel logout (OIDC Back-Channel Logout 1.0) for sessions that end outside
// oidc-provider's end-session endpoint: an administrator signing a user out
// (DELETE /admin/users/{id}/sessions[/{session}]) or the user ending their other sessions.
// oidc-provider sends logout tokens only from its own logout; here each client of the ended
// session that registered a backchannel_logout_uri gets the same token, through the same
// Client#backchannelLogout (so the same signing, claims and SSRF-safe fetch). Calls run in
// the background: a slow or failing relying party never holds up the admin API, and its
// failure is logged as oidc-provider's own `backchannel.error` event (oidc/events.ts).
import type Provider from 'oidc-provider';
import type { EndedSession } from '../services/ended-sessions.js';

interface LogoutCapableClient {
  backchannelLogoutUri?: string | undefined;
  backchannelLogout(sub: string, sid: string | undefined): Promise<void>;
}

export function notifyBackchannelClients(provider: Provider): (sessions: EndedSession[]) => void {
  const emitter = provider as unknown as NodeJS.EventEmitter;
  const notify = async (accountId: string, clientId: string, sid: string | undefined) => {
    let client: LogoutCapableClient | undefined;
    try {
      client = (await provider.Client.find(clientId)) as unknown as LogoutCapableClient | undefined;
    } catch {
      return; // a client that no longer loads has no one to tell.
    }
    if (!client?.backchannelLogoutUri) return;
    try {
      await client.backchannelLogout(accountId, sid);
      emitter.emit('backchannel.success', undefined, client, accountId, sid);
    } catch (error) {
      emitter.emit('backchannel.error', undefined, error, client, accountId, sid);
    }
  };
  return (sessions) => {
    for (const { accountId, clients } of sessions) {
      for (const [clientId, { sid }] of Object.entries(clients)) void notify(accountId, clientId, sid);
    }
  };
}

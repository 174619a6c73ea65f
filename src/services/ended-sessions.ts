// Browser sessions at Gatehouse that an administrator (or the user, from another session)
// ended outside oidc-provider's own logout, announced once the change is committed, so
// that the clients signed in through them can be told (back-channel logout, wired in
// app.ts). Only identifiers travel here: the account, and per client the session id (sid)
// it was given.
export interface EndedSession {
  accountId: string;
  /** Per client id: the sid that client knows this session by. */
  clients: Record<string, { sid?: string | undefined }>;
}

export type EndedSessionListener = (sessions: EndedSession[]) => void;

export type EndedSessions = ReturnType<typeof createEndedSessions>;

/** The clients of a stored Session payload (oidc-provider's `authorizations`). */
export function endedSession(accountId: string, payload: Record<string, unknown>): EndedSession {
  const authorizations = (payload.authorizations as Record<string, { sid?: unknown }> | undefined) ?? {};
  return {
    accountId,
    clients: Object.fromEntries(Object.entries(authorizations).map(([clientId, { sid }]) => [clientId, { sid: typeof sid === 'string' ? sid : undefined }])),
  };
}

export function createEndedSessions() {
  const listeners = new Set<EndedSessionListener>();
  return {
    subscribe(listener: EndedSessionListener): () => void {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },

    /** Called after the sessions were deleted and committed; a listener's failure stays here. */
    announce(sessions: EndedSession[]): void {
      if (!sessions.length) return;
      for (const listener of listeners) {
        try {
          listener(sessions);
        } catch {
          // The sessions did end; telling clients is best effort (listeners log their own failures).
        }
      }
    },
  };
}

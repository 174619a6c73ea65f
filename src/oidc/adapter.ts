// oidc-provider's storage adapter, in two halves (as logto does): the Client model is
// answered from Gatehouse's clients table, written by the CLI and admin API, and by
// dynamic registration (RFC 7591/7592) through the clients service; every other model lives in one generic table keyed by (model, id) with
// indexed grantId, uid and userCode.
//
// Bearer artifacts are stored under SHA-256 of their value (RFC 6819 §5.1.4.1.3), so a
// database dump yields no usable code, token or session cookie. Where oidc-provider
// looks such an artifact up by something other than its value (a session by uid), the
// value is kept in the payload sealed with AES-256-GCM.
import Provider, { errors, type Adapter, type AdapterPayload } from 'oidc-provider';
import type { AuditActor } from '../stores/audit.js';
import type { SecretBox } from '../crypto/secret-box.js';
import { sha256 } from '../crypto/random.js';
import type { PayloadStore } from '../stores/oidc-payloads.js';
import { containsNul } from '../util/nul.js';

/** Models whose id is itself a credential. */
const HASHED_MODELS = new Set([
  'Session',
  'AccessToken',
  'AuthorizationCode',
  'RefreshToken',
  'ClientCredentials',
  'DeviceCode',
  'BackchannelAuthenticationRequest',
  'RegistrationAccessToken',
  'InitialAccessToken',
  'PushedAuthorizationRequest',
  'PreAuthorizedCode',
]);

/** Hashed models that oidc-provider also finds by uid or user code, so the id must be recoverable. */
const SEALED_ID_MODELS = new Set(['Session', 'DeviceCode']);

/** Rows that may be written once only: a second insert of the same id is a replay. */
const INSERT_ONLY_MODELS = new Set(['ReplayDetection']);

export interface AdapterDeps {
  payloads: PayloadStore;
  secretBox: SecretBox;
  /** Client metadata for oidc-provider, or undefined for an unknown client. */
  findClient(id: string): Promise<Record<string, unknown> | undefined>;
  registeredClients: {
    save(id: string, metadata: Record<string, unknown>, actor: AuditActor): Promise<void>;
    remove(id: string, actor: AuditActor): Promise<void>;
  };
}

/** Who is registering: the client itself, from the request oidc-provider is serving. */
function registrationActor(clientId: string): AuditActor {
  const ctx = Provider.ctx;
  return {
    type: 'registration',
    id: clientId,
    ip: ctx?.ip,
    userAgent: ctx?.get('user-agent') || undefined,
    requestId: typeof ctx?.state?.requestId === 'string' ? ctx.state.requestId : undefined,
  };
}

/** Ids come from requests: anything no stored id could be is simply not found. */
function isStorableId(id: unknown, maxLength: number): id is string {
  return typeof id === 'string' && id.length > 0 && id.length <= maxLength && !id.includes('\u0000');
}

export function createAdapterClass(deps: AdapterDeps): new (name: string) => Adapter {
  const { payloads, secretBox, findClient, registeredClients } = deps;

  class ClientAdapter implements Adapter {
    async find(id: string): Promise<AdapterPayload | undefined> {
      if (!isStorableId(id, 200)) return undefined;
      return (await findClient(id)) as AdapterPayload | undefined;
    }

    /** Only dynamic registration writes through here; the admin API uses the service. */
    async upsert(id: string, metadata: AdapterPayload): Promise<void> {
      await registeredClients.save(id, metadata as Record<string, unknown>, registrationActor(id));
    }

    async destroy(id: string): Promise<void> {
      await registeredClients.remove(id, registrationActor(id));
    }

    async findByUid(): Promise<undefined> {
      return undefined;
    }

    async findByUserCode(): Promise<undefined> {
      return undefined;
    }

    async consume(): Promise<void> {}

    async revokeByGrantId(): Promise<void> {}
  }

  class PayloadAdapter implements Adapter {
    readonly #hashed: boolean;
    readonly #sealedId: boolean;

    constructor(readonly model: string) {
      this.#hashed = HASHED_MODELS.has(model);
      this.#sealedId = SEALED_ID_MODELS.has(model);
    }

    #key(id: string): string {
      return this.#hashed ? sha256(id) : id;
    }

    async upsert(id: string, payload: AdapterPayload, expiresIn: number): Promise<void> {
      // PostgreSQL refuses NUL in text and jsonb; a request that smuggled one in (a form
      // field, a request parameter) is the client's error, not a server fault.
      if (containsNul(payload)) throw new errors.InvalidRequest('request contains a NUL character');
      let stored: Record<string, unknown> = payload as Record<string, unknown>;
      if (this.#hashed) {
        const { jti, ...rest } = stored;
        stored = this.#sealedId ? { ...rest, sealedJti: secretBox.seal(String(jti ?? id), 'artifact-id') } : rest;
      }
      const session = stored.session as { cookie?: unknown } | undefined;
      if (this.model === 'Interaction' && typeof session?.cookie === 'string') {
        // An interaction carries the browser's session id: sealed like the session's own.
        stored = { ...stored, session: { ...session, cookie: secretBox.seal(session.cookie, 'artifact-id') } };
      }
      const write = {
        model: this.model,
        id: this.#key(id),
        payload: stored,
        grantId: typeof payload.grantId === 'string' ? payload.grantId : null,
        accountId: typeof payload.accountId === 'string' ? payload.accountId : null,
        clientId: typeof payload.clientId === 'string' ? payload.clientId : null,
        uid: typeof payload.uid === 'string' ? payload.uid : null,
        userCode: typeof payload.userCode === 'string' ? payload.userCode : null,
        // No lifetime: kept until destroyed. A lifetime of 0 or less (an interaction saved
        // again at the end of its life) is already over, not endless.
        expiresIn: typeof expiresIn === 'number' ? Math.max(0, expiresIn) : null,
      };
      if (!INSERT_ONLY_MODELS.has(this.model)) {
        await payloads.upsert(write);
      } else if (!(await payloads.insert(write))) {
        // oidc-provider checks "not seen" and then saves; two concurrent requests with the
        // same jti both pass the check, and only this insert tells them apart.
        throw new errors.InvalidRequest('this assertion or proof has already been used');
      }
    }

    async find(id: string): Promise<AdapterPayload | undefined> {
      if (!isStorableId(id, 512)) return undefined;
      return this.#restore(await payloads.find(this.model, this.#key(id)), id);
    }

    async findByUid(uid: string): Promise<AdapterPayload | undefined> {
      if (!isStorableId(uid, 512)) return undefined;
      return this.#restore(await payloads.findBy(this.model, { uid }));
    }

    async findByUserCode(userCode: string): Promise<AdapterPayload | undefined> {
      if (!isStorableId(userCode, 512)) return undefined;
      return this.#restore(await payloads.findBy(this.model, { userCode }));
    }

    /**
     * One-time use (codes, rotated refresh tokens). oidc-provider checks `consumed` and
     * then calls consume(), which two concurrent requests could both pass; the
     * conditional update here lets exactly one through. The loser gets invalid_grant and,
     * as for any reuse (RFC 9700 §4.14.2, RFC 6749 §4.1.2), the whole grant is revoked.
     */
    async consume(id: string): Promise<void> {
      const result = await payloads.consume(this.model, this.#key(id));
      if (result.consumed) return;
      if (result.grantId) {
        await payloads.destroyByGrantId(result.grantId);
        // Logged and audited like the revocation oidc-provider makes when it sees the reuse itself.
        const ctx = Provider.ctx;
        ctx?.oidc?.provider.emit('grant.revoked', ctx, result.grantId);
      }
      throw new errors.InvalidGrant('grant request is invalid (already used)');
    }

    async destroy(id: string): Promise<void> {
      if (this.model === 'Interaction') {
        // oidc-provider destroys an interaction when it resumes the authorization request
        // with its result, after having found it: of two resumes at once (a consent form
        // sent twice) only the one that claims the row may go on to issue a code. It is
        // marked used rather than deleted, so that a result saved late by the other form
        // (an upsert, which leaves the mark) cannot bring it back; the purge removes it.
        const { consumed } = await payloads.consume(this.model, this.#key(id));
        if (!consumed) throw new errors.SessionNotFound('interaction session not found');
        return;
      }
      await payloads.destroy(this.model, this.#key(id));
    }

    async revokeByGrantId(grantId: string): Promise<void> {
      await payloads.destroyByGrantId(grantId, this.model);
    }

    #restore(row: Awaited<ReturnType<PayloadStore['find']>>, id?: string): AdapterPayload | undefined {
      if (!row) return undefined;
      // Expired rows (by the database's clock) wait for the purge; they are never handed out. Except device codes:
      // oidc-provider checks their expiry itself, and needs to see an expired one to tell
      // the device expired_token and the person that the code expired (RFC 8628 §3.5).
      if (row.expired && this.model !== 'DeviceCode') return undefined;
      // A used interaction is as good as gone (destroy above).
      if (row.consumedAt && this.model === 'Interaction') return undefined;
      const { sealedJti, ...payload } = row.payload;
      if (this.#hashed) {
        const jti = id ?? (typeof sealedJti === 'string' ? secretBox.open(sealedJti, 'artifact-id') : undefined);
        if (!jti) return undefined;
        payload.jti = jti;
      }
      if (row.consumedAt) payload.consumed = Math.floor(row.consumedAt.getTime() / 1000);
      const session = payload.session as { cookie?: unknown } | undefined;
      if (this.model === 'Interaction' && typeof session?.cookie === 'string') {
        payload.session = { ...session, cookie: secretBox.open(session.cookie, 'artifact-id') };
      }
      return payload as AdapterPayload;
    }
  }

  return class GatehouseAdapter {
    constructor(name: string) {
      // oidc-provider constructs one adapter per model name; hand back the right half.
      return name === 'Client' ? new ClientAdapter() : new PayloadAdapter(name);
    }
  } as unknown as new (name: string) => Adapter;
}

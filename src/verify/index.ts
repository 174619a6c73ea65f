// gatehouse/verify: offline verification of Gatehouse access tokens (RFC 9068 JWTs) for
// resource servers. Keys come from the issuer's JWKS, cached, and fetched again when a
// token names a key id the cache does not hold yet, so key rotation never fails a valid
// token. Use createVerifier directly, or the Koa and Express middleware below. A token
// bound to a DPoP key (RFC 9449, `cnf.jkt`) is accepted only as `Authorization: DPoP`
// with a valid proof for the request (./dpop.ts).
import { createRemoteJWKSet, errors as joseErrors, jwtVerify, type JWTPayload } from 'jose';
import { createProofChecker, ProofError, type DPoPOptions, type DPoPRequest } from './dpop.js';

export type { DPoPOptions, DPoPRequest } from './dpop.js';

export interface VerifierOptions {
  /** The Gatehouse issuer, exactly as in its discovery document. */
  issuer: string;
  /** The API's identifier (resource indicator): tokens must name it in `aud`. */
  audience: string | string[];
  /** Defaults to the jwks_uri of the issuer's discovery document. */
  jwksUri?: string;
  /** Accepted signature algorithms; asymmetric only. */
  algorithms?: string[];
  /** Seconds of clock skew tolerated on exp, nbf and iat (default 5). */
  clockToleranceSeconds?: number;
  /** How long a fetched key set is trusted before it is fetched again, ms (default 10 minutes). */
  cacheMaxAgeMs?: number;
  /** Least time between two fetches of the key set for an unknown key id, ms (default 1 s). */
  cooldownMs?: number;
  /** How DPoP proofs are checked for DPoP-bound tokens. */
  dpop?: DPoPOptions;
  /**
   * The origin clients call this API at (e.g. https://api.example.com), for the `htu` of
   * DPoP proofs. The middleware defaults to the request's own (Host header and scheme),
   * which behind a proxy is right only when the proxy passes them on (Koa: app.proxy).
   */
  origin?: string;
}

/** The claims of a Gatehouse access token (RFC 9068 §2.2 plus `roles`). */
export interface AccessTokenClaims extends JWTPayload {
  iss: string;
  sub: string;
  aud: string | string[];
  exp: number;
  iat: number;
  jti: string;
  client_id: string;
  scope?: string;
  roles?: string[];
  /** Confirmation (RFC 7800): `jkt` is the thumbprint of the DPoP key the token is bound to. */
  cnf?: { jkt?: string; [member: string]: unknown };
  /** The chain of services acting for the subject (RFC 8693 §4.1), after a token exchange. */
  act?: { sub: string; act?: unknown; [claim: string]: unknown };
}

export interface VerifiedToken {
  claims: AccessTokenClaims;
  scopes: ReadonlySet<string>;
  roles: readonly string[];
  /** For a DPoP-bound token: the thumbprint of the key whose proof came with it. */
  dpopJkt?: string;
}

/** How a token arrived: its Authorization scheme and, for DPoP, the request the proof must match. */
export interface PresentedRequest extends DPoPRequest {
  scheme: 'Bearer' | 'DPoP';
}

/** Why a token was refused, in RFC 6750 (and RFC 9449 §7.1) terms. */
export class TokenError extends Error {
  constructor(
    readonly code: 'invalid_request' | 'invalid_token' | 'insufficient_scope' | 'invalid_dpop_proof',
    message: string,
    readonly status: 400 | 401 | 403 = code === 'insufficient_scope' ? 403 : code === 'invalid_request' ? 400 : 401,
    /** For insufficient_scope: the scopes the resource needs. */
    readonly scope?: string,
    /** The authentication scheme of the challenge: DPoP when the refusal is about DPoP. */
    readonly scheme: 'Bearer' | 'DPoP' = 'Bearer',
  ) {
    super(message);
    this.name = 'TokenError';
  }
}

const DEFAULT_ALGORITHMS = ['RS256', 'PS256', 'ES256'];

export interface Verifier {
  /** The API this verifier protects (its first audience), named as realm in challenges. */
  readonly audience: string;
  /** See VerifierOptions.origin. */
  readonly origin?: string | undefined;
  /** Algorithms accepted for DPoP proofs, announced in DPoP challenges. */
  readonly dpopAlgorithms?: readonly string[];
  /**
   * Verifies a token and returns its claims; throws TokenError otherwise. A DPoP-bound
   * token needs `request` with scheme DPoP and a valid proof; without `request` it is refused.
   */
  verify(token: string, request?: PresentedRequest): Promise<VerifiedToken>;
}

export function createVerifier(options: VerifierOptions): Verifier {
  const issuer = options.issuer.replace(/\/+$/, '');
  const algorithms = options.algorithms ?? DEFAULT_ALGORITHMS;
  if (algorithms.some((alg) => alg === 'none' || alg.startsWith('HS'))) {
    throw new Error('gatehouse/verify: only asymmetric algorithms can verify tokens offline');
  }
  const proofs = createProofChecker(options.dpop);
  let keySet: ReturnType<typeof createRemoteJWKSet> | undefined;
  let discovering: Promise<ReturnType<typeof createRemoteJWKSet>> | undefined;

  async function keys(): Promise<ReturnType<typeof createRemoteJWKSet>> {
    if (keySet) return keySet;
    discovering ??= (async () => {
      const jwksUri = options.jwksUri ?? (await discoverJwksUri(issuer));
      keySet = createRemoteJWKSet(new URL(jwksUri), {
        cacheMaxAge: options.cacheMaxAgeMs ?? 10 * 60_000,
        // Short: a token signed by a key published since the last fetch must not wait long.
        cooldownDuration: options.cooldownMs ?? 1_000,
      });
      return keySet;
    })().catch((error: unknown) => {
      discovering = undefined;
      throw error;
    });
    return discovering;
  }

  return {
    audience: Array.isArray(options.audience) ? String(options.audience[0]) : options.audience,
    origin: options.origin,
    dpopAlgorithms: proofs.algorithms,
    async verify(token: string, request?: PresentedRequest): Promise<VerifiedToken> {
      const scheme = request?.scheme ?? 'Bearer';
      if (typeof token !== 'string' || token.length === 0 || token.length > 16_384) {
        throw new TokenError('invalid_token', 'the access token is missing or too long', 401, undefined, scheme);
      }
      let claims: AccessTokenClaims;
      try {
        const result = await jwtVerify(token, await keys(), {
          issuer,
          audience: options.audience,
          algorithms,
          // RFC 9068 §4: resource servers must check the type, so an ID token or another
          // JWT signed by the same keys is never taken for an access token.
          typ: 'at+jwt',
          clockTolerance: options.clockToleranceSeconds ?? 5,
          requiredClaims: ['iss', 'sub', 'aud', 'exp', 'iat', 'jti', 'client_id'],
        });
        claims = result.payload as AccessTokenClaims;
      } catch (error) {
        throw new TokenError('invalid_token', describe(error), 401, undefined, scheme);
      }
      const dpopJkt = await checkBinding(claims, token, request);
      const scopes = new Set(typeof claims.scope === 'string' ? claims.scope.split(' ').filter(Boolean) : []);
      const roles = Array.isArray(claims.roles) ? claims.roles.filter((role): role is string => typeof role === 'string') : [];
      return { claims, scopes, roles, ...(dpopJkt ? { dpopJkt } : {}) };
    },
  };

  /**
   * Sender constraint (RFC 9449 §7): a bound token only with the DPoP scheme and a proof
   * by its key; the DPoP scheme only with a bound token. Returns the key's thumbprint.
   */
  async function checkBinding(claims: AccessTokenClaims, token: string, request: PresentedRequest | undefined): Promise<string | undefined> {
    const cnf = claims.cnf;
    if (cnf === undefined) {
      if (request?.scheme === 'DPoP') throw new TokenError('invalid_token', 'the access token is not DPoP-bound; send it with the Bearer scheme', 401, undefined, 'DPoP');
      return undefined;
    }
    const jkt = typeof cnf === 'object' && cnf !== null ? cnf.jkt : undefined;
    // A confirmation this library cannot check (e.g. a certificate) is never ignored.
    if (typeof jkt !== 'string') throw new TokenError('invalid_token', 'the access token is bound to a confirmation method this resource cannot check');
    if (request?.scheme !== 'DPoP') {
      throw new TokenError('invalid_token', 'the access token is DPoP-bound; send it as "Authorization: DPoP <token>" with a DPoP proof', 401, undefined, 'DPoP');
    }
    try {
      await proofs.check(request, token, jkt);
    } catch (error) {
      if (error instanceof ProofError) throw new TokenError('invalid_dpop_proof', error.message, 401, undefined, 'DPoP');
      throw error;
    }
    return jkt;
  }
}

async function discoverJwksUri(issuer: string): Promise<string> {
  const response = await fetch(`${issuer}/.well-known/openid-configuration`, { signal: AbortSignal.timeout(5_000) });
  if (!response.ok) throw new Error(`gatehouse/verify: discovery at ${issuer} answered ${response.status}`);
  const metadata = (await response.json()) as { issuer?: unknown; jwks_uri?: unknown };
  if (metadata.issuer !== issuer) throw new Error(`gatehouse/verify: discovery names issuer ${String(metadata.issuer)}, expected ${issuer}`);
  if (typeof metadata.jwks_uri !== 'string') throw new Error('gatehouse/verify: discovery has no jwks_uri');
  return metadata.jwks_uri;
}

/** A short, safe reason; never the token. */
function describe(error: unknown): string {
  if (error instanceof joseErrors.JWTExpired) return 'the access token has expired';
  if (error instanceof joseErrors.JWTClaimValidationFailed) return `the access token's ${error.claim} claim is not acceptable`;
  if (error instanceof joseErrors.JWKSNoMatchingKey) return 'the access token is signed with an unknown key';
  if (error instanceof joseErrors.JWSSignatureVerificationFailed) return 'the access token signature is invalid';
  if (error instanceof joseErrors.JOSEAlgNotAllowed) return 'the access token is signed with an algorithm that is not accepted';
  if (error instanceof joseErrors.JWKSTimeout) return 'the issuer\'s keys could not be fetched in time';
  return 'the access token is malformed or not acceptable';
}

export interface Requirements {
  /** Every one of these scopes must be granted. */
  scopes?: string[];
  /** Every one of these roles must be held. */
  roles?: string[];
  /** Realm named in WWW-Authenticate (default: the audience). */
  realm?: string;
}

/**
 * Reads the token of a request (`Bearer` or `DPoP` scheme), verifies it and checks the
 * requirements. `request` is the method, URL and DPoP header a DPoP-bound token's proof
 * must match; without it such a token is refused.
 */
export async function authorize(
  verifier: Verifier,
  authorization: string | undefined,
  requirements: Requirements = {},
  request?: DPoPRequest,
): Promise<VerifiedToken> {
  if (!authorization) throw new TokenError('invalid_token', 'no access token', 401);
  const match = /^(Bearer|DPoP) ([A-Za-z0-9\-._~+/]+=*)$/i.exec(authorization.trim());
  if (!match) throw new TokenError('invalid_request', 'the Authorization header must be "Bearer <token>" or "DPoP <token>"');
  const scheme = match[1]!.toLowerCase() === 'dpop' ? 'DPoP' : 'Bearer';
  const verified = await verifier.verify(match[2]!, request ? { ...request, scheme } : { method: '', url: '', scheme });
  const missingScopes = (requirements.scopes ?? []).filter((scope) => !verified.scopes.has(scope));
  if (missingScopes.length) throw new TokenError('insufficient_scope', `the token lacks the scope ${missingScopes.join(' ')}`, 403, (requirements.scopes ?? []).join(' '));
  const missingRoles = (requirements.roles ?? []).filter((role) => !verified.roles.includes(role));
  if (missingRoles.length) throw new TokenError('insufficient_scope', `the token's subject lacks the role ${missingRoles.join(', ')}`, 403);
  return verified;
}

/** RFC 6750 §3 (or, for DPoP, RFC 9449 §7.1) challenge and body for a refusal. */
export function challengeFor(
  error: TokenError,
  realm: string,
  hadToken: boolean,
  dpopAlgorithms: readonly string[] = [],
): { header: string; body: { error?: string; error_description: string } } {
  const quote = (value: string) => value.replace(/["\\]/g, '');
  const algs = error.scheme === 'DPoP' && dpopAlgorithms.length ? `, algs="${dpopAlgorithms.join(' ')}"` : '';
  // No credentials at all: a bare challenge without an error code (RFC 6750 §3.1).
  const header = hadToken
    ? `${error.scheme} realm="${quote(realm)}", error="${error.code}", error_description="${quote(error.message)}"${error.scope ? `, scope="${quote(error.scope)}"` : ''}${algs}`
    : `Bearer realm="${quote(realm)}"`;
  return { header, body: hadToken ? { error: error.code, error_description: error.message } : { error_description: error.message } };
}

/** Koa middleware: verified claims on ctx.state.auth, or 401/403 with WWW-Authenticate. */
export function koaAccessToken(verifier: Verifier, requirements: Requirements = {}) {
  return async (ctx: KoaLikeContext, next: () => Promise<unknown>): Promise<void> => {
    const authorization = ctx.get('authorization') || undefined;
    try {
      ctx.state.auth = await authorize(verifier, authorization, requirements, koaRequest(verifier, ctx));
    } catch (error) {
      if (!(error instanceof TokenError)) throw error;
      const { header, body } = challengeFor(error, requirements.realm ?? verifier.audience, Boolean(authorization), verifier.dpopAlgorithms);
      ctx.status = error.status;
      ctx.set('WWW-Authenticate', header);
      ctx.set('Cache-Control', 'no-store');
      ctx.body = body;
      return;
    }
    await next();
  };
}

/** Express (or Connect) middleware: verified claims on req.auth, or 401/403 with WWW-Authenticate. */
export function expressAccessToken(verifier: Verifier, requirements: Requirements = {}) {
  return (req: ExpressLikeRequest, res: ExpressLikeResponse, next: (error?: unknown) => void): void => {
    const header = req.headers.authorization;
    const authorization = Array.isArray(header) ? header[0] : header;
    authorize(verifier, authorization, requirements, expressRequest(verifier, req)).then(
      (verified) => {
        req.auth = verified;
        next();
      },
      (error: unknown) => {
        if (!(error instanceof TokenError)) {
          next(error);
          return;
        }
        const challenge = challengeFor(error, requirements.realm ?? verifier.audience, Boolean(authorization), verifier.dpopAlgorithms);
        res.statusCode = error.status;
        res.setHeader('WWW-Authenticate', challenge.header);
        res.setHeader('Cache-Control', 'no-store');
        res.setHeader('Content-Type', 'application/json');
        res.end(JSON.stringify(challenge.body));
      },
    );
  };
}

/** The request a Koa context describes, for DPoP proofs. */
function koaRequest(verifier: Verifier, ctx: KoaLikeContext): DPoPRequest | undefined {
  if (!ctx.method || !ctx.originalUrl) return undefined;
  const url = verifier.origin ? new URL(ctx.originalUrl, verifier.origin).href : ctx.href;
  return url ? { method: ctx.method, url, proof: ctx.get('dpop') || undefined } : undefined;
}

/** The request an Express (or node:http) request describes, for DPoP proofs. */
function expressRequest(verifier: Verifier, req: ExpressLikeRequest): DPoPRequest | undefined {
  const path = req.originalUrl ?? req.url;
  const host = req.headers.host;
  if (!req.method || !path || !path.startsWith('/')) return undefined;
  const origin = verifier.origin ?? (host ? `${req.protocol ?? ((req.socket as { encrypted?: boolean } | undefined)?.encrypted ? 'https' : 'http')}://${host}` : undefined);
  if (!origin) return undefined;
  const url = URL.parse(path, origin);
  const proof = req.headers.dpop;
  return url ? { method: req.method, url: url.href, proof: Array.isArray(proof) ? undefined : proof } : undefined;
}

/** The parts of a Koa context the middleware uses (no dependency on Koa's types). */
export interface KoaLikeContext {
  get(field: string): string;
  method?: string;
  /** The full URL (origin and path with query). */
  href?: string;
  originalUrl?: string;
  set(field: string, value: string): void;
  state: Record<string, unknown>;
  status: number;
  body: unknown;
}

/** The parts of an Express request and response the middleware uses. */
export interface ExpressLikeRequest {
  headers: { authorization?: string | string[] | undefined; dpop?: string | string[] | undefined; host?: string | undefined };
  method?: string | undefined;
  url?: string | undefined;
  originalUrl?: string | undefined;
  protocol?: string | undefined;
  /** node:http's socket; a TLS socket says `encrypted`. */
  socket?: unknown;
  auth?: VerifiedToken;
}

export interface ExpressLikeResponse {
  statusCode: number;
  setHeader(name: string, value: string): unknown;
  end(body: string): unknown;
}

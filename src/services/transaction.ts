// Every store over one database handle, and the unit of work the services use: a change
// and its audit record commit together or not at all.
import type { PrismaClient } from '@prisma/client';
import { createApiStore } from '../stores/apis.js';
import { createAuditStore } from '../stores/audit.js';
import { createClientStore } from '../stores/clients.js';
import { createConsentStore } from '../stores/consents.js';
import { createMfaStore } from '../stores/mfa.js';
import { createPayloadStore } from '../stores/oidc-payloads.js';
import { createRoleStore, type Db } from '../stores/roles.js';
import { createUserStore } from '../stores/users.js';
import { createUserTokenStore } from '../stores/user-tokens.js';

/** @param options.batched See createPayloadStore: only for the shared client, never a transaction's. */
export function createStores(db: Db, options: { batched?: boolean } = {}) {
  return {
    db,
    users: createUserStore(db),
    clients: createClientStore(db),
    roles: createRoleStore(db),
    consents: createConsentStore(db),
    payloads: createPayloadStore(db, options),
    audit: createAuditStore(db),
    apis: createApiStore(db),
    mfa: createMfaStore(db),
    userTokens: createUserTokenStore(db),
  };
}

export type Stores = ReturnType<typeof createStores>;

/** Runs work in one database transaction; everything it writes commits together. */
export type Transaction = <T>(work: (stores: Stores) => Promise<T>) => Promise<T>;

export function createTransaction(prisma: PrismaClient): Transaction {
  return (work) => prisma.$transaction((tx) => work(createStores(tx)), { maxWait: 5_000, timeout: 15_000 });
}


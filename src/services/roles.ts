// Roles: named permissions held by users (released in the `roles` claim) and by clients
// (carried by client-credentials tokens). `admin` and `admin:read` are built in: they
// decide who may obtain the admin API's scopes.
import { z } from 'zod';
import { AppError } from '../errors.js';
import type { AuditActor } from '../stores/audit.js';
import type { RoleRecord } from '../stores/roles.js';
import type { Stores, Transaction } from './transaction.js';
import { decodeCursor, toPage, type Page } from '../stores/pagination.js';
import { pageQuery, parseInput, roleName } from './validation.js';

export const BUILT_IN_ROLES = ['admin', 'admin:read'] as const;

export const newRoleInput = z
  .object({
    name: roleName,
    description: z.string().trim().max(500).default(''),
  })
  .strict();

export const rolePatchInput = z
  .object({
    name: roleName.describe('Renames the role; holders keep it'),
    description: z.string().trim().max(500),
  })
  .partial()
  .strict();

export interface RoleView {
  id: string;
  name: string;
  description: string;
  built_in: boolean;
  created_at: string;
  updated_at: string;
}

export function viewRole(role: RoleRecord): RoleView {
  return {
    id: role.id,
    name: role.name,
    description: role.description,
    built_in: (BUILT_IN_ROLES as readonly string[]).includes(role.name),
    created_at: role.createdAt.toISOString(),
    updated_at: role.updatedAt.toISOString(),
  };
}

export type RoleService = ReturnType<typeof createRoleService>;

export function createRoleService(deps: { stores: Stores; transaction: Transaction; onClientChanged(stores: Stores, clientId: string): Promise<void> }) {
  const { stores, transaction } = deps;

  async function existing(name: string, within: Stores = stores): Promise<RoleRecord> {
    const role = name.length <= 63 ? await within.roles.findByName(name) : undefined;
    if (!role) throw new AppError('not_found', `No role named ${name}.`);
    return role;
  }

  function assertNotBuiltIn(name: string, what: string): void {
    if ((BUILT_IN_ROLES as readonly string[]).includes(name)) {
      throw new AppError('conflict', `${name} is a built-in role and cannot be ${what}.`);
    }
  }

  /** Adds or removes one role of a user or client, with the audit record. */
  async function changeHolder(kind: 'user' | 'client', id: string, name: string, assign: boolean, actor: AuditActor): Promise<string[]> {
    return transaction(async (tx) => {
      const role = await existing(name, tx);
      const holder = kind === 'user' ? await tx.users.findById(id) : await tx.clients.findById(id);
      if (!holder) throw new AppError('not_found', `No ${kind} with id ${id}.`);
      const names = new Set(holder.roles);
      if (assign ? names.has(role.name) : !names.has(role.name)) return [...names].sort();
      if (assign) names.add(role.name);
      else names.delete(role.name);
      const roleIds = await tx.roles.idsFor([...names]);
      const updated = kind === 'user' ? await tx.users.update(id, { roleIds }) : await tx.clients.update(id, { roleIds });
      await tx.audit.append(actor, {
        action: `${kind}.${assign ? 'assign_role' : 'remove_role'}`, targetType: kind, targetId: id,
        before: { roles: holder.roles }, after: { roles: updated.roles },
      });
      if (kind === 'client') await deps.onClientChanged(tx, id);
      return updated.roles;
    });
  }

  return {
    async list(query: unknown = {}): Promise<Page<RoleView>> {
      const { limit, cursor } = parseInput(pageQuery, query);
      return toPage(await stores.roles.page({ limit, after: cursor ? decodeCursor(cursor) : undefined }), limit, viewRole);
    },

    async get(name: string): Promise<RoleView> {
      return viewRole(await existing(name));
    },

    async create(input: unknown, actor: AuditActor): Promise<RoleView> {
      const data = parseInput(newRoleInput, input);
      return transaction(async (tx) => {
        const view = viewRole(await tx.roles.create(data));
        await tx.audit.append(actor, { action: 'role.create', targetType: 'role', targetId: view.name, after: view });
        return view;
      });
    },

    async update(name: string, input: unknown, actor: AuditActor): Promise<RoleView> {
      const patch = parseInput(rolePatchInput, input);
      return transaction(async (tx) => {
        const before = await existing(name, tx);
        if (patch.name !== undefined && patch.name !== name) assertNotBuiltIn(name, 'renamed');
        const view = viewRole(await tx.roles.update(name, patch));
        await tx.audit.append(actor, { action: 'role.update', targetType: 'role', targetId: name, before: viewRole(before), after: view });
        return view;
      });
    },

    /** Deletes a role; users and clients that held it lose it. */
    async delete(name: string, actor: AuditActor): Promise<void> {
      assertNotBuiltIn(name, 'deleted');
      await transaction(async (tx) => {
        const before = await existing(name, tx);
        const holders = await tx.roles.holders(before.id);
        await tx.roles.delete(name);
        await tx.audit.append(actor, { action: 'role.delete', targetType: 'role', targetId: name, before: { ...viewRole(before), holders } });
      });
    },

    assignToUser: (userId: string, name: string, actor: AuditActor) => changeHolder('user', userId, name, true, actor),
    removeFromUser: (userId: string, name: string, actor: AuditActor) => changeHolder('user', userId, name, false, actor),
    assignToClient: (clientId: string, name: string, actor: AuditActor) => changeHolder('client', clientId, name, true, actor),
    removeFromClient: (clientId: string, name: string, actor: AuditActor) => changeHolder('client', clientId, name, false, actor),
  };
}

/** The admin API scopes a holder of these roles may obtain: a built-in role grants the scope of its name. */
export function adminScopesFor(roles: readonly string[]): string[] {
  if (roles.includes('admin')) return ['admin', 'admin:read'];
  if (roles.includes('admin:read')) return ['admin:read'];
  return [];
}

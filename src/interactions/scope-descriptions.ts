// Plain-words descriptions of what each scope shares, for the consent and account pages,
// in the page's language (the `scope.*` messages).
import type { MessageKey } from '../i18n/messages/index.js';
import type { Translate } from '../i18n/translator.js';

const DESCRIBED: Record<string, MessageKey> = {
  openid: 'scope.openid',
  profile: 'scope.profile',
  email: 'scope.email',
  address: 'scope.address',
  phone: 'scope.phone',
  roles: 'scope.roles',
  offline_access: 'scope.offline_access',
  admin: 'scope.admin',
  'admin:read': 'scope.admin:read',
};

export function describeScopes(scopes: Iterable<string>, t: Translate): string[] {
  return [...scopes].map((scope) => {
    const key = Object.hasOwn(DESCRIBED, scope) ? DESCRIBED[scope] : undefined;
    return key ? t(key) : t('scope.other', { scope });
  });
}

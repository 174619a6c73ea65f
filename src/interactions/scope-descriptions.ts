// Plain-words descriptions of what each scope shares, for the consent page.
const DESCRIPTIONS: Record<string, string> = {
  openid: 'Know who you are (your account identifier)',
  profile: 'See your profile: name, username, picture and locale',
  email: 'See your email address and whether it is verified',
  address: 'See your postal address',
  phone: 'See your phone number',
  roles: 'See the roles you hold',
  offline_access: 'Stay connected when you are not using it (keep access until you revoke it)',
  admin: 'Administer Gatehouse on your behalf: manage clients, users, roles and keys',
  'admin:read': 'Read Gatehouse’s configuration on your behalf: clients, users, roles, keys and the audit trail',
};

export function describeScopes(scopes: Iterable<string>): string[] {
  return [...scopes].map((scope) => DESCRIPTIONS[scope] ?? `Use the “${scope}” permission`);
}

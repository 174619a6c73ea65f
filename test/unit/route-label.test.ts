// Metrics and request logs name routes by pattern: ids, codes and user input in paths
// never become label values or log fields.
import { describe, expect, test } from '@jest/globals';
import { routeLabel } from '../../src/http/metrics.js';

describe('routeLabel', () => {
  test.each([
    ['/token', '/token'],
    ['/interaction/abc123/login', '/interaction/:uid/login'],
    ['/reg/9zVq2', '/reg/:client_id'],
    ['/admin/clients', '/admin/clients'],
    ['/admin/clients/Xy_-1', '/admin/clients/:id'],
    ['/admin/clients/Xy_-1/secret', '/admin/clients/:id/secret'],
    ['/admin/users/0b1c/sessions/s1', '/admin/users/:id/sessions'],
    ['/admin/users/0b1c/roles/billing:write', '/admin/users/:id/roles/:name'],
    ['/admin/audit-events', '/admin/audit-events'],
    ['/admin/nonsense/x/y/z', 'other'],
    ['/secret-path-of-an-attacker', 'other'],
  ])('when the path is %s, then the label is %s', (path, label) => {
    expect(routeLabel(path)).toBe(label);
  });
});

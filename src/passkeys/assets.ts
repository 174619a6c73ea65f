// Serves the browser half of WebAuthn (@simplewebauthn/browser's UMD bundle) from
// Gatehouse's own origin: pages load no third-party script, and the CSP stays nonce-only.
// Pages reference it as /assets/webauthn.js?v=<version>, so it can be cached for a year
// and an upgrade still reaches every browser at once.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import Router from '@koa/router';

export const WEBAUTHN_SCRIPT_PATH = '/assets/webauthn.js';

const require = createRequire(import.meta.url);

function loadBundle(): { body: Buffer; version: string; etag: string } {
  // The package exports only its module entry points; the bundle sits next to them.
  const entry = require.resolve('@simplewebauthn/browser');
  const root = path.resolve(path.dirname(entry), '..');
  const body = readFileSync(path.join(root, 'dist', 'bundle', 'index.umd.min.js'));
  const { version } = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { version: string };
  return { body, version, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"` };
}

export function createAssetRouter(): Router {
  const bundle = loadBundle();
  const router = new Router();
  router.get(WEBAUTHN_SCRIPT_PATH, (ctx) => {
    ctx.set('Cache-Control', 'public, max-age=31536000, immutable');
    ctx.set('ETag', bundle.etag);
    ctx.set('Cross-Origin-Resource-Policy', 'same-origin');
    ctx.type = 'text/javascript; charset=utf-8';
    // Koa judges freshness only for a 2xx answer.
    ctx.status = 200;
    if (ctx.fresh) {
      ctx.status = 304;
      return;
    }
    ctx.body = bundle.body;
  });
  return router;
}

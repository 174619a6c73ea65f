// What a browser test file needs: Gatehouse at http://localhost:<port> (a secure context and
// a valid WebAuthn RP ID), one Chromium (none when it is not installed; describeInBrowser
// then skips), and a first-party client whose redirect URI is a stand-in server that
// answers, so the browser settles on it and the test can read the code from the URL.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startApp, type TestApp } from './app.js';
import { chromiumAvailable, launchChromium, type Browser } from './chromium.js';
import { oidc, registerClient, relyingParty } from './oidc.js';

export interface BrowserSuite {
  app: TestApp;
  browser: Browser;
  config: oidc.Configuration;
  redirectUri: string;
  close(): Promise<void>;
}

export async function startBrowserSuite(): Promise<BrowserSuite> {
  const [app, browser] = await Promise.all([startApp({ issuerHost: 'localhost' }), chromiumAvailable ? launchChromium() : undefined]);
  const client: Server = createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/plain' }).end('the client'));
  await new Promise<void>((resolve) => client.listen(0, '127.0.0.1', resolve));
  const redirectUri = `http://localhost:${(client.address() as AddressInfo).port}/callback`;
  // First party: no consent page between the sign-in and the client.
  const config = await relyingParty(app, await registerClient(app, { first_party: true, redirect_uris: [redirectUri] }));
  return {
    app,
    browser: browser as Browser,
    config,
    redirectUri,
    async close() {
      await browser?.close();
      client.closeAllConnections();
      await new Promise<void>((resolve) => client.close(() => resolve()));
      await app.destroy();
    },
  };
}

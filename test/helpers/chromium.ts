// A real browser for end-to-end tests: the system's Chromium (never a downloaded one)
// driven by playwright-core. Launch one per test file (beforeAll) and give each test its
// own context, so cookies and storage never leak between tests.
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { describe } from '@jest/globals';
import path from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  // Tests must not depend on, or wait for, anything outside the machine.
  '--disable-background-networking',
  '--disable-component-update',
];

export type { Browser, BrowserContext, Page };

/**
 * `describe` for browser tests. Without Debian's chromium installed (`apt install
 * chromium`) they are skipped on a developer's machine; CI installs it, and there a
 * missing browser fails the run instead of hiding it.
 */
export const chromiumAvailable = existsSync(CHROMIUM_PATH) || Boolean(process.env.CI);
export const describeInBrowser = (chromiumAvailable ? describe : describe.skip) as typeof describe;

export async function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM_PATH, args: ARGS, headless: true });
}

/** A fresh context (its own cookies and storage), with a default timeout fit for tests. */
export async function newContext(browser: Browser, options: Parameters<Browser['newContext']>[0] = {}): Promise<BrowserContext> {
  const context = await browser.newContext({ locale: 'en-US', ...options });
  context.setDefaultTimeout(15_000);
  return context;
}

export interface VirtualAuthenticator {
  id: string;
  /** The credentials the authenticator holds (as CDP reports them). */
  credentials(): Promise<Array<{ credentialId: string; isResidentCredential: boolean; rpId?: string; userHandle?: string; signCount: number }>>;
  /** Whether the authenticator verifies the user (PIN, biometrics) when asked. */
  setUserVerified(verified: boolean): Promise<void>;
  remove(): Promise<void>;
}

/**
 * Gives `page` a platform authenticator through the Chrome DevTools Protocol (WebAuthn
 * domain): CTAP2, internal transport, discoverable credentials, user verification that
 * succeeds. It answers navigator.credentials without any prompt.
 */
export async function addVirtualAuthenticator(
  page: Page,
  options: { hasResidentKey?: boolean; hasUserVerification?: boolean; isUserVerified?: boolean } = {},
): Promise<VirtualAuthenticator> {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('WebAuthn.enable');
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: {
      protocol: 'ctap2',
      transport: 'internal',
      hasResidentKey: options.hasResidentKey ?? true,
      hasUserVerification: options.hasUserVerification ?? true,
      isUserVerified: options.isUserVerified ?? true,
      automaticPresenceSimulation: true,
    },
  });
  return {
    id: authenticatorId,
    async credentials() {
      const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
      return credentials;
    },
    async setUserVerified(verified) {
      await cdp.send('WebAuthn.setUserVerified', { authenticatorId, isUserVerified: verified });
    },
    async remove() {
      await cdp.send('WebAuthn.removeVirtualAuthenticator', { authenticatorId });
    },
  };
}

/** Saves a full-page screenshot under test-results/ (for debugging a failing test). */
export async function screenshot(page: Page, name: string): Promise<string> {
  const dir = path.resolve('test-results');
  await mkdir(dir, { recursive: true });
  const file = path.join(dir, `${name.replace(/[^\w.-]+/g, '_')}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

// The pages of the device authorization grant (RFC 8628) a person sees on their phone or
// laptop: enter the code the TV or CLI shows, compare it, and (after the usual sign-in and
// consent pages) the confirmation that the device is signed in. oidc-provider drives the
// flow and hands each page its own form HTML; Gatehouse renders its own views instead,
// with the anti-forgery value (`xsrf`) oidc-provider generated and checks, so the pages get
// the same layout, CSP and no-store headers as every other page.
import type { Configuration, KoaContextWithOIDC } from 'oidc-provider';
import type { Renderer } from '../http/views.js';

/**
 * 20 consonants, 8 characters: 20^8 ≈ 2.6e10 codes, no vowels (no words), no look-alike
 * digits, readable aloud (RFC 8628 §6.1). Shown as XXXX-XXXX; the dash and case are ignored.
 */
export const USER_CODE_CHARSET = 'base-20';
export const USER_CODE_MASK = '****-****';

type DeviceFlowFeature = NonNullable<NonNullable<Configuration['features']>['deviceFlow']>;
type DeviceCtx = KoaContextWithOIDC & { oidc: { session?: { state?: { secret?: string } } } };

/** What went wrong, in words a person can act on; the error names are oidc-provider's. */
function describe(err: Error | undefined, out: { error?: string } | undefined): string | undefined {
  if (!err && !out) return undefined;
  switch (err?.name) {
    case 'NoCodeError':
      return 'Enter the code shown on your device.';
    case 'NotFoundError':
      return 'That code is not valid. Check the code shown on your device and try again.';
    case 'ExpiredError':
      return 'That code has expired. Start the sign-in again on your device to get a new code.';
    case 'AlreadyUsedError':
      return 'That code has already been used. Start the sign-in again on your device to get a new code.';
    case 'AbortedError':
      return 'The sign-in was cancelled. Your device was not given access.';
    default:
  }
  if (out?.error === 'invalid_request') return 'This form has expired. Enter the code again.';
  if (out?.error === 'access_denied') return 'Access was denied. Your device was not given access.';
  return `The sign-in could not continue. Start again on your device. (Error code: ${out?.error ?? 'server_error'})`;
}

/** The anti-forgery value oidc-provider put in its form (it is also in the session state). */
function xsrfOf(ctx: DeviceCtx, form: string): string {
  return ctx.oidc.session?.state?.secret ?? /name="xsrf" value="([^"]*)"/.exec(form)?.[1] ?? '';
}

export function deviceFlowPages(render: Renderer): Pick<DeviceFlowFeature, 'userCodeInputSource' | 'userCodeConfirmSource' | 'successSource'> {
  return {
    async userCodeInputSource(ctx, form, out, err) {
      const error = describe(err, out as { error?: string } | undefined);
      const entered = (err as { userCode?: unknown } | undefined)?.userCode;
      render(ctx as never, 'device-code', {
        title: 'Connect a device',
        action: ctx.oidc.urlFor('code_verification'),
        xsrf: xsrfOf(ctx as DeviceCtx, form),
        userCode: typeof entered === 'string' ? entered.slice(0, 32) : '',
        error,
      // Koa's status is still its default 404 on a first visit; an error carries its own.
      }, (err || out) && ctx.status >= 400 ? ctx.status : 200);
    },
    async userCodeConfirmSource(ctx, form, client, _deviceInfo, userCode) {
      render(ctx as never, 'device-confirm', {
        title: 'Connect a device',
        action: ctx.oidc.urlFor('code_verification'),
        xsrf: xsrfOf(ctx as DeviceCtx, form),
        // Posted back as entered; shown normalised (XXXX-XXXX) for comparison with the device.
        enteredCode: String(ctx.oidc.params?.['user_code'] ?? userCode),
        userCode,
        clientName: client.clientName ?? client.clientId,
      });
    },
    async successSource(ctx) {
      render(ctx as never, 'device-success', {
        title: 'Device connected',
        clientName: ctx.oidc.client?.clientName ?? ctx.oidc.client?.clientId,
      });
    },
  };
}

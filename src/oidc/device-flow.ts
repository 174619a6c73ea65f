// The pages of the device authorization grant (RFC 8628) a person sees on their phone or
// laptop: enter the code the TV or CLI shows, compare it, and (after the usual sign-in and
// consent pages) the confirmation that the device is signed in. oidc-provider drives the
// flow and hands each page its own form HTML; Gatehouse renders its own views instead,
// with the anti-forgery value (`xsrf`) oidc-provider generated and checks, so the pages get
// the same layout, CSP and no-store headers as every other page.
import type { Configuration, KoaContextWithOIDC } from 'oidc-provider';
import type { Renderer } from '../http/views.js';
import type { Translate } from '../i18n/translator.js';

/**
 * 20 consonants, 8 characters: 20^8 ≈ 2.6e10 codes, no vowels (no words), no look-alike
 * digits, readable aloud (RFC 8628 §6.1). Shown as XXXX-XXXX; the dash and case are ignored.
 */
export const USER_CODE_CHARSET = 'base-20';
export const USER_CODE_MASK = '****-****';

type DeviceFlowFeature = NonNullable<NonNullable<Configuration['features']>['deviceFlow']>;
type DeviceCtx = KoaContextWithOIDC & { oidc: { session?: { state?: { secret?: string } } } };

/** What went wrong, in words a person can act on; the error names are oidc-provider's. */
function describe(t: Translate, err: Error | undefined, out: { error?: string } | undefined): string | undefined {
  if (!err && !out) return undefined;
  switch (err?.name) {
    case 'NoCodeError':
      return t('device.noCode');
    case 'NotFoundError':
      return t('device.notFound');
    case 'ExpiredError':
      return t('device.expired');
    case 'AlreadyUsedError':
      return t('device.used');
    case 'AbortedError':
      return t('device.aborted');
    default:
  }
  if (out?.error === 'invalid_request') return t('device.formExpired');
  if (out?.error === 'access_denied') return t('device.denied');
  return t('device.other', { code: out?.error ?? 'server_error' });
}

/** The anti-forgery value oidc-provider put in its form (it is also in the session state). */
function xsrfOf(ctx: DeviceCtx, form: string): string {
  return ctx.oidc.session?.state?.secret ?? /name="xsrf" value="([^"]*)"/.exec(form)?.[1] ?? '';
}

export function deviceFlowPages(render: Renderer): Pick<DeviceFlowFeature, 'userCodeInputSource' | 'userCodeConfirmSource' | 'successSource'> {
  return {
    async userCodeInputSource(ctx, form, out, err) {
      const t = render.translator(ctx as never);
      const error = describe(t, err, out as { error?: string } | undefined);
      const entered = (err as { userCode?: unknown } | undefined)?.userCode;
      render(ctx as never, 'device-code', {
        title: t('device.title'),
        action: ctx.oidc.urlFor('code_verification'),
        xsrf: xsrfOf(ctx as DeviceCtx, form),
        userCode: typeof entered === 'string' ? entered.slice(0, 32) : '',
        error,
      // Koa's status is still its default 404 on a first visit; an error carries its own.
      }, (err || out) && ctx.status >= 400 ? ctx.status : 200);
    },
    async userCodeConfirmSource(ctx, form, client, _deviceInfo, userCode) {
      render(ctx as never, 'device-confirm', {
        title: render.translator(ctx as never)('device.title'),
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
        title: render.translator(ctx as never)('device.successTitle'),
        clientName: ctx.oidc.client?.clientName ?? ctx.oidc.client?.clientId,
      });
    },
  };
}

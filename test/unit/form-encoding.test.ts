// The check behind rejectMalformedForms (checklist I3/R9): a form body is refused when a
// name or value would decode to something that is not UTF-8, judged the way
// node:querystring splits and unescapes it, and on nothing else.
import { describe, expect, test } from '@jest/globals';
import { formDecodesToUtf8 } from '../../src/http/request-guards.js';

const bytes = (...parts: Array<string | number[]>) => Buffer.concat(parts.map((part) => (typeof part === 'string' ? Buffer.from(part, 'latin1') : Buffer.from(part))));

describe('formDecodesToUtf8', () => {
  test.each<[string, Buffer]>([
    ['an empty body', bytes('')],
    ['plain ASCII with escapes of ASCII', bytes('grant_type=client_credentials&redirect_uri=https%3A%2F%2Frp.example%2Fcb&scope=openid+email')],
    ['escaped multi-byte characters, either case', bytes('name=%C3%A9t%c3%a9&key=%F0%9F%94%91')],
    ['raw UTF-8', bytes('name=', [0xc3, 0xa9, 0x74, 0xc3, 0xa9], '&key=', [0xf0, 0x9f, 0x94, 0x91])],
    ['broken escapes, which querystring keeps literally', bytes('a=%zz&b=%&c=100%&d=%F&e=%G0')],
    ['an escaped separator inside a value', bytes('a=%C3%A9%26%3D%C3%A9')],
    ['U+FFFD sent on purpose', bytes('a=%EF%BF%BD')],
  ])('when the body has %s, then it is accepted', (_name, body) => {
    expect(formDecodesToUtf8(body)).toBe(true);
  });

  test.each<[string, Buffer]>([
    ['a broken two-byte sequence', bytes('client_id=%C3%28')],
    ['a byte never in UTF-8', bytes('scope=openid%FF')],
    ['a lone continuation byte', bytes('a=%80')],
    ['a truncated sequence at the end', bytes('a=b&c=%E2%82')],
    ['an overlong encoding', bytes('a=%C0%AF')],
    ['a UTF-16 surrogate', bytes('a=%ED%A0%80')],
    ['a code point above U+10FFFF', bytes('a=%F4%90%80%80')],
    ['a sequence split by "="', bytes('a%E2%82=%AC')],
    ['a sequence split by "&"', bytes('a=%E2%82&%AC')],
    ['an escape continued by a raw byte', bytes('a=%C3', [0xa9])],
    ['a raw byte continued by an escape', bytes('a=', [0xc3], '%A9')],
    ['raw bytes that are not UTF-8', bytes('a=', [0xff, 0xfe])],
    ['a raw byte that is not UTF-8 in a name', bytes([0xe9], '=1')],
  ])('when the body has %s, then it is refused', (_name, body) => {
    expect(formDecodesToUtf8(body)).toBe(false);
  });
});

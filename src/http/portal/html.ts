// The portal's only way to make HTML: the `html` tagged template escapes every interpolation, so
// user data (names, annotations, messages echoing input) is always text. Markup passes through
// only as an Html value, which only this template (or raw(), for constant fragments) makes.

const brand = Symbol('html');

/** Markup that is already safe: made by `html`, or a constant fragment given to raw(). */
export interface Html {
  readonly [brand]: true;
  readonly text: string;
}

/** What may be interpolated: text (escaped), numbers, Html (as is), lists of these; null/undefined/false render nothing. */
export type Value = string | number | bigint | boolean | null | undefined | Html | readonly Value[];

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;', '`': '&#96;', '=': '&#61;' };

/**
 * Text for any HTML context the template uses: element content and quoted attribute values.
 * Quotes, backticks and "=" are escaped too, so a value cannot end an attribute or start another.
 */
export function escapeHtml(s: string): string {
  return s.replace(/[&<>"'`=]/g, (c) => ESCAPES[c]!);
}

function make(text: string): Html {
  return { [brand]: true, text };
}

export function isHtml(v: unknown): v is Html {
  return typeof v === 'object' && v !== null && (v as Html)[brand] === true;
}

/** A constant fragment of markup: never pass it anything derived from a request or the database. */
export function raw(markup: string): Html {
  return make(markup);
}

function render(v: Value): string {
  if (v === null || v === undefined || v === false) return '';
  if (isHtml(v)) return v.text;
  if (typeof v === 'string') return escapeHtml(v);
  if (typeof v === 'number' || typeof v === 'bigint' || typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) return (v as readonly Value[]).map(render).join('');
  // Not a Value at all (an object passed through a cast): shown as its default text, escaped.
  return escapeHtml(Object.prototype.toString.call(v));
}

/** The tagged template: html`<p title="${t}">${body}</p>`. Attribute values must be quoted. */
export function html(strings: TemplateStringsArray, ...values: Value[]): Html {
  let out = strings[0]!;
  for (let i = 0; i < values.length; i++) out += render(values[i]) + strings[i + 1]!;
  return make(out);
}

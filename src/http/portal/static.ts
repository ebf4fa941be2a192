import { createHash } from 'node:crypto';

// The portal's stylesheet, served as a file (never inline, so the CSP needs no 'unsafe-inline').
// Its URL carries a hash of its content: browsers keep it for a year, and a new build is a new URL.

const CSS = `
:root {
  color-scheme: light dark;
  --bg: #ffffff; --fg: #1b1f24; --muted: #57606a; --line: #d0d7de; --panel: #f6f8fa;
  --accent: #0b5cad; --accent-fg: #ffffff; --bad: #a40e26; --bad-bg: #ffebe9; --bad-fg: #ffffff; --ok: #1a7f37;
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; line-height: 1.5;
}
@media (prefers-color-scheme: dark) {
  :root { --bg: #0d1117; --fg: #e6edf3; --muted: #9da7b3; --line: #30363d; --panel: #161b22;
    --accent: #4493f8; --accent-fg: #0d1117; --bad: #ff7b72; --bad-bg: #3b1218; --bad-fg: #0d1117; --ok: #3fb950; }
}
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--fg); }
a { color: var(--accent); }
a:focus-visible, button:focus-visible, input:focus-visible { outline: 3px solid var(--accent); outline-offset: 2px; }
.skip { position: absolute; left: -9999px; }
.skip:focus { left: 1rem; top: 1rem; background: var(--panel); padding: .5rem; }
header { display: flex; flex-wrap: wrap; align-items: center; gap: .5rem 1.5rem; padding: .75rem 1.25rem;
  border-bottom: 1px solid var(--line); background: var(--panel); }
header .brand { font-weight: 700; font-size: 1.15rem; color: var(--fg); text-decoration: none; }
header nav ul { display: flex; gap: 1rem; list-style: none; margin: 0; padding: 0; }
header .who { margin-left: auto; display: flex; align-items: center; gap: .75rem; color: var(--muted); }
header .who form { margin: 0; }
main { max-width: 72rem; margin: 0 auto; padding: 1.25rem; }
h1 { font-size: 1.5rem; margin: 0 0 1rem; }
.card { max-width: 24rem; margin: 3rem auto; padding: 1.5rem; border: 1px solid var(--line); border-radius: 8px; background: var(--panel); }
label { display: block; font-weight: 600; margin: .75rem 0 .25rem; }
input[type=text], input[type=password] { width: 100%; padding: .5rem; font: inherit; color: var(--fg); background: var(--bg);
  border: 1px solid var(--line); border-radius: 6px; }
button { font: inherit; padding: .45rem 1rem; border-radius: 6px; border: 1px solid var(--accent); background: var(--accent);
  color: var(--accent-fg); cursor: pointer; }
button.link { background: none; border: none; color: var(--accent); padding: 0; text-decoration: underline; }
.card button { margin-top: 1.25rem; width: 100%; }
.error { border: 1px solid var(--bad); background: var(--bad-bg); color: var(--fg); padding: .5rem .75rem; border-radius: 6px; }
.muted { color: var(--muted); }
.table-wrap { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .5rem .75rem; border-bottom: 1px solid var(--line); white-space: nowrap; }
th { font-size: .85rem; text-transform: uppercase; letter-spacing: .03em; color: var(--muted); }
code { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: .9em; }
pre { overflow-x: auto; }
.facts { display: grid; grid-template-columns: max-content 1fr; gap: .25rem 1rem; }
.facts dd { margin: 0; overflow-wrap: anywhere; }
.tabs { display: flex; flex-wrap: wrap; gap: .25rem 1rem; list-style: none; margin: 0 0 1rem; padding: 0 0 .25rem; border-bottom: 1px solid var(--line); }
.tabs a { text-decoration: none; padding: .25rem 0; display: inline-block; }
.tabs a[aria-current] { font-weight: 700; border-bottom: 3px solid var(--accent); color: var(--fg); }
.crumbs { margin: 0 0 .5rem; color: var(--muted); }
h2 { font-size: 1.2rem; margin: 1.5rem 0 .75rem; }
.notice { border: 1px solid var(--accent); padding: .5rem .75rem; border-radius: 6px; background: var(--panel); }
.secret { border: 2px solid var(--accent); padding: .75rem; border-radius: 6px; background: var(--panel); }
.secret code { font-size: 1rem; overflow-wrap: anywhere; }
.danger-zone { border: 1px solid var(--bad); border-radius: 8px; padding: 1rem; margin-top: 2rem; }
button.danger { background: var(--bad); border-color: var(--bad); color: var(--bad-fg); }
button.secondary { background: var(--bg); color: var(--accent); }
button:disabled { opacity: .55; cursor: not-allowed; }
form.inline { display: inline; margin: 0; }
.actions { display: flex; flex-wrap: wrap; gap: .5rem; align-items: center; margin: .75rem 0; }
.field { margin-bottom: .75rem; max-width: 32rem; }
.field .hint { font-size: .85rem; }
.field [data-state=ok] { color: var(--ok); }
.field [data-state=bad] { color: var(--bad); }
input[type=number], input[type=search], input[type=url], input[type=date], select, textarea { width: 100%; padding: .45rem; font: inherit; color: var(--fg);
  background: var(--bg); border: 1px solid var(--line); border-radius: 6px; }
textarea { min-height: 6rem; font-family: ui-monospace, SFMono-Regular, Menlo, monospace; }
label.check { display: flex; gap: .5rem; align-items: center; font-weight: 400; }
fieldset { border: 1px solid var(--line); border-radius: 6px; margin: 0 0 .75rem; max-width: 32rem; }
.filters { display: flex; flex-wrap: wrap; gap: .5rem 1rem; align-items: end; margin-bottom: .75rem; }
.filters .field { margin: 0; min-width: 10rem; }
.badge { display: inline-block; padding: 0 .45rem; border-radius: 999px; font-size: .8rem; font-weight: 600; border: 1px solid var(--line); }
.badge.critical, .badge.bad { background: var(--bad); color: var(--bad-fg); border-color: var(--bad); }
.badge.high { background: var(--bad-bg); color: var(--fg); border-color: var(--bad); }
.badge.ok { background: var(--panel); color: var(--fg); border-color: var(--ok); }
meter { display: block; width: 100%; max-width: 12rem; }
td.num, th.num { text-align: right; }
td.wrap { white-space: normal; overflow-wrap: anywhere; }
pre.body { max-height: 20rem; overflow: auto; background: var(--panel); padding: .5rem; border-radius: 6px; white-space: pre-wrap; overflow-wrap: anywhere; }
ul.tree { list-style: none; padding-left: 1.25rem; border-left: 1px solid var(--line); }
svg.chart { width: 100%; max-width: 40rem; height: auto; }
svg.chart .line { fill: none; stroke: var(--accent); stroke-width: 2; }
svg.chart .axis { stroke: var(--line); }
svg.chart text { fill: var(--muted); font-size: 10px; }
@media (max-width: 40rem) {
  header { padding: .5rem .75rem; }
  header .who { margin-left: 0; width: 100%; justify-content: space-between; }
  main { padding: .75rem; }
  .card { margin: 1rem auto; }
}
/* access */
fieldset.access-rule legend { font-weight: 600; }
.access-actions { display: flex; flex-wrap: wrap; gap: 0 1.25rem; }
.access-actions .field { margin: 0; }
details.access-more > summary { cursor: pointer; color: var(--accent); margin: .75rem 0; }
/* registries */
svg.chart .dot { fill: var(--accent); }
svg.chart .bar.push, .legend .key.push { fill: var(--accent); background: var(--accent); }
svg.chart .bar.pull, .legend .key.pull { fill: var(--ok); background: var(--ok); }
.legend { font-size: .85rem; color: var(--muted); }
.legend .key { display: inline-block; width: .8rem; height: .8rem; border-radius: 2px; vertical-align: middle; }
.legend .key.pull { margin-left: .75rem; }
a.button { display: inline-block; padding: .45rem 1rem; border-radius: 6px; background: var(--accent); color: var(--accent-fg); text-decoration: none; }
details summary { cursor: pointer; color: var(--accent); }
/* webhooks */
details.delivery { border: 1px solid var(--line); border-radius: 6px; padding: .5rem .75rem; margin: .5rem 0; }
details.delivery > summary { cursor: pointer; }
details.delivery h3 { font-size: 1rem; margin: 1rem 0 .25rem; }
/* operations */
.ops-filters { align-items: flex-start; }
.ops-filters .field { flex: 0 1 14rem; }
.ops-filters .hint { overflow-wrap: anywhere; }
.ops-filters .ops-submit { padding-top: 2.1rem; }
.ops-log td { white-space: normal; overflow-wrap: break-word; }
.ops-log td:first-child { white-space: nowrap; }
.ops-log details pre.body { min-width: 16rem; }
/* scanning */
main h1, code.digest { overflow-wrap: anywhere; }
td.description { min-width: 16rem; }
.scan-table td.wrap { min-width: 12rem; }
.badges { display: inline-flex; flex-wrap: wrap; gap: .25rem; }
ul.badges { list-style: none; padding: 0; margin: 0 0 .25rem; gap: .25rem 1rem; }
/* repositories */
tbody th { text-transform: none; letter-spacing: normal; font-size: inherit; color: var(--fg); font-weight: 600; }
.locks { display: grid; grid-template-columns: max-content max-content; gap: .15rem .5rem; align-items: center; }
button.small { padding: .1rem .5rem; font-size: .85rem; }
td.pulls .copyable { display: block; }
.copyable-row { display: inline-block; margin-right: .75rem; }
.small { font-size: .85rem; }
ul.tree li { margin: .25rem 0; }
ul.tree li > span { margin-left: .5rem; }
ul.tree li > a + span + span + a { margin-left: .5rem; }
.facts dd .copyable code, td .copyable code { overflow-wrap: anywhere; }
`;

// The portal's one script: small behaviours on top of pages that work without it. Markup opts in
// with data attributes, so pages carry no inline script and the CSP stays 'self' only:
//   data-copy="text"          a button that copies text (pull commands)
//   data-confirm="name"       an input that enables its form's submit button once it equals name
//                             (typed confirmation; the server checks the same)
//   data-check="url"          an input whose value is checked as it is typed: GET url?name=value
//                             answers {"available":bool,"message":string}, shown in the element
//                             named by aria-describedby
//   data-live="url"           an element whose content is replaced every data-interval ms
//                             (default 2000) by the HTML fragment at url, until the fragment's
//                             answer carries "X-Berth-Live: done" (job and import progress)
const JS = `'use strict';
(() => {
  const ready = (fn) => (document.readyState === 'loading' ? document.addEventListener('DOMContentLoaded', fn) : fn());
  ready(() => {
    for (const b of document.querySelectorAll('button[data-copy]')) {
      b.hidden = false;
      b.addEventListener('click', async () => {
        try {
          await navigator.clipboard.writeText(b.dataset.copy);
          b.textContent = 'Copied';
        } catch {
          b.textContent = 'Copy failed';
        }
        setTimeout(() => (b.textContent = 'Copy'), 2000);
      });
    }
    for (const input of document.querySelectorAll('input[data-confirm]')) {
      const submit = input.form && input.form.querySelector('button[type=submit]');
      if (!submit) continue;
      const sync = () => (submit.disabled = input.value !== input.dataset.confirm);
      input.addEventListener('input', sync);
      sync();
    }
    for (const input of document.querySelectorAll('input[data-check]')) {
      const out = document.getElementById(input.getAttribute('aria-describedby') || '');
      if (!out) continue;
      let timer;
      let seq = 0;
      input.addEventListener('input', () => {
        clearTimeout(timer);
        const mine = ++seq;
        timer = setTimeout(async () => {
          if (!input.value) return void (out.textContent = '');
          try {
            const r = await fetch(input.dataset.check + '?name=' + encodeURIComponent(input.value), { credentials: 'same-origin' });
            const j = await r.json();
            if (mine !== seq) return;
            out.textContent = j.message || '';
            out.dataset.state = j.available ? 'ok' : 'bad';
          } catch {
            if (mine === seq) out.textContent = '';
          }
        }, 250);
      });
    }
    for (const el of document.querySelectorAll('[data-live]')) {
      const every = Number(el.dataset.interval) || 2000;
      const tick = async () => {
        try {
          const r = await fetch(el.dataset.live, { credentials: 'same-origin', headers: { 'X-Berth-Fragment': '1' } });
          if (r.ok) el.innerHTML = await r.text();
          if (r.headers.get('X-Berth-Live') === 'done' || r.status === 404) return;
        } catch {}
        setTimeout(tick, every);
      };
      setTimeout(tick, every);
    }
  });
})();
`;

const hashed = (body: string, ext: string) =>
  `/portal/static/portal-${createHash('sha256').update(body).digest('hex').slice(0, 12)}.${ext}`;

export const SCRIPT = {
  body: JS,
  path: hashed(JS, 'js'),
  headers: { 'Content-Type': 'text/javascript; charset=utf-8', 'Cache-Control': 'public, max-age=31536000, immutable' },
};

export const STYLESHEET = {
  body: CSS,
  path: hashed(CSS, 'css'),
  headers: { 'Content-Type': 'text/css; charset=utf-8', 'Cache-Control': 'public, max-age=31536000, immutable' },
};

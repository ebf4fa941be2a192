import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { escapeHtml, html, raw } from './html.js';

describe('html template', () => {
  test('text content: tags are shown as text', () => {
    assert.equal(html`<p>${'<script>alert(1)</script>'}</p>`.text, '<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>');
  });

  test('ampersands are escaped once, and entities in input stay text', () => {
    assert.equal(html`${'a & b &amp; c'}`.text, 'a &amp; b &amp;amp; c');
  });

  test('attribute injection cannot leave a quoted value', () => {
    const evil = '" onmouseover="alert(1)';
    // prettier-ignore
    const out = html`<span title="${evil}">x</span>`.text;
    assert.equal(out, '<span title="&quot; onmouseover&#61;&quot;alert(1)">x</span>');
    assert.ok(!out.includes('"alert'));
    // prettier-ignore
    assert.equal(html`<a title='${"' onclick='x"}'>x</a>`.text, "<a title='&#39; onclick&#61;&#39;x'>x</a>");
    // prettier-ignore
    assert.equal(html`<a title=${'`x` a=b'}>x</a>`.text, '<a title=&#96;x&#96; a&#61;b>x</a>');
  });

  test('unicode passes through unchanged', () => {
    const s = 'Zürich 東京 🚢 \u202e';
    assert.equal(html`<td>${s}</td>`.text, `<td>${s}</td>`);
  });

  test('numbers, lists and absent values', () => {
    assert.equal(html`${1}|${[html`<b>${'<'}</b>`, '&']}|${null}${undefined}${false}|${true}`.text, '1|<b>&lt;</b>&amp;||true');
  });

  test('nested templates and raw fragments are not escaped again', () => {
    const inner = html`<em>${'<x>'}</em>`;
    assert.equal(html`<p>${inner}${raw('<br>')}</p>`.text, '<p><em>&lt;x&gt;</em><br></p>');
  });

  test('an object that merely looks like Html is escaped as text', () => {
    const fake = { text: '<script>' } as unknown as string;
    assert.equal(html`${fake}`.text, '[object Object]');
    assert.equal(escapeHtml('<>&"\'`='), '&lt;&gt;&amp;&quot;&#39;&#96;&#61;');
  });
});

/**
 * The dashboard page, its script and its style, served as they are by the node (dist is built by tsc alone, so
 * they live here as strings). No framework, no build step, nothing fetched from elsewhere. The style and the
 * script are inlined into the page (one request before the data instead of three: on a busy node each request
 * waits its turn on the event loop, and the style blocks the first paint), and allowed by their SHA-256 hashes in
 * the page's Content-Security-Policy: no 'unsafe-inline', so an injected script or style attribute still does not
 * run; the script sets styles through the CSSOM only. The static page carries no data; every value comes from the
 * token-protected /v1/dashboard/stream, which the script opens as soon as it runs (end of body, not deferred).
 */
import { createHash } from 'node:crypto'

const HTML_TEMPLATE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>ZEONE node</title>
<link rel="icon" href="@ICON@" type="image/svg+xml">
<style>@CSS@</style>
</head>
<body>
<header>
  <h1>ZEONE</h1>
  <div class="id">node <code id="node-id">-</code></div>
  <div class="meta">up <span id="uptime">-</span> s · NAT <span id="nat">-</span> · <span id="conn" class="bad">connecting</span></div>
</header>
<main>
  <section id="s-peers">
    <h2>Peers <span id="peer-count" class="big">-</span></h2>
    <svg id="peer-graph" viewBox="-110 -110 220 220" role="img" aria-label="peer graph"></svg>
    <table><thead><tr><th>peer</th><th>address</th><th>path</th><th>trust</th><th>balance</th></tr></thead><tbody id="peers"></tbody></table>
  </section>
  <section id="s-dht">
    <h2>DHT table <span id="dht-size" class="big">-</span></h2>
    <div id="dht-buckets" class="bars"></div>
    <p class="muted">stored keys <span id="dht-keys">-</span></p>
  </section>
  <section id="s-transfers">
    <h2>Transfers</h2>
    <table><thead><tr><th>job</th><th>content</th><th>progress</th><th>state</th></tr></thead><tbody id="transfers"></tbody></table>
  </section>
  <section id="s-economy">
    <h2>Balances</h2>
    <p>owed to us <b id="owed-to-us">-</b> · we owe <b id="we-owe">-</b> <span class="muted">micro-credits, debt limit <span id="debt-limit">-</span></span></p>
    <table><thead><tr><th>cheque</th><th>peer</th><th>amount</th><th>status</th></tr></thead><tbody id="cheques"></tbody></table>
  </section>
  <section id="s-chain">
    <h2>Chain</h2>
    <p id="chain" class="muted">no chain attached</p>
    <ul id="proposals"></ul>
  </section>
  <section id="s-vpn">
    <h2>VPN</h2>
    <p id="vpn" class="muted">VPN layer off</p>
    <table><thead><tr><th>exit</th><th>source</th><th>region</th><th>price/MiB</th><th>rtt</th></tr></thead><tbody id="exits"></tbody></table>
  </section>
  <section id="s-cortex">
    <h2>Cortex</h2>
    <ul id="models"></ul>
    <form id="chat-form">
      <select id="chat-model"></select>
      <input id="chat-input" autocomplete="off" placeholder="Ask the model" maxlength="2000">
      <button id="chat-send" type="submit">Send</button>
    </form>
    <pre id="chat-output"></pre>
  </section>
</main>
<script>@JS@</script>
</body>
</html>
`

/** The tab icon (served so the browser does not ask for /favicon.ico). */
export const DASHBOARD_ICON = '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><circle cx="8" cy="8" r="7" fill="#0969da"/><circle cx="8" cy="8" r="3" fill="#fff"/></svg>'

export const DASHBOARD_CSS = `:root { color-scheme: light dark; --fg: #1b1f24; --bg: #f6f7f9; --card: #fff; --muted: #6a737d; --ok: #1a7f37; --bad: #cf222e; --acc: #0969da; }
@media (prefers-color-scheme: dark) { :root { --fg: #e6edf3; --bg: #0d1117; --card: #161b22; --muted: #8b949e; } }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.4 system-ui, sans-serif; color: var(--fg); background: var(--bg); }
header { display: flex; gap: 16px; align-items: baseline; flex-wrap: wrap; padding: 10px 16px; background: var(--card); border-bottom: 1px solid #8883; }
h1 { font-size: 18px; margin: 0; }
h2 { font-size: 15px; margin: 0 0 8px; }
code { font-size: 12px; word-break: break-all; }
main { display: grid; grid-template-columns: repeat(auto-fit, minmax(380px, 1fr)); gap: 12px; padding: 12px; }
section { background: var(--card); border: 1px solid #8883; border-radius: 6px; padding: 10px 12px; min-width: 0; overflow-x: auto; }
table { width: 100%; border-collapse: collapse; font-size: 12px; }
th, td { text-align: left; padding: 2px 4px; border-bottom: 1px solid #8882; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; max-width: 130px; }
.big { font-size: 20px; color: var(--acc); margin-left: 6px; }
.muted { color: var(--muted); }
.ok { color: var(--ok); } .bad { color: var(--bad); }
#s-peers { grid-column: span 2; }
#peer-graph { width: 100%; max-height: 220px; }
#peer-graph line { stroke: var(--muted); stroke-width: 0.8; }
#peer-graph line.trusted { stroke: var(--ok); }
#peer-graph line.blacklisted { stroke: var(--bad); }
#peer-graph circle { fill: var(--acc); }
#peer-graph circle.self { fill: var(--ok); }
.bars { display: flex; align-items: flex-end; gap: 2px; height: 80px; border-bottom: 1px solid #8885; }
.bars div { flex: 1; min-width: 3px; max-width: 14px; background: var(--acc); }
progress { width: 120px; }
form { display: flex; gap: 6px; margin: 8px 0; }
#chat-input { flex: 1; min-width: 0; }
#chat-output { white-space: pre-wrap; min-height: 3em; max-height: 200px; overflow: auto; background: #8881; padding: 6px; margin: 0; }
`

// Plain ES2020 for the browser. Kept free of backquotes and dollar-brace so it can sit in this template string.
export const DASHBOARD_JS = `'use strict'
;(function () {
  try { performance.mark('zeone-script') } catch (e) {}
  var token = ''
  var m = /(?:^#|&)token=([0-9a-f]{64})(?:&|$)/.exec(location.hash)
  if (m) {
    token = m[1]
    try { sessionStorage.setItem('zeone-token', token) } catch (e) {}
    // the token leaves the address bar (and any screenshot or shared link) once read
    history.replaceState(null, '', location.pathname)
  } else {
    try { token = sessionStorage.getItem('zeone-token') || '' } catch (e) {}
  }
  var $ = function (id) { return document.getElementById(id) }
  var el = function (tag, text, cls) { var e = document.createElement(tag); if (text !== undefined) e.textContent = String(text); if (cls) e.className = cls; return e }
  var short = function (id) { return id.length > 12 ? id.slice(0, 10) + '…' : id }
  var setConn = function (text, ok) { var c = $('conn'); c.textContent = text; c.className = ok ? 'ok' : 'bad' }
  var auth = function () { return { authorization: 'Bearer ' + token } }
  var row = function (tbody, cells) { var tr = el('tr'); cells.forEach(function (c) { if (c instanceof Node) { var td = el('td'); td.appendChild(c); tr.appendChild(td) } else tr.appendChild(el('td', c)) }); tbody.appendChild(tr) }
  var fill = function (id, rows, render, empty) { var t = $(id); t.replaceChildren(); if (!rows || rows.length === 0) { if (t.tagName === 'UL') { t.appendChild(el('li', empty, 'muted')); return } var tr = el('tr'); var td = el('td', empty, 'muted'); td.colSpan = 5; tr.appendChild(td); t.appendChild(tr); return } rows.forEach(function (r) { render(t, r) }) }
  var SVG = 'http://www.w3.org/2000/svg'
  var svg = function (tag, attrs) { var e = document.createElementNS(SVG, tag); for (var k in attrs) e.setAttribute(k, String(attrs[k])); return e }

  function drawGraph(peers) {
    var g = $('peer-graph')
    g.replaceChildren()
    var n = peers.length
    peers.forEach(function (p, i) {
      var a = (2 * Math.PI * i) / Math.max(1, n)
      var x = Math.round(Math.cos(a) * 90), y = Math.round(Math.sin(a) * 90)
      var cls = p.trust && p.trust.blacklisted ? 'blacklisted' : p.trust && p.trust.effective > 0 ? 'trusted' : ''
      g.appendChild(svg('line', { x1: 0, y1: 0, x2: x, y2: y, class: cls }))
      var c = svg('circle', { cx: x, cy: y, r: 5 })
      var t = svg('title', {}); t.textContent = p.id + ' ' + p.address + ' (' + p.path + ', ' + p.net + ')'
      c.appendChild(t)
      g.appendChild(c)
    })
    g.appendChild(svg('circle', { cx: 0, cy: 0, r: 8, class: 'self' }))
  }

  var models = ''
  var painted = false
  function render(s) {
    if (!painted) { painted = true; try { performance.mark('zeone-first-data') } catch (e) {} }
    $('node-id').textContent = s.node.id
    $('uptime').textContent = s.node.uptimeS
    $('nat').textContent = s.node.nat || 'unknown'
    $('peer-count').textContent = s.peerCount
    drawGraph(s.peers)
    fill('peers', s.peers, function (t, p) {
      row(t, [short(p.id), p.address, p.path + ' ' + p.wire + ' ' + p.net, p.trust ? (p.trust.blacklisted ? 'blacklisted' : p.trust.effective.toFixed(3)) : '-', p.balance === null ? '-' : p.balance])
    }, 'no peers')
    var d = s.dht
    $('dht-size').textContent = d ? d.size : 'off'
    $('dht-keys').textContent = d ? d.storedKeys : '-'
    var bars = $('dht-buckets'); bars.replaceChildren()
    if (d) d.buckets.forEach(function (b) { var e = el('div'); e.title = 'bucket ' + b.bucket + ': ' + b.size + ' (+' + b.replacements + ')'; e.style.height = Math.max(4, Math.min(100, b.size * 5)) + '%'; bars.appendChild(e) })
    fill('transfers', s.transfers, function (t, j) {
      var p = el('progress'); p.max = Math.max(1, j.bytesTotal); p.value = j.state === 'done' ? p.max : j.bytesDone
      row(t, [j.job, short(j.id), p, j.state + (j.error ? ': ' + j.error : '') + (j.state === 'running' && j.rate ? ' ' + Math.round(j.rate / 1024) + ' KiB/s' : '')])
    }, 'no transfers')
    var e = s.economy
    $('owed-to-us').textContent = e ? e.owedToUs : '-'
    $('we-owe').textContent = e ? e.weOwe : '-'
    $('debt-limit').textContent = e ? e.debtLimit : '-'
    fill('cheques', e ? e.cheques : [], function (t, c) { row(t, [c.direction, short(c.peer), c.amount, c.status]) }, 'no cheques')
    var c = s.chain
    $('chain').textContent = c ? 'chain ' + c.chainId + ' · stake ' + (c.stakeWei === null ? '…' : c.stakeWei) + ' wei' +
      (c.params ? ' · ' + Object.keys(c.params).map(function (k) { return k + '=' + c.params[k] }).join(' ') : '') : 'no chain attached'
    if (!c) $('proposals').replaceChildren()
    else fill('proposals', c.proposals || [], function (t, p) {
      t.appendChild(el('li', 'proposal ' + short(p.id) + ' · ' + p.state + ' · ' + p.description))
    }, c.proposals ? 'no proposals' : 'reading proposals…')
    var v = s.vpn
    $('vpn').textContent = v ? 'streams open ' + v.openStreams + ' · exit ' + (v.pinned ? 'pinned ' + short(v.pinned) : 'automatic') +
      (v.exit ? ' · serving as exit: ' + v.exit.streams + ' streams, ' + v.exit.opened + ' opened' : '') : 'VPN layer off'
    fill('exits', v ? v.exits : [], function (t, x) {
      row(t, [short(x.id) + (x.usable ? '' : ' (not usable)'), x.source, x.region || '-', x.pricePerMiB === null ? '-' : x.pricePerMiB, x.rttMs === null ? '-' : x.rttMs + ' ms'])
    }, 'no exits known')
    var ms = s.cortex ? s.cortex.models : []
    var key = ms.map(function (x) { return x.id }).join(',')
    if (key !== models) {
      models = key
      var sel = $('chat-model'); sel.replaceChildren()
      ms.forEach(function (x) { var o = el('option', x.id); o.value = x.id; sel.appendChild(o) })
    }
    fill('models', s.cortex ? s.cortex.stages : [], function (t, st) {
      t.appendChild(el('li', st.model + ' layers ' + st.start + ':' + st.end + ' · sessions ' + st.sessions + ' · free ' + st.capacity))
    }, 'no stages served here')
    document.body.dataset.at = String(s.at)
  }

  // Server-sent events over fetch (EventSource cannot send the Authorization header).
  async function readEvents(res, onData) {
    var reader = res.body.getReader(), dec = new TextDecoder(), buf = ''
    for (;;) {
      var r = await reader.read()
      if (r.done) return
      buf += dec.decode(r.value, { stream: true })
      var i
      while ((i = buf.indexOf('\\n\\n')) >= 0) {
        var ev = buf.slice(0, i); buf = buf.slice(i + 2)
        var data = ev.split('\\n').filter(function (l) { return l.indexOf('data: ') === 0 }).map(function (l) { return l.slice(6) }).join('\\n')
        if (data) onData(data)
      }
    }
  }

  async function stream() {
    if (!token) { setConn('no token: open /dashboard#token=<api.token>', false); return }
    for (;;) {
      try {
        var res = await fetch('/v1/dashboard/stream', { headers: auth(), cache: 'no-store' })
        if (res.status === 401) { setConn('token refused', false); return }
        if (!res.ok) throw new Error('HTTP ' + res.status)
        try { performance.mark('zeone-stream-open') } catch (e) {}
        setConn('live', true)
        await readEvents(res, function (d) { render(JSON.parse(d)) })
      } catch (e) { /* node restarting or gone: retry */ }
      setConn('disconnected, retrying', false)
      await new Promise(function (r) { setTimeout(r, 2000) })
    }
  }

  async function chat(ev) {
    ev.preventDefault()
    var input = $('chat-input'), out = $('chat-output'), btn = $('chat-send')
    var text = input.value.trim()
    if (!text || !$('chat-model').value) return
    btn.disabled = true
    out.textContent = ''
    var tokens = 0
    out.dataset.state = 'streaming'
    try {
      var res = await fetch('/v1/chat/completions', { method: 'POST', headers: Object.assign({ 'content-type': 'application/json' }, auth()),
        body: JSON.stringify({ model: $('chat-model').value, messages: [{ role: 'user', content: text }], stream: true, max_tokens: 48 }) })
      if (!res.ok) throw new Error('HTTP ' + res.status + ' ' + (await res.text()))
      await readEvents(res, function (d) {
        if (d === '[DONE]') return
        var delta = JSON.parse(d).choices[0].delta.content
        if (delta) { out.textContent += delta; tokens++; out.dataset.tokens = String(tokens) }
      })
      out.dataset.state = 'done'
    } catch (e) { out.textContent += '\\n[' + e.message + ']'; out.dataset.state = 'failed' }
    btn.disabled = false
  }

  // the script is the body's last element: the page is parsed, the data can be asked for now
  $('chat-form').addEventListener('submit', chat)
  stream()
})()
`

const sha256 = (text: string): string => `'sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}'`
if (/<\/(script|style)/i.test(DASHBOARD_JS + DASHBOARD_CSS)) throw new Error('dashboard assets: a closing tag inside an inlined block')

export const DASHBOARD_HTML = HTML_TEMPLATE
  .replace('@ICON@', () => `data:image/svg+xml,${encodeURIComponent(DASHBOARD_ICON)}`)
  .replace('@CSS@', () => DASHBOARD_CSS)
  .replace('@JS@', () => DASHBOARD_JS)

/** The page's policy: its own origin, plus exactly the inlined script and style (by hash) and the data: icon. */
export const DASHBOARD_CSP = `default-src 'self'; script-src 'self' ${sha256(DASHBOARD_JS)}; style-src 'self' ${sha256(DASHBOARD_CSS)}; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`

/**
 * The dashboard's HTML shell: markup and styles only. Its behaviour is `app.ts`, a browser module
 * loaded from `/assets/dashboard/app.js`, which imports `tidings/client` from `/assets/client/`.
 * Everything is served by the package: no CDN, no build step beyond `tsc`.
 */

/** The page at `/`. */
export const dashboardHtml = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Tidings</title>
<style>
  :root { --ink: #1d2330; --muted: #68707d; --line: #dde1e7; --soft: #eef0f3; --blue: #4263eb; --green: #2f9e44; --red: #c92a2a; --amber: #e67700; }
  * { box-sizing: border-box; }
  body { font: 14px/1.4 system-ui, sans-serif; margin: 0; color: var(--ink); background: #f6f7f9; }
  header { background: var(--ink); color: #fff; padding: 10px 20px; display: flex; gap: 16px; align-items: center; flex-wrap: wrap; }
  header h1 { font-size: 18px; margin: 0; }
  header select { font: inherit; }
  .pill { padding: 2px 8px; border-radius: 10px; background: #555; font-size: 12px; }
  #state[data-state="connected"] { background: var(--green); }
  #state[data-state="disconnected"] { background: var(--red); }
  #summary { display: flex; gap: 14px; font-size: 12px; color: #cfd4dc; margin-left: auto; }
  #summary b { color: #fff; }
  main { padding: 16px 20px; display: grid; gap: 16px; grid-template-columns: minmax(0, 1.4fr) minmax(320px, 1fr); align-items: start; }
  .col { display: grid; gap: 16px; }
  section { background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: 12px; min-width: 0; }
  section[hidden] { display: none; }
  h2 { font-size: 15px; margin: 0 0 8px; display: flex; gap: 8px; align-items: center; }
  h2 .meta { font-weight: 400; }
  label { display: block; margin: 6px 0 2px; font-weight: 600; }
  input, textarea, select { font: 13px ui-monospace, monospace; padding: 4px; }
  input[type=text], textarea, #channels { width: 100%; }
  button { margin-top: 8px; padding: 4px 12px; cursor: pointer; }
  button:disabled { cursor: default; }
  table { width: 100%; border-collapse: collapse; font-size: 13px; }
  th { text-align: left; color: var(--muted); font-weight: 600; border-bottom: 1px solid var(--line); padding: 4px; }
  td { border-bottom: 1px solid var(--soft); padding: 4px; vertical-align: middle; }
  tbody tr.clickable { cursor: pointer; }
  tbody tr.clickable:hover, tbody tr.selected { background: #f1f3ff; }
  .meta { color: var(--muted); font-size: 12px; }
  .mono { font-family: ui-monospace, monospace; font-size: 12px; }
  .badge { display: inline-block; padding: 1px 7px; border-radius: 9px; font-size: 12px; background: var(--soft); }
  .badge.running { background: #dbe4ff; color: #364fc7; }
  .badge.succeeded { background: #d3f9d8; color: #2b8a3e; }
  .badge.failed, .badge.cancelled { background: #ffe3e3; color: var(--red); }
  .badge.retrying, .badge.delayed { background: #fff3bf; color: var(--amber); }
  .bar { height: 12px; background: var(--soft); border-radius: 6px; overflow: hidden; min-width: 80px; }
  .fill { height: 100%; width: 0; background: var(--blue); transition: width .2s; }
  [data-status="succeeded"] .fill { background: var(--green); }
  [data-status="failed"] .fill, [data-status="cancelled"] .fill { background: var(--red); }
  #demo .bar { margin-top: 8px; height: 14px; }
  .row { display: flex; gap: 8px; align-items: end; }
  .row > * { flex: 1; }
  ul.feed { list-style: none; margin: 0; padding: 0; max-height: 60vh; overflow: auto; }
  ul.feed li { border-bottom: 1px solid var(--soft); padding: 5px 0; }
  ul.feed .type { font-weight: 600; }
  ul.feed pre { margin: 3px 0 0; white-space: pre-wrap; word-break: break-all; font-size: 12px; }
  ul.feed li.reset .type { color: var(--red); }
  #jlogs { max-height: 200px; }
  #jevents { max-height: 240px; }
  .kv { display: grid; grid-template-columns: max-content 1fr; gap: 2px 12px; font-size: 13px; margin: 8px 0; }
  .kv dt { color: var(--muted); }
  .kv dd { margin: 0; word-break: break-all; }
  .metrics { display: grid; grid-template-columns: repeat(auto-fill, minmax(120px, 1fr)); gap: 8px; }
  .metric { background: var(--soft); border-radius: 6px; padding: 6px 8px; }
  .metric b { display: block; font-size: 18px; }
  .empty { color: var(--muted); font-style: italic; padding: 6px 0; }
</style>
</head>
<body>
<header>
  <h1>Tidings</h1>
  <span id="state" class="pill" data-state="disconnected">disconnected</span>
  <label class="meta" style="margin:0;color:#cfd4dc">transport
    <select id="transport"><option value="sse">SSE</option><option value="websocket">WebSocket</option></select>
  </label>
  <div id="summary"><span>engine <b id="s-engine">–</b></span><span>connections <b id="s-conn">–</b></span><span id="count">0 events</span></div>
</header>
<main>
  <div class="col">
    <section id="jobs-panel">
      <h2>Jobs <span class="meta" id="jobs-count"></span>
        <select id="jobs-filter" aria-label="status filter"><option value="">all</option><option>queued</option><option>running</option><option>retrying</option><option>succeeded</option><option>failed</option><option>cancelled</option><option>delayed</option></select>
      </h2>
      <table>
        <thead><tr><th>job</th><th>status</th><th style="width:30%">progress</th><th>attempts</th><th>enqueued</th></tr></thead>
        <tbody id="jobs"></tbody>
      </table>
      <div id="jobs-empty" class="empty">No jobs yet.</div>
    </section>
    <section id="job-detail" hidden data-status="">
      <h2><span id="jname"></span> <span id="jstatus" class="badge"></span> <span class="meta mono" id="jid"></span></h2>
      <div class="bar" role="progressbar" aria-valuemin="0" aria-valuemax="100" aria-valuenow="0"><div class="fill" id="jfill"></div></div>
      <div class="meta" id="jprogress"></div>
      <div><button type="button" id="jcancel">Cancel</button> <button type="button" id="jretry">Retry</button> <span class="meta" id="jaction"></span></div>
      <dl class="kv" id="jrecord"></dl>
      <h2>Logs</h2><ul class="feed" id="jlogs"></ul>
      <h2>Events</h2><ul class="feed" id="jevents"></ul>
    </section>
    <section id="schedules-panel">
      <h2>Schedules <span class="meta" id="schedules-note"></span></h2>
      <table>
        <thead><tr><th>name</th><th>cron</th><th>job</th><th>enabled</th><th>last run</th><th>next run</th></tr></thead>
        <tbody id="schedules"></tbody>
      </table>
      <div id="schedules-empty" class="empty">No schedules.</div>
    </section>
    <section id="webhooks-panel" hidden>
      <h2>Webhooks</h2>
      <table>
        <thead><tr><th>endpoint</th><th>events</th><th>enabled</th><th>health</th></tr></thead>
        <tbody id="webhooks"></tbody>
      </table>
      <div id="webhooks-empty" class="empty">No endpoints.</div>
      <div id="deliveries-panel" hidden>
        <h2>Deliveries <span class="meta mono" id="deliveries-of"></span></h2>
        <table>
          <thead><tr><th>event</th><th>status</th><th>attempts</th><th>last HTTP</th><th>last attempt</th><th>next attempt</th></tr></thead>
          <tbody id="deliveries"></tbody>
        </table>
      </div>
    </section>
  </div>
  <div class="col">
    <section id="metrics-panel">
      <h2>Server <span class="meta mono" id="s-epoch"></span></h2>
      <div class="metrics" id="metrics"></div>
    </section>
    <section>
      <form id="demo" data-status="idle">
        <h2>Run demo.report</h2>
        <div class="row">
          <label for="dsteps">steps <input id="dsteps" type="number" min="1" max="1000" value="10"></label>
          <label for="dstep">stepMs <input id="dstep" type="number" min="0" max="60000" value="400"></label>
        </div>
        <button type="submit" id="drun">Run demo.report</button>
        <button type="button" id="dcancel" disabled>Cancel</button>
        <div class="bar" role="progressbar" aria-valuemin="0" aria-valuemax="100" aria-valuenow="0"><div class="fill" id="dfill"></div></div>
        <div id="dstatus" class="meta">not started</div>
      </form>
    </section>
    <section>
      <form id="publish">
        <h2>Publish</h2>
        <div class="row">
          <label for="ptype">type <input id="ptype" type="text" value="demo.hello"></label>
          <label for="pchannel">channel <input id="pchannel" type="text" value="demo"></label>
        </div>
        <label for="pdata">data (JSON)</label><textarea id="pdata" rows="3">{"hello":"world"}</textarea>
        <button type="submit">Publish</button>
        <span id="presult" class="meta"></span>
      </form>
    </section>
    <section id="inspector">
      <h2>Events</h2>
      <form id="follow" class="row">
        <label for="channels">channels (comma-separated; * is a wildcard)<input id="channels" name="channels" value="*"></label>
        <button type="submit" style="flex:0">Follow</button>
      </form>
      <ul class="feed" id="events" aria-live="polite"></ul>
    </section>
  </div>
</main>
<script type="module" src="/assets/dashboard/app.js"></script>
</body>
</html>
`

/** The page an admin-only dashboard shows to a visitor without an admin token. */
export function signInHtml(message: string): string {
  const text = message.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`)
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Tidings — sign in</title>
<style>body{font:14px/1.4 system-ui,sans-serif;max-width:520px;margin:10vh auto;color:#1d2330}input{width:100%;font:13px ui-monospace,monospace;padding:6px}button{margin-top:8px;padding:5px 12px}</style>
</head><body>
<h1>Tidings</h1>
<p>${text}</p>
<form method="get" action="/"><label for="token">Admin token (a JWT whose <code>tidings.admin</code> claim is true)</label><input id="token" name="token" autocomplete="off"><button type="submit">Open the dashboard</button></form>
</body></html>
`
}

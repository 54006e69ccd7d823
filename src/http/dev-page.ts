/**
 * The small page `tidings dev` serves at `/`: follow channels with the browser's own EventSource
 * and see events as they arrive; publish a test event; run the `demo.report` job and watch its
 * progress bar fill from its `job.*` events on `queue:default`. No build step, no CDN.
 */
export const devPageHtml = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Tidings</title>
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 0; color: #1d2330; background: #f6f7f9; }
  header { background: #1d2330; color: #fff; padding: 12px 20px; display: flex; gap: 16px; align-items: center; }
  header h1 { font-size: 18px; margin: 0; }
  #state { padding: 2px 8px; border-radius: 10px; background: #555; font-size: 12px; }
  #state[data-state="open"] { background: #2f9e44; }
  #state[data-state="error"] { background: #c92a2a; }
  main { padding: 16px 20px; display: grid; gap: 16px; grid-template-columns: 1fr 320px; }
  section { background: #fff; border: 1px solid #dde1e7; border-radius: 6px; padding: 12px; }
  label { display: block; margin: 6px 0 2px; font-weight: 600; }
  input, textarea { width: 100%; box-sizing: border-box; font: 13px ui-monospace, monospace; padding: 4px; }
  button { margin-top: 8px; padding: 5px 12px; }
  #events { list-style: none; margin: 0; padding: 0; max-height: 70vh; overflow: auto; }
  #events li { border-bottom: 1px solid #eef0f3; padding: 6px 0; }
  #events .type { font-weight: 600; }
  #events .meta { color: #68707d; font-size: 12px; }
  #events pre { margin: 4px 0 0; white-space: pre-wrap; word-break: break-all; font-size: 12px; }
  #events li.reset .type { color: #c92a2a; }
  #demo .bar { height: 14px; background: #eef0f3; border-radius: 7px; overflow: hidden; margin-top: 8px; }
  #demo .fill { height: 100%; width: 0; background: #4263eb; transition: width .2s; }
  #demo[data-status="succeeded"] .fill { background: #2f9e44; }
  #demo[data-status="failed"] .fill, #demo[data-status="cancelled"] .fill { background: #c92a2a; }
  .row { display: flex; gap: 8px; }
  .row > * { flex: 1; }
</style>
</head>
<body>
<header><h1>Tidings</h1><span id="state" data-state="idle">idle</span><span id="count">0 events</span></header>
<main>
  <section>
    <form id="follow">
      <label for="channels">Channels (comma-separated; * is a wildcard)</label>
      <input id="channels" name="channels" value="demo,broadcast,queue:default">
      <button type="submit">Follow</button>
    </form>
    <ul id="events" aria-live="polite"></ul>
  </section>
  <section>
    <form id="publish">
      <label for="ptype">Type</label><input id="ptype" value="demo.hello">
      <label for="pchannel">Channel</label><input id="pchannel" value="demo">
      <label for="pdata">Data (JSON)</label><textarea id="pdata" rows="4">{"hello":"world"}</textarea>
      <button type="submit">Publish</button>
      <div id="presult" class="meta"></div>
    </form>
    <form id="demo" data-status="idle">
      <label>Run demo.report</label>
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
</main>
<script>
(function () {
  var token = new URLSearchParams(location.search).get('token');
  var es = null, count = 0;
  var list = document.getElementById('events');
  var state = document.getElementById('state');
  function setState(s) { state.dataset.state = s; state.textContent = s; }
  function show(type, e) {
    var li = document.createElement('li');
    if (type === 'tidings.reset') li.className = 'reset';
    var t = document.createElement('div'); t.className = 'type'; t.textContent = type;
    var meta = document.createElement('div'); meta.className = 'meta';
    var ev = null; try { ev = JSON.parse(e.data); } catch (_) {}
    meta.textContent = (ev && ev.channels ? ev.channels.join(' ') + ' · ' : '') + 'cursor ' + e.lastEventId;
    var pre = document.createElement('pre'); pre.textContent = JSON.stringify(ev ? ev.data : e.data);
    li.appendChild(t); li.appendChild(meta); li.appendChild(pre);
    list.insertBefore(li, list.firstChild);
    while (list.children.length > 500) list.removeChild(list.lastChild);
    count++; document.getElementById('count').textContent = count + ' events';
  }
  function follow(channels) {
    if (es) es.close();
    var q = channels.map(function (c) { return 'channel=' + encodeURIComponent(c); }).join('&');
    if (token) q += '&token=' + encodeURIComponent(token);
    es = new EventSource('/v1/events?' + q);
    setState('connecting');
    es.onopen = function () { setState('open'); };
    es.onerror = function () { setState(es.readyState === 2 ? 'error' : 'connecting'); };
    es.onmessage = function (e) { show('message', e); };
  }
  // EventSource only calls listeners for named event types it was told about; types are open-ended,
  // so the page listens for the common ones and learns others as they are dispatched.
  var known = ['tidings.reset', 'demo.tick', 'demo.hello', 'job.queued', 'job.started', 'job.progress', 'job.log', 'job.succeeded', 'job.failed', 'job.retrying', 'job.cancelled'];
  var origFollow = follow;
  follow = function (channels) {
    origFollow(channels);
    known.forEach(function (t) { es.addEventListener(t, function (m) { show(m.type, m); }); });
    window.tidingsKnownTypes = known;
  };
  window.tidingsListen = function (type) { known.push(type); if (es) es.addEventListener(type, function (m) { show(m.type, m); }); };
  document.getElementById('follow').addEventListener('submit', function (ev) {
    ev.preventDefault();
    follow(document.getElementById('channels').value.split(',').map(function (s) { return s.trim(); }).filter(Boolean));
  });
  document.getElementById('publish').addEventListener('submit', function (ev) {
    ev.preventDefault();
    var body;
    try { body = { type: document.getElementById('ptype').value, channels: [document.getElementById('pchannel').value], data: JSON.parse(document.getElementById('pdata').value) }; }
    catch (e) { document.getElementById('presult').textContent = 'data is not JSON'; return; }
    if (known.indexOf(body.type) < 0) window.tidingsListen(body.type);
    var headers = { 'content-type': 'application/json' };
    if (token) headers.authorization = 'Bearer ' + token;
    fetch('/v1/publish', { method: 'POST', headers: headers, body: JSON.stringify(body) })
      .then(function (r) { return r.json(); })
      .then(function (j) { document.getElementById('presult').textContent = j.error ? j.error.message : 'published ' + j.id; });
  });
  var demoJob = null;
  var demo = document.getElementById('demo');
  function demoShow(status, percent, text) {
    demo.dataset.status = status;
    if (percent !== null) {
      document.getElementById('dfill').style.width = percent + '%';
      demo.querySelector('.bar').setAttribute('aria-valuenow', String(percent));
    }
    document.getElementById('dstatus').textContent = text;
    document.getElementById('dcancel').disabled = !(status === 'queued' || status === 'running');
  }
  var seenJobEvents = {};
  function onJobEvent(type, ev) {
    if (!ev || !ev.job) return;
    if (ev.job.id !== demoJob) {
      if (Object.keys(seenJobEvents).length > 200) seenJobEvents = {};
      (seenJobEvents[ev.job.id] = seenJobEvents[ev.job.id] || []).push([type, ev]);
      return;
    }
    var d = ev.data || {};
    if (type === 'job.started') demoShow('running', 0, 'running (attempt ' + d.attempt + ')');
    else if (type === 'job.progress') demoShow('running', d.percent === null ? 0 : d.percent, d.current + (d.total === null ? '' : '/' + d.total) + (d.message ? ' · ' + d.message : ''));
    else if (type === 'job.succeeded') demoShow('succeeded', 100, 'succeeded: ' + JSON.stringify(d.result));
    else if (type === 'job.failed') demoShow('failed', null, 'failed: ' + (d.error && d.error.message));
    else if (type === 'job.cancelled') demoShow('cancelled', null, 'cancelled');
  }
  var showEvent = show;
  show = function (type, e) {
    showEvent(type, e);
    if (type.indexOf('job.') === 0) { try { onJobEvent(type, JSON.parse(e.data)); } catch (_) {} }
  };
  function api(method, path, body) {
    var headers = { 'content-type': 'application/json' };
    if (token) headers.authorization = 'Bearer ' + token;
    return fetch(path, { method: method, headers: headers, body: body === undefined ? undefined : JSON.stringify(body) }).then(function (r) { return r.json(); });
  }
  demo.addEventListener('submit', function (ev) {
    ev.preventDefault();
    var payload = { steps: Number(document.getElementById('dsteps').value), stepMs: Number(document.getElementById('dstep').value) };
    demoShow('queued', 0, 'enqueueing…');
    api('POST', '/v1/jobs', { name: 'demo.report', payload: payload }).then(function (j) {
      if (j.error) { demoShow('failed', 0, j.error.message); return; }
      demoJob = j.id;
      demoShow('queued', 0, 'queued ' + j.id);
      // The job's first events can arrive before this answer does.
      (seenJobEvents[j.id] || []).forEach(function (p) { onJobEvent(p[0], p[1]); });
      seenJobEvents = {};
    });
  });
  document.getElementById('dcancel').addEventListener('click', function () {
    if (demoJob) api('POST', '/v1/jobs/' + encodeURIComponent(demoJob) + '/cancel');
  });
  follow(document.getElementById('channels').value.split(',').map(function (s) { return s.trim(); }));
})();
</script>
</body>
</html>
`

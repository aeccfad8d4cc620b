// The operator's page: GET /api/status and GET /api/sessions every two seconds; "End" sends
// DELETE /api/sessions/ID. Every value is set as text, never as markup: names come from
// client certificates and requests.

const $ = (id) => document.getElementById(id);
const REFRESH_MS = 2000;

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}

function bytes(n) {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return `${i === 0 ? n : n.toFixed(1)} ${units[i]}`;
}

function since(ms) {
  const s = Math.max(0, Math.round((Date.now() - ms) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

function when(rfc3339) {
  if (!rfc3339) return "—";
  const d = new Date(rfc3339);
  return isNaN(d) ? rfc3339 : d.toLocaleString();
}

function fill(dl, rows) {
  dl.replaceChildren();
  for (const [k, v, cls] of rows) {
    if (v === undefined || v === null || v === "") continue;
    dl.append(el("dt", k), el("dd", v, cls));
  }
}

function table(id, rows, cells) {
  const body = $(id).querySelector("tbody");
  body.replaceChildren(...rows.map((r) => {
    const tr = el("tr");
    for (const c of cells(r)) tr.append(c instanceof Node ? c : el("td", c));
    return tr;
  }));
  $(id).hidden = rows.length === 0;
  $(`no-${id}`).hidden = rows.length !== 0;
}

// The JSON of an answer to `path`, or an error that says what went wrong.
async function answer(path, r) {
  let body = null;
  try { body = await r.json(); } catch { body = null; }
  if (!r.ok) {
    const why = body && body.error ? body.error : `${r.status} ${r.statusText}`;
    throw new Error(`${path}: ${why}`);
  }
  return body;
}

async function api(path, init) {
  return answer(path, await fetch(path, { cache: "no-store", ...init }));
}

function problem(text) {
  $("problem").hidden = !text;
  $("problem").textContent = text || "";
  $("state").dataset.state = text ? "error" : "connected";
  $("state").textContent = text ? "Not up to date" : "Live";
}

async function end(s, button) {
  if (!confirm(`End the session of ${s.who} on ${s.target} (from ${s.client})?`)) return;
  button.disabled = true;
  button.textContent = "Ending…";
  try {
    await api(`/api/sessions/${encodeURIComponent(s.id)}`, { method: "DELETE" });
  } catch (e) {
    problem(String(e.message || e));
  }
  refresh();
}

function showSessions(list) {
  $("count").textContent = `(${list.sessions.length})`;
  $("partial").hidden = !list.partial;
  $("partial").textContent = list.partial || "";
  table("sessions", list.sessions, (s) => {
    const b = el("button", "End", "danger");
    b.type = "button";
    b.title = "End this session: the viewer shows “ended by an administrator”";
    b.dataset.session = s.id;
    b.addEventListener("click", () => end(s, b));
    const action = el("td");
    action.append(b);
    const started = new Date(s.started_ms);
    const sinceCell = el("td", since(s.started_ms), "num");
    sinceCell.title = started.toLocaleString();
    return [
      s.target, s.who, s.mode, s.client, sinceCell,
      el("td", `${bytes(s.bytes_to_client)} / ${bytes(s.bytes_to_target)}`, "num"),
      s.instance, action,
    ];
  });
}

function showStatus(st) {
  $("instance").textContent = `${st.instance} · ${st.version} (${st.commit})`;
  const c = st.certificate || {};
  const left = c.days_left;
  fill($("certificate"), [
    ["Source", c.source],
    ["Names", (c.names || []).join(", ")],
    ["Issuer", c.issuer],
    ["Expires", c.not_after ? `${when(c.not_after)} (${left} days left)` : c.problem,
      left !== undefined && left < 14 ? "bad" : undefined],
    ["Fingerprint", c.fingerprint, "fp"],
    ["Catchphrase", c.catchphrase],
  ]);
  const a = st.acme;
  $("acme").hidden = $("acme-title").hidden = !a;
  if (a) {
    fill($("acme"), [
      ["Domains", (a.domains || []).join(", ")],
      ["Challenge", a.challenge],
      ["CA", a.directory],
      ["Last attempt", when(a.last_attempt)],
      ["Last error", a.last_error, "bad"],
      ["Failures in a row", a.consecutive_failures ? a.consecutive_failures : null, "bad"],
      ["Next attempt", when(a.next_attempt)],
    ]);
  }
  const r = st.reload;
  fill($("gateway"), [
    ["Up since", `${when(st.started)}`],
    ["Store", st.store],
    ["Targets", st.targets.length ? st.targets.join(", ") : "none configured"],
    ["Sessions here", st.sessions_here],
    ["Last reload", r ? `${when(r.at)}: ${r.ok ? "applied" : "REFUSED"} — ${r.summary}` : "none since start",
      r && !r.ok ? "bad" : undefined],
  ]);
  const ca = st.client_ca;
  $("client-ca").hidden = $("client-ca-title").hidden = !ca;
  if (ca) {
    const rows = [["CA", ca.ca], ["Mode", ca.mode]];
    for (const crl of ca.crls) {
      rows.push(["CRL", `${crl.file}: next update ${when(crl.next_update)}${crl.expired ? " — EXPIRED" : ""}`,
        crl.expired ? "bad" : undefined]);
    }
    if (!ca.crls.length) rows.push(["CRL", "none"]);
    fill($("client-ca"), rows);
  }
  table("refusals", st.refusals, (e) => [
    el("td", when(e.at), "num"), e.client, e.target || "—", e.who, e.reason,
  ]);
  table("lockouts", st.lockouts, (e) => [el("td", when(e.at), "num"), e.client, e.who, e.reason]);
}

// Recordings, when the gateway records (404 otherwise): newest first, each with a link that
// plays it in the viewer. Any other failure is a problem to show, like the other calls'.
async function recordings() {
  const r = await fetch("/api/recordings", { cache: "no-store" });
  return r.status === 404 ? null : answer("/api/recordings", r);
}

function showRecordings(found) {
  $("recordings-section").hidden = !found;
  if (!found) return;
  const list = found.recordings.slice().reverse().slice(0, 50);
  table("recordings", list, (rec) => {
    const a = el("a", "Play");
    a.href = `/#playback=${encodeURIComponent(rec.id)}`;
    a.target = "_blank";
    a.rel = "noopener";
    const cell = el("td");
    cell.append(a);
    return [el("td", when(rec.started), "num"), rec.target, rec.session, el("td", bytes(rec.bytes), "num"), cell];
  });
}

let busy = false;
async function refresh() {
  if (busy) return;
  busy = true;
  try {
    const [st, list, recs] = await Promise.all([
      api("/api/status"), api("/api/sessions"), recordings().catch((e) => e),
    ]);
    showStatus(st);
    showSessions(list);
    // A failed recordings call is the problem shown, after status and sessions were updated.
    if (recs instanceof Error) throw recs;
    showRecordings(recs);
    problem(null);
    $("updated").textContent = `updated ${new Date().toLocaleTimeString()}`;
  } catch (e) {
    problem(String(e.message || e));
  } finally {
    busy = false;
  }
}

refresh();
setInterval(refresh, REFRESH_MS);

//! The scripts the viewer bench runs in each page: they watch the canvas the same way for
//! both viewers, and (with `BENCH_VIEWER_STAMPS`) stamp the WebSocket messages.
//!
//! Times are in ms of this machine's wall clock, the clock the bench reads when it changes the
//! desktop: the page's `performance.now()` (sub-millisecond, monotonic) plus the offset
//! [`watch`] measures once, at a tick of `Date.now()`.

/// A loop that records when pixel `(x, y)` of the canvas changes, as `[time_ms, "r,g,b"]` in
/// `window[list]`. It looks once per frame, in a task queued from `requestAnimationFrame`,
/// so it runs after every frame callback of that frame (the viewers paint in one) and sees a
/// change in the frame that shows it, not one frame later. The first call in a page also
/// sets `window.__offset`, what turns `performance.now()` into the wall clock.
pub fn watch(canvas: &str, list: &str, (x, y): (u32, u32)) -> String {
    format!(
        "
  if (window.__offset === undefined) {{
    // Date.now() counts whole ms: just after it ticks, it and performance.now() agree to
    // within the latter's resolution.
    const t = Date.now();
    let p, d;
    do {{ p = performance.now(); d = Date.now(); }} while (d === t);
    window.__offset = d - p;
  }}
  window.{list} = [];
  const c = {canvas};
  const ctx = c.getContext('2d', {{ willReadFrequently: true }});
  let last = '';
  function check() {{
    const d = ctx.getImageData({x}, {y}, 1, 1).data;
    const k = d[0] + ',' + d[1] + ',' + d[2];
    if (k !== last) {{ window.{list}.push([performance.now() + window.__offset, k]); last = k; }}
  }}
  function tick() {{
    setTimeout(check, 0);
    requestAnimationFrame(tick);
  }}
  requestAnimationFrame(tick);
  return null;"
    )
}

/// Runs in every document before its own scripts: stamps each WebSocket message as it reaches
/// the page, before the viewer's handler sees it, and again when that handler (both viewers
/// set `onmessage`) has returned: `window.__ws`, `[arrived, handled]` in `performance.now()`
/// ms (add `window.__offset`). The bench empties it before each change. The page sees its own
/// handler when it reads `onmessage` back.
pub const STAMP_MESSAGES: &str = "
  window.__ws = [];
  const entries = new WeakMap();
  const originals = new WeakMap();
  const Native = window.WebSocket;
  function Stamped(...args) {
    const ws = new Native(...args);
    ws.addEventListener('message', (e) => {
      const m = [performance.now(), null];
      window.__ws.push(m);
      entries.set(e, m);
    });
    return ws;
  }
  Stamped.prototype = Native.prototype;
  for (const k of ['CONNECTING', 'OPEN', 'CLOSING', 'CLOSED']) Stamped[k] = Native[k];
  window.WebSocket = Stamped;
  const native = Object.getOwnPropertyDescriptor(Native.prototype, 'onmessage');
  Object.defineProperty(Native.prototype, 'onmessage', {
    configurable: true,
    get() {
      const h = native.get.call(this);
      return (h && originals.get(h)) || h;
    },
    set(handler) {
      if (typeof handler !== 'function') return native.set.call(this, handler);
      const wrapped = function (e) {
        try { return handler.call(this, e); }
        finally { const m = entries.get(e); if (m) m[1] = performance.now(); }
      };
      originals.set(wrapped, handler);
      native.set.call(this, wrapped);
    },
  });";

/// Of the messages stamped since `window.__ws` was emptied and handled by `seen` (wall ms):
/// `[first arrived, last arrived, last handled]` in wall ms, or null.
pub fn message_stamps(seen: f64) -> String {
    format!(
        "const o = window.__offset;
         const a = (window.__ws || []).filter(m => m[1] !== null && m[1] + o <= {seen});
         return a.length ? [a[0][0] + o, a[a.length - 1][0] + o, a[a.length - 1][1] + o] : null;"
    )
}

/// A loop that counts the frames in which any of a grid of points inside `(x, y, w, h)` of the
/// canvas changed (`window.__frames`), the same way for both viewers.
pub fn count_frames(canvas: &str, (x, y, w, h): (u32, u32, u32, u32)) -> String {
    format!(
        "
  window.__frames = 0;
  const c = {canvas};
  const ctx = c.getContext('2d', {{ willReadFrequently: true }});
  const points = [];
  for (let i = 0; i < 8; i++) for (let j = 0; j < 6; j++)
    points.push([{x} + Math.floor(({w} - 1) * (i + 0.5) / 8), {y} + Math.floor(({h} - 1) * (j + 0.5) / 6)]);
  let last = '';
  window.__counting = true;
  function check() {{
    let k = '';
    for (const [px, py] of points) {{ const d = ctx.getImageData(px, py, 1, 1).data; k += d[0] + d[1] * 7 + d[2] * 13 + ','; }}
    if (k !== last) {{ window.__frames++; last = k; }}
  }}
  function tick() {{
    if (!window.__counting) return;
    setTimeout(check, 0);
    requestAnimationFrame(tick);
  }}
  requestAnimationFrame(tick);
  return null;"
    )
}

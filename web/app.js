// Bootstrap: load the wasm viewer, which reads the page's fragment and drives the whole page.
import init, { start } from './pkg/viewer_wasm.js';

// TLS to a VNC server (VeNCrypt X509) lives in a second module, fetched only when a server
// asks for it: most visits never download rustls.
async function loadTls() {
  const tls = await import('./pkg/viewer_tls.js');
  await tls.default();
  return tls.TlsSession;
}

// Whether this browser runs what the viewer's module is built with: 128-bit SIMD and reference
// types. The test module has one function taking an externref and returning a v128 made by
// i8x16.splat.
function wasmFeatures() {
  return typeof WebAssembly === 'object' && WebAssembly.validate(new Uint8Array([
    0, 97, 115, 109, 1, 0, 0, 0, 1, 6, 1, 96, 1, 111, 1, 123, 3, 2, 1, 0,
    10, 8, 1, 6, 0, 65, 0, 253, 15, 11,
  ]));
}

try {
  await init();
  window.vncgateViewer = start(loadTls);
} catch (e) {
  // Only reached when the viewer cannot start at all (an old browser, a missing pkg/).
  const message = document.getElementById('message');
  const status = document.getElementById('status');
  status.dataset.state = 'error';
  status.textContent = 'Error';
  const detail = e instanceof Error ? e.message : String(e);
  message.textContent = wasmFeatures()
    ? `The viewer cannot start: ${detail}`
    : 'This browser is too old for the viewer: it needs WebAssembly with SIMD (Chrome or Edge 96, Firefox 89, Safari 16.4 or later).';
  document.getElementById('notice').hidden = false;
}

// Bootstrap: load the wasm viewer, which reads the page's fragment and drives the whole page.
import init, { start } from './pkg/viewer_wasm.js';

// TLS to a VNC server (VeNCrypt X509) lives in a second module, fetched only when a server
// asks for it: most visits never download rustls.
async function loadTls() {
  const tls = await import('./pkg/viewer_tls.js');
  await tls.default();
  return tls.TlsSession;
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
  message.textContent = `The viewer cannot start: ${e instanceof Error ? e.message : String(e)}`;
  document.getElementById('notice').hidden = false;
}

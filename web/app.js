// Bootstrap: load the wasm viewer, which reads the page's fragment and drives the whole page.
import init, { start } from './pkg/viewer_wasm.js';

try {
  await init();
  window.vncgateViewer = start();
} catch (e) {
  // Only reached when the viewer cannot start at all (an old browser, a missing pkg/).
  const message = document.getElementById('message');
  const status = document.getElementById('status');
  status.dataset.state = 'error';
  status.textContent = 'Error';
  message.textContent = `The viewer cannot start: ${e instanceof Error ? e.message : String(e)}`;
  document.getElementById('notice').hidden = false;
}

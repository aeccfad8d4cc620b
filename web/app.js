// Bootstrap: load the wasm viewer and show its status. All protocol work happens in wasm.
import init, { start } from './pkg/viewer_wasm.js';

const status = document.getElementById('status');
const title = document.getElementById('title');
const message = document.getElementById('message');
const canvas = document.getElementById('screen');

function show(state, text) {
  status.dataset.state = state;
  const labels = { connecting: 'Connecting', connected: 'Connected', closed: 'Disconnected', error: 'Error' };
  status.textContent = labels[state] || state;
  if (state === 'connected') {
    title.textContent = text;
    document.title = `${text} — vncgate`;
    message.hidden = true;
    canvas.focus();
  } else {
    message.textContent = text;
    message.hidden = false;
  }
}

try {
  await init();
  window.vncgateViewer = start(canvas, show);
} catch (e) {
  show('error', e instanceof Error ? e.message : String(e));
}

// The side-by-side page: rfb built for wasm (bench-wasm: `pkg/` opt-level 3, and `pkg-viewer/`
// built as the viewer ships) and noVNC's JavaScript decoders, on the same recorded server
// streams, in the same tab. For each transcript: check that all paint the same pixels (and,
// when lossless, the X server's: the .meta SHA-256), then time alternating rounds of each.
// Results (every round, and the medians) land in window.benchResults.

import init, { bench_replay, decode_once, painted_bytes } from './pkg/bench_wasm.js';
import { ENC, replay as novncReplay } from './novnc_harness.js';

// The same module as the viewer ships it (opt-level "z" with the decoders at 3, fat LTO, wasm-opt -Oz), if built.
let viewerBuild = null;

const params = new URLSearchParams(location.search);
const ROUNDS = Number(params.get('rounds')) || 7;
const ROUND_MS = Number(params.get('round_ms')) || 300;
const ONLY = params.get('only') || '';

window.benchState = 'loading';
window.benchResults = [];

const $ = (id) => document.getElementById(id);
const setState = (s, detail = '') => {
    window.benchState = s;
    $('state').textContent = s;
    $('progress').textContent = detail;
};

/// noVNC's decoder classes by encoding; a missing module (ZRLE is not in noVNC 1.3) is null.
async function novncDecoders() {
    const load = async (file) => {
        try {
            return (await import(`./novnc/core/decoders/${file}`)).default;
        } catch (e) {
            console.warn(`noVNC decoder ${file}: ${e}`);
            return null;
        }
    };
    const d = {
        [ENC.raw]: await load('raw.js'),
        [ENC.copyRect]: await load('copyrect.js'),
        [ENC.rre]: await load('rre.js'),
        [ENC.hextile]: await load('hextile.js'),
        [ENC.tight]: await load('tight.js'),
        [ENC.tightPng]: await load('tightpng.js'),
        [ENC.zrle]: await load('zrle.js'),
    };
    for (const k of Object.keys(d)) {
        if (!d[k]) { delete d[k]; }
    }
    return d;
}

async function sha256hex(bytes) {
    const d = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
    return Array.from(d, (b) => b.toString(16).padStart(2, '0')).join('');
}

/// RGB differences between two RGBA images: differing pixels, mean and max |Δ| per channel,
/// and the first differing pixel (x, y, a's RGBA, b's RGBA).
function compare(a, b, width) {
    let pixels = 0, sum = 0, max = 0, first = null;
    for (let i = 0; i < a.length; i += 4) {
        let differs = false;
        for (let c = 0; c < 3; c++) {
            const d = Math.abs(a[i + c] - b[i + c]);
            if (d) {
                differs = true;
                sum += d;
                if (d > max) { max = d; }
            }
        }
        if (differs) {
            pixels++;
            if (!first) {
                const p = i / 4;
                first = [p % width, Math.floor(p / width), [...a.subarray(i, i + 4)], [...b.subarray(i, i + 4)]];
            }
        }
    }
    return { pixels, mean: sum / (a.length / 4 * 3), max, first };
}

/// One noVNC replay, timed from the first byte to the last pixel (JPEGs decoded).
async function novncOnce(bytes, Decoders) {
    const copy = bytes.slice(); // noVNC's Hextile writes alpha into the receive queue
    const t0 = performance.now();
    const { display } = novncReplay(copy, Decoders);
    await display.flush();
    return { ms: performance.now() - t0, display };
}

async function novncRound(bytes, Decoders, iterations) {
    let total = 0;
    for (let i = 0; i < iterations; i++) {
        total += (await novncOnce(bytes, Decoders)).ms;
    }
    return total / iterations;
}

const median = (xs) => {
    const s = [...xs].sort((a, b) => a - b);
    const m = s.length >> 1;
    return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

/// Iterations for one round of about ROUND_MS.
const iterationsFor = (ms) => Math.max(1, Math.ceil(ROUND_MS / Math.max(ms, 0.01)));

// Yield to the event loop so WebDriver polls get answered between measurements.
const breathe = () => new Promise((r) => setTimeout(r, 0));

async function benchOne(t, Decoders) {
    const bytes = new Uint8Array(await (await fetch(`transcripts/${t.file}`)).arrayBuffer());
    const encodings = Int32Array.from(t.encodings);
    const result = {
        name: t.name, encodings: t.encodings, width: t.width, height: t.height,
        lossy: t.lossy, transcript_bytes: bytes.length,
    };
    // Correctness first.
    const wasmRgba = decode_once(bytes, encodings);
    result.painted_bytes = painted_bytes(bytes, encodings);
    if (!t.lossy) {
        const got = await sha256hex(wasmRgba);
        if (got !== t.sha256) {
            result.error = `wasm pixels differ from the X server's (sha256 ${got})`;
            return result;
        }
        result.wasm_check = 'X server pixels (sha256)';
    }
    // The first encoding is the one the recording forced; Raw may always come along.
    const forced = t.encodings[0];
    const novnc = Boolean(Decoders[forced]);
    if (!novnc) {
        result.novnc_note = `noVNC has no decoder for encoding ${forced}`;
    } else {
        const copy = bytes.slice();
        const { display, rects } = novncReplay(copy, Decoders);
        await display.flush();
        result.rects = rects;
        const diff = compare(display.rgba, wasmRgba, display.width);
        result.novnc_vs_wasm = diff;
        // JPEG: the browser's decoder and zune-jpeg may round differently.
        const same = t.lossy ? diff.mean < 1.0 : diff.pixels === 0;
        if (!same && rects[ENC.raw]) {
            // noVNC 1.3's raw.js sets alpha at data[i * 4 + 3] from the start of the receive
            // queue, not from the rectangle (rQi): it overwrites colour bytes. Its bug, not a
            // framing error here; the work is the same, so it is still timed.
            result.novnc_note = 'noVNC 1.3 Raw bug (alpha written at the queue start) changes pixels';
        } else if (!same) {
            result.error = `noVNC and wasm pixels differ: ${JSON.stringify(diff)}`;
            return result;
        }
    }
    if (viewerBuild) {
        const got = viewerBuild.decode_once(bytes, encodings);
        if (compare(got, wasmRgba, t.width).pixels !== 0) {
            result.error = 'the viewer build paints other pixels than the release build';
            return result;
        }
    }
    // Calibrate, then alternate rounds so all see the same machine load.
    const wasmIters = iterationsFor(bench_replay(bytes, encodings, 1));
    const viewerIters = viewerBuild ? iterationsFor(viewerBuild.bench_replay(bytes, encodings, 1)) : 0;
    const novncIters = novnc ? iterationsFor(await novncRound(bytes, Decoders, 1)) : 0;
    const wasmMs = [], viewerMs = [], novncMs = [];
    for (let r = 0; r < ROUNDS; r++) {
        await breathe();
        wasmMs.push(bench_replay(bytes, encodings, wasmIters));
        if (viewerBuild) {
            await breathe();
            viewerMs.push(viewerBuild.bench_replay(bytes, encodings, viewerIters));
        }
        if (novnc) {
            await breathe();
            novncMs.push(await novncRound(bytes, Decoders, novncIters));
        }
    }
    result.wasm_ms = median(wasmMs);
    result.wasm_ms_rounds = wasmMs;
    result.wasm_iterations = wasmIters;
    if (viewerBuild) {
        result.viewer_build_ms = median(viewerMs);
        result.viewer_build_ms_rounds = viewerMs;
        result.viewer_build_iterations = viewerIters;
    }
    if (novnc) {
        result.novnc_ms = median(novncMs);
        result.novnc_ms_rounds = novncMs;
        result.novnc_iterations = novncIters;
    }
    return result;
}

function show(r) {
    const row = document.createElement('tr');
    const mbps = (ms) => (ms ? (r.painted_bytes / 1e6 / (ms / 1e3)).toFixed(1) : '–');
    const cells = [
        r.name, (r.painted_bytes / 1e6).toFixed(2),
        r.wasm_ms?.toFixed(3) ?? '–', r.novnc_ms?.toFixed(3) ?? '–',
        mbps(r.wasm_ms), mbps(r.viewer_build_ms), mbps(r.novnc_ms),
        r.novnc_ms && r.wasm_ms ? (r.novnc_ms / r.wasm_ms).toFixed(2) + '×' : '–',
        r.error ?? r.novnc_note ?? 'same',
    ];
    for (const c of cells) {
        const td = document.createElement('td');
        td.textContent = c;
        row.append(td);
    }
    $('results').tBodies[0].append(row);
}

async function main() {
    await init();
    try {
        viewerBuild = await import('./pkg-viewer/bench_wasm.js');
        await viewerBuild.default();
    } catch (e) {
        console.warn(`no viewer build: ${e}`);
        viewerBuild = null;
    }
    const Decoders = await novncDecoders();
    const list = (await (await fetch('transcripts.json')).json())
        .filter((t) => t.name.includes(ONLY));
    window.benchMeta = {
        userAgent: navigator.userAgent,
        novnc_decoders: Object.keys(Decoders).map(Number),
        rounds: ROUNDS, round_ms: ROUND_MS, viewer_build: Boolean(viewerBuild),
    };
    for (const [i, t] of list.entries()) {
        setState('running', `${i + 1}/${list.length}: ${t.name}`);
        await breathe();
        let r;
        try {
            r = await benchOne(t, Decoders);
        } catch (e) {
            r = { name: t.name, error: String(e && e.stack || e) };
        }
        window.benchResults.push(r);
        show(r);
    }
    setState('done');
}

main().catch((e) => {
    window.benchError = String(e && e.stack || e);
    setState('error', window.benchError);
});

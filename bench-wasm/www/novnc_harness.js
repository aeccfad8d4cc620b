// Drives noVNC's decoder objects over a recorded server stream, as noVNC's RFB object would,
// without a socket or a canvas: a byte queue with the receive-queue methods the decoders call,
// and a display that paints into one RGBA array. Written for this benchmark from the decoders'
// calling convention: decodeRect(x, y, width, height, sock, display, depth) → true when the
// rectangle was consumed.

// Encoding numbers (RFC 6143 and the RFB community registry).
export const ENC = {
    raw: 0, copyRect: 1, rre: 2, hextile: 5, zlib: 6, tight: 7, zrle: 16,
    tightPng: -260, desktopSize: -223, lastRect: -224, cursor: -239,
};

/// The receive-queue half of noVNC's Websock, over bytes that are all already here.
export class ByteQueue {
    constructor(bytes) {
        this._rQ = bytes;
        this._rQi = 0;
    }

    get rQ() { return this._rQ; }
    get rQi() { return this._rQi; }
    set rQi(i) { this._rQi = i; }
    get rQlen() { return this._rQ.length - this._rQi; }

    rQpeek8() { return this._rQ[this._rQi]; }
    rQskipBytes(n) { this._rQi += n; }
    rQshift8() { return this._rQ[this._rQi++]; }

    rQshift16() {
        const q = this._rQ, i = this._rQi;
        this._rQi = i + 2;
        return (q[i] << 8) | q[i + 1];
    }

    rQshift32() {
        const q = this._rQ, i = this._rQi;
        this._rQi = i + 4;
        return ((q[i] << 24) | (q[i + 1] << 16) | (q[i + 2] << 8) | q[i + 3]) >>> 0;
    }

    rQshiftBytes(n) {
        if (n === undefined) { n = this.rQlen; }
        const v = this._rQ.subarray(this._rQi, this._rQi + n);
        this._rQi += n;
        return v;
    }

    rQshiftTo(target, n) {
        if (n === undefined) { n = this.rQlen; }
        target.set(this._rQ.subarray(this._rQi, this._rQi + n));
        this._rQi += n;
    }

    rQslice(start, end = this.rQlen) {
        return this._rQ.subarray(this._rQi + start, this._rQi + end);
    }

    // true: wait for more bytes (never coming here: the recording is complete or cut short).
    rQwait(_msg, n, goback) {
        if (this.rQlen < n) {
            if (goback) { this._rQi -= goback; }
            return true;
        }
        return false;
    }
}

/// The drawing half of noVNC's Display, into an RGBA array. As in noVNC, JPEG images decode
/// asynchronously; from the first one on, later operations queue behind it so the order of
/// painting stays the order of the stream. `flush()` finishes the queue.
export class RgbaDisplay {
    constructor(width, height) {
        this.width = width;
        this.height = height;
        this.rgba = new Uint8Array(width * height * 4);
        this._px = new Uint32Array(this.rgba.buffer);
        this._queue = [];
        this._scratch = null;
    }

    fillRect(x, y, w, h, color) {
        if (this._queue.length) {
            const c = [color[0], color[1], color[2]];
            this._queue.push(() => this._fill(x, y, w, h, c));
        } else {
            this._fill(x, y, w, h, color);
        }
    }

    _fill(x, y, w, h, color) {
        // Little-endian (every browser): R in the lowest byte.
        const v = (color[0] | (color[1] << 8) | (color[2] << 16) | (0xff << 24)) >>> 0;
        for (let row = y; row < y + h; row++) {
            const at = row * this.width + x;
            this._px.fill(v, at, at + w);
        }
    }

    blitImage(x, y, w, h, arr, offset) {
        if (this._queue.length) {
            const copy = arr.slice(offset, offset + w * h * 4);
            this._queue.push(() => this._blit(x, y, w, h, copy, 0));
        } else {
            this._blit(x, y, w, h, arr, offset);
        }
    }

    _blit(x, y, w, h, arr, offset) {
        const rowBytes = w * 4;
        for (let j = 0; j < h; j++) {
            const src = offset + j * rowBytes;
            this.rgba.set(arr.subarray(src, src + rowBytes), ((y + j) * this.width + x) * 4);
        }
    }

    copyImage(oldX, oldY, newX, newY, w, h) {
        if (this._queue.length) {
            this._queue.push(() => this._copy(oldX, oldY, newX, newY, w, h));
        } else {
            this._copy(oldX, oldY, newX, newY, w, h);
        }
    }

    _copy(oldX, oldY, newX, newY, w, h) {
        // Rows in the order that never reads an overwritten row.
        const down = newY > oldY;
        for (let k = 0; k < h; k++) {
            const j = down ? h - 1 - k : k;
            const src = ((oldY + j) * this.width + oldX) * 4;
            this.rgba.copyWithin(((newY + j) * this.width + newX) * 4, src, src + w * 4);
        }
    }

    imageRect(x, y, w, h, mime, arr) {
        if (w === 0 || h === 0) { return; }
        const bitmap = createImageBitmap(new Blob([arr], { type: mime }),
                                         { colorSpaceConversion: 'none' });
        this._queue.push({ bitmap, x, y, w, h });
    }

    async flush() {
        for (const item of this._queue) {
            if (typeof item === 'function') {
                item();
                continue;
            }
            const bmp = await item.bitmap;
            if (!this._scratch) {
                this._scratch = new OffscreenCanvas(this.width, this.height)
                    .getContext('2d', { willReadFrequently: true });
            }
            this._scratch.drawImage(bmp, 0, 0);
            bmp.close();
            const d = this._scratch.getImageData(0, 0, item.w, item.h).data;
            this._blit(item.x, item.y, item.w, item.h, new Uint8Array(d.buffer), 0);
        }
        this._queue = [];
    }
}

/// Skips an RFB 3.7/3.8 handshake with security type None and ServerInit; returns the size.
function serverInit(q) {
    const version = String.fromCharCode(...q.rQshiftBytes(12));
    if (!/^RFB 003\.00[78]\n$/.test(version)) {
        throw new Error(`unexpected version ${JSON.stringify(version)}`);
    }
    q.rQskipBytes(q.rQshift8());
    if (q.rQshift32() !== 0) { throw new Error('security failed in the recording'); }
    const width = q.rQshift16();
    const height = q.rQshift16();
    q.rQskipBytes(16);
    q.rQskipBytes(q.rQshift32());
    return { width, height };
}

/// Replays a recorded stream through noVNC decoders (fresh instances: one connection).
/// `Decoders` maps encoding numbers to decoder classes; an encoding without one throws.
/// Returns the display (flush it before reading pixels), the number of updates and the
/// rectangles seen per encoding.
export function replay(bytes, Decoders) {
    const q = new ByteQueue(bytes);
    const { width, height } = serverInit(q);
    let display = new RgbaDisplay(width, height);
    const decoders = new Map();
    const rects = {}; // encoding → rectangles seen
    let updates = 0;
    stream: while (q.rQlen > 0) {
        const type = q.rQshift8();
        if (type === 0) {
            if (q.rQwait('FramebufferUpdate', 3)) { break; }
            q.rQskipBytes(1);
            const n = q.rQshift16();
            for (let i = 0; i < n; i++) {
                if (q.rQwait('rectangle header', 12)) { break stream; }
                const x = q.rQshift16(), y = q.rQshift16();
                const w = q.rQshift16(), h = q.rQshift16();
                const enc = q.rQshift32() | 0;
                rects[enc] = (rects[enc] || 0) + 1;
                if (enc === ENC.lastRect) { break; }
                if (enc === ENC.desktopSize) { display = new RgbaDisplay(w, h); continue; }
                if (enc === ENC.cursor) { q.rQskipBytes(w * h * 4 + ((w + 7) >> 3) * h); continue; }
                let d = decoders.get(enc);
                if (!d) {
                    const C = Decoders[enc];
                    if (!C) { throw new Error(`noVNC has no decoder for encoding ${enc}`); }
                    d = new C();
                    decoders.set(enc, d);
                }
                // false: the recording ends inside this rectangle (cut off after the update
                // that mattered); stop there, as a client would wait.
                if (!d.decodeRect(x, y, w, h, q, display, 24)) { break stream; }
            }
            updates++;
        } else if (type === 2) {
            // Bell
        } else if (type === 3) {
            q.rQskipBytes(3);
            q.rQskipBytes(q.rQshift32());
        } else {
            throw new Error(`unexpected server message type ${type}`);
        }
    }
    return { display, updates, rects };
}

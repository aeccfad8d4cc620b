//! The normal phase of a client connection: server messages in, pixels into the framebuffer,
//! update requests out — and the extensions: continuous updates, fences (round-trip time),
//! extended clipboard, desktop resizing, QEMU key events.

use std::collections::VecDeque;

use super::{ClientConfig, Event, JpegSource};
use crate::decode::{self, DecodeContext};
use crate::error::{Error, Stall};
use crate::framebuffer::{ColourMap, Framebuffer, Rect};
use crate::messages::client::{ClientMessage, ScreenLayout};
use crate::messages::clipboard::{self, ClipboardAction};
use crate::messages::encoding::Encoding;
use crate::messages::server::{RectHeader, ServerMessage};
use crate::pixel_format::PixelFormat;
use crate::wire::{decode_text, Reader};

const FENCE_REQUEST: u32 = 1 << 31;
const FENCE_BLOCK_BEFORE: u32 = 1 << 0;
/// The fence flags a reply may carry (BlockBefore, BlockAfter, SyncNext).
const FENCE_KNOWN: u32 = 0b111;

/// What a session step writes to and reads from its client.
pub(super) struct Io<'a> {
    pub cfg: &'a ClientConfig,
    pub out: &'a mut Vec<u8>,
    pub events: &'a mut VecDeque<Event>,
    /// Milliseconds from the shell's clock (for round-trip times).
    pub now_ms: u64,
}

#[derive(Debug, Clone, Copy)]
enum RectsLeft {
    Count(u16),
    UntilLastRect,
}

/// The normal phase: the framebuffer and where the message stream is.
#[derive(Debug)]
pub(super) struct Session {
    pub framebuffer: Framebuffer,
    pixel_format: PixelFormat,
    colour_map: ColourMap,
    /// Rectangles left in the current FramebufferUpdate; `None` between messages.
    rects_left: Option<RectsLeft>,
    /// Persistent decoder state (zlib streams, JPEG tables).
    decoders: decode::Decoders,
    /// The screen layout from the last ExtendedDesktopSize, for building SetDesktopSize.
    pub screens: Vec<decode::Screen>,
    /// The server acknowledged QEMU Extended Key Events.
    pub qemu_key_events: bool,
    /// The server pushes updates without requests (after EnableContinuousUpdates).
    continuous: bool,
    /// The server sent a fence, so it answers ours.
    fences: bool,
    /// The server's extended-clipboard actions, once it sent its capabilities.
    clipboard_actions: Option<u32>,
    /// What this client last put on the clipboard, for the server's requests.
    clipboard_text: Option<String>,
}

fn full(fb: &Framebuffer) -> Rect {
    Rect {
        x: 0,
        y: 0,
        w: fb.width(),
        h: fb.height(),
    }
}

impl Session {
    /// The session right after ServerInit, in the pixel format the client asks for.
    pub fn new(width: u16, height: u16) -> Self {
        Self {
            framebuffer: Framebuffer::new(width, height),
            pixel_format: PixelFormat::RGBX_LE,
            colour_map: ColourMap::default(),
            rects_left: None,
            decoders: decode::Decoders::default(),
            screens: Vec::new(),
            qemu_key_events: false,
            continuous: false,
            fences: false,
            clipboard_actions: None,
            clipboard_text: None,
        }
    }

    /// The session of a recorded stream, in the pixel format its ServerInit names.
    pub fn with_pixel_format(width: u16, height: u16, pixel_format: PixelFormat) -> Self {
        Self {
            pixel_format,
            ..Self::new(width, height)
        }
    }

    /// The messages that open the normal phase.
    pub fn start(&self, cfg: &ClientConfig, out: &mut Vec<u8>) {
        ClientMessage::SetPixelFormat(PixelFormat::RGBX_LE).write(out);
        ClientMessage::SetEncodings(cfg.encodings.clone()).write(out);
        self.request_whole_picture(out);
    }

    /// Asks for the whole framebuffer (a non-incremental update request).
    pub fn request_whole_picture(&self, out: &mut Vec<u8>) {
        ClientMessage::FramebufferUpdateRequest {
            incremental: false,
            area: full(&self.framebuffer),
        }
        .write(out);
    }

    /// Reads one message, or one rectangle of the current update. State changes only when the
    /// unit is complete.
    pub fn step(&mut self, r: &mut Reader<'_>, io: Io<'_>) -> Result<(), Stall> {
        let Some(left) = self.rects_left else {
            let msg = ServerMessage::read(r, &io.cfg.limits)?;
            return self.message(msg, io).map_err(Stall::from);
        };
        let header = RectHeader::read(r)?;
        // Raw is always allowed; anything else only if requested (an unknown encoding's
        // length is unknown, so the stream cannot be followed past it).
        if header.encoding != Encoding::Raw && !io.cfg.encodings.contains(&header.encoding) {
            return Err(Error::UnsupportedEncoding(header.encoding.to_i32()).into());
        }
        let ctx = DecodeContext::new(&self.pixel_format, &self.colour_map, &io.cfg.limits);
        if io.cfg.jpeg_source == JpegSource::Application {
            // Again after every resize, which makes a new framebuffer.
            self.framebuffer
                .hand_images_over(io.cfg.limits.max_pending_image_bytes);
        }
        let outcome = self
            .decoders
            .decode(header, r, &mut self.framebuffer, &ctx)?;
        if self.framebuffer.take_paint_overflow().is_some() {
            // Paints were dropped (the application paints far slower than the server
            // sends): the whole picture again repaints everything they would have.
            self.request_whole_picture(io.out);
        }
        let mut last = false;
        match outcome {
            decode::RectOutcome::Painted => {}
            decode::RectOutcome::LastRect => last = true,
            decode::RectOutcome::DesktopSize { width, height } => {
                self.resize(width, height, &mut *io.out, &mut *io.events)
            }
            // A refused request changes nothing.
            decode::RectOutcome::ExtendedDesktopSize(eds) => {
                if !eds.is_refusal() {
                    self.resize(eds.width, eds.height, &mut *io.out, &mut *io.events);
                    self.screens = eds.screens;
                }
            }
            decode::RectOutcome::Cursor(c) => io.events.push_back(Event::CursorShape {
                width: c.width,
                height: c.height,
                hotspot_x: c.hotspot_x,
                hotspot_y: c.hotspot_y,
                rgba: c.rgba,
            }),
            decode::RectOutcome::DesktopName(Some(name)) => {
                io.events.push_back(Event::DesktopName(name))
            }
            decode::RectOutcome::DesktopName(None) => {}
            decode::RectOutcome::QemuExtendedKeyEvent => self.qemu_key_events = true,
        }
        self.rects_left = match (left, last) {
            (_, true) => Some(RectsLeft::Count(0)),
            (RectsLeft::Count(n), false) => Some(RectsLeft::Count(n.saturating_sub(1))),
            (RectsLeft::UntilLastRect, false) => Some(RectsLeft::UntilLastRect),
        };
        self.finish_update_if_done(io.out, io.events);
        Ok(())
    }

    fn message(&mut self, msg: ServerMessage, io: Io<'_>) -> Result<(), Error> {
        match msg {
            ServerMessage::FramebufferUpdate { rects } => {
                self.rects_left = Some(match rects {
                    0xffff => RectsLeft::UntilLastRect,
                    n => RectsLeft::Count(n),
                });
                self.finish_update_if_done(io.out, io.events);
            }
            ServerMessage::SetColourMapEntries { first, colours } => {
                self.colour_map.set(first, &colours)
            }
            ServerMessage::Bell => io.events.push_back(Event::Bell),
            ServerMessage::ServerCutText(bytes) => io
                .events
                .push_back(Event::ServerCutText(decode_text(&bytes))),
            ServerMessage::ExtendedCutText { flags, payload } => {
                if !io.cfg.encodings.contains(&Encoding::ExtendedClipboard) {
                    return Err(Error::Invalid {
                        field: "cut-text length",
                        got: payload.len() as u64,
                        why: "negative, but the extended clipboard was not requested",
                    });
                }
                self.clipboard(
                    clipboard::parse(flags, &payload, io.cfg.limits.max_cut_text_bytes)?,
                    io,
                );
            }
            ServerMessage::EndOfContinuousUpdates => {
                if self.continuous {
                    // The server stopped pushing: go back to asking.
                    self.continuous = false;
                    ClientMessage::FramebufferUpdateRequest {
                        incremental: true,
                        area: full(&self.framebuffer),
                    }
                    .write(io.out);
                } else if io.cfg.encodings.contains(&Encoding::ContinuousUpdates) {
                    self.continuous = true;
                    ClientMessage::EnableContinuousUpdates {
                        enable: true,
                        area: full(&self.framebuffer),
                    }
                    .write(io.out);
                }
            }
            ServerMessage::ServerFence { flags, payload } => {
                self.fences = true;
                if flags & FENCE_REQUEST != 0 {
                    ClientMessage::ClientFence {
                        flags: flags & FENCE_KNOWN,
                        payload,
                    }
                    .write(io.out);
                } else if let Ok(sent) = <[u8; 8]>::try_from(payload.as_slice()) {
                    let millis = io.now_ms.saturating_sub(u64::from_be_bytes(sent));
                    io.events.push_back(Event::RoundTrip { millis });
                }
            }
        }
        Ok(())
    }

    fn clipboard(&mut self, action: ClipboardAction, io: Io<'_>) {
        let send = |out: &mut Vec<u8>, (flags, payload): (u32, Vec<u8>)| {
            ClientMessage::ExtendedCutText { flags, payload }.write(out)
        };
        match action {
            ClipboardAction::Caps { actions, .. } => {
                self.clipboard_actions = Some(actions);
                let max = u32::try_from(io.cfg.limits.max_cut_text_bytes).unwrap_or(u32::MAX);
                send(io.out, clipboard::caps(max));
            }
            ClipboardAction::Notify { formats } if formats & clipboard::FORMAT_TEXT != 0 => {
                send(
                    io.out,
                    (
                        clipboard::ACTION_REQUEST | clipboard::FORMAT_TEXT,
                        Vec::new(),
                    ),
                );
            }
            ClipboardAction::Request { formats } if formats & clipboard::FORMAT_TEXT != 0 => {
                send(
                    io.out,
                    clipboard::provide(self.clipboard_text.as_deref().unwrap_or("")),
                );
            }
            ClipboardAction::Peek => {
                let formats = if self.clipboard_text.is_some() {
                    clipboard::FORMAT_TEXT
                } else {
                    0
                };
                send(io.out, (clipboard::ACTION_NOTIFY | formats, Vec::new()));
            }
            ClipboardAction::Provide { text: Some(text) } => {
                io.events.push_back(Event::ServerCutText(text))
            }
            ClipboardAction::Notify { .. }
            | ClipboardAction::Request { .. }
            | ClipboardAction::Provide { text: None } => {}
        }
    }

    /// Puts `text` on the server's clipboard: announced through the extended clipboard when
    /// the server has one (it then asks for it), else sent as Latin-1.
    pub fn cut_text(&mut self, text: &str, out: &mut Vec<u8>) {
        match self.clipboard_actions {
            Some(actions) if actions & clipboard::ACTION_NOTIFY != 0 => {
                self.clipboard_text = Some(text.to_owned());
                ClientMessage::ExtendedCutText {
                    flags: clipboard::ACTION_NOTIFY | clipboard::FORMAT_TEXT,
                    payload: Vec::new(),
                }
                .write(out);
            }
            Some(actions) if actions & clipboard::ACTION_PROVIDE != 0 => {
                self.clipboard_text = Some(text.to_owned());
                let (flags, payload) = clipboard::provide(text);
                ClientMessage::ExtendedCutText { flags, payload }.write(out);
            }
            _ => ClientMessage::ClientCutText(text.to_owned()).write(out),
        }
    }

    /// Asks the server to resize the desktop; false when it has not shown it can.
    pub fn set_desktop_size(&self, width: u16, height: u16, out: &mut Vec<u8>) -> bool {
        let Some(first) = self.screens.first() else {
            return false;
        };
        let screen = ScreenLayout {
            id: first.id,
            area: Rect {
                x: 0,
                y: 0,
                w: width,
                h: height,
            },
            flags: first.flags,
        };
        ClientMessage::SetDesktopSize {
            width,
            height,
            screens: vec![screen],
        }
        .write(out);
        true
    }

    /// Sends a fence whose echo gives the round-trip time; false when the server has none.
    pub fn ping(&self, now_ms: u64, out: &mut Vec<u8>) -> bool {
        if self.fences {
            ClientMessage::ClientFence {
                flags: FENCE_REQUEST | FENCE_BLOCK_BEFORE,
                payload: now_ms.to_be_bytes().to_vec(),
            }
            .write(out);
        }
        self.fences
    }

    /// At a new size (the decoder checked it against the limits): a new framebuffer, and a
    /// request for the whole new picture, as a request for the old size may have crossed the
    /// change and left part of the new one unpainted; the continuous area follows. The same
    /// size again changes nothing and asks for nothing: servers send an ExtendedDesktopSize in
    /// reply to every non-incremental request, and answering it with another would loop.
    fn resize(&mut self, width: u16, height: u16, out: &mut Vec<u8>, events: &mut VecDeque<Event>) {
        if (width, height) == (self.framebuffer.width(), self.framebuffer.height()) {
            return;
        }
        self.framebuffer = Framebuffer::new(width, height);
        events.push_back(Event::Resized { width, height });
        self.request_whole_picture(out);
        if self.continuous {
            ClientMessage::EnableContinuousUpdates {
                enable: true,
                area: full(&self.framebuffer),
            }
            .write(out);
        }
    }

    fn finish_update_if_done(&mut self, out: &mut Vec<u8>, events: &mut VecDeque<Event>) {
        if let Some(RectsLeft::Count(0)) = self.rects_left {
            self.rects_left = None;
            events.push_back(Event::UpdateComplete);
            if !self.continuous {
                ClientMessage::FramebufferUpdateRequest {
                    incremental: true,
                    area: full(&self.framebuffer),
                }
                .write(out);
            }
        }
    }
}

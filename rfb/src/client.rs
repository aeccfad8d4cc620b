//! The sans-io RFB client: bytes in, bytes and events out, pixels into a [`Framebuffer`].
//!
//! Drive contract: call [`Client::receive`] with every chunk the transport delivers, and after
//! it (and after every command: [`Client::key_event`], [`Client::pointer_event`], …) drain
//! [`Client::poll_transmit`] to the transport and [`Client::poll_event`] to the application.
//! An `Err` from `receive` is final: close the transport and show the error.

use std::collections::VecDeque;

use crate::decode::{self, DecodeContext};
use crate::error::{Error, LimitKind, Stall};
use crate::framebuffer::{ColourMap, Framebuffer, Rect};
use crate::handshake::{Handshake, Step};
use crate::limits::Limits;
use crate::messages::client::ClientMessage;
use crate::messages::encoding::Encoding;
use crate::messages::server::{RectHeader, ServerMessage};
use crate::pixel_format::PixelFormat;
use crate::security::Password;
use crate::wire::{decode_text, Reader};

/// How the client connects and what it asks for.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Ask the server to leave other clients connected.
    pub shared: bool,
    /// Used for VNC authentication when the server asks for it.
    pub password: Option<Password>,
    /// Encodings to request, in order of preference.
    pub encodings: Vec<Encoding>,
    pub limits: Limits,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            shared: true,
            password: None,
            encodings: vec![Encoding::Raw, Encoding::DesktopSize, Encoding::LastRect],
            limits: Limits::default(),
        }
    }
}

/// What the application hears from the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The handshake is over and the framebuffer exists.
    Connected {
        width: u16,
        height: u16,
        name: String,
    },
    /// The framebuffer was re-created at a new size.
    Resized {
        width: u16,
        height: u16,
    },
    /// A FramebufferUpdate was fully applied; repaint the dirty rectangle.
    UpdateComplete,
    Bell,
    /// The server's clipboard changed.
    ServerCutText(String),
}

/// The normal phase: the framebuffer and where the message stream is.
#[derive(Debug)]
struct Session {
    framebuffer: Framebuffer,
    pixel_format: PixelFormat,
    colour_map: ColourMap,
    /// Rectangles left in the current FramebufferUpdate; `None` between messages.
    rects_left: Option<RectsLeft>,
}

#[derive(Debug, Clone, Copy)]
enum RectsLeft {
    Count(u16),
    UntilLastRect,
}

#[derive(Debug)]
enum Phase {
    Handshake(Handshake),
    Session(Box<Session>),
    Closed,
}

/// An RFB client connection, without I/O.
#[derive(Debug)]
pub struct Client {
    config: ClientConfig,
    phase: Phase,
    inbuf: Vec<u8>,
    outbuf: Vec<u8>,
    events: VecDeque<Event>,
}

impl Client {
    pub fn new(config: ClientConfig) -> Self {
        Self {
            config,
            phase: Phase::Handshake(Handshake::default()),
            inbuf: Vec::new(),
            outbuf: Vec::new(),
            events: VecDeque::new(),
        }
    }

    /// Feeds bytes received from the server. On error the client is closed.
    pub fn receive(&mut self, bytes: &[u8]) -> Result<(), Error> {
        if matches!(self.phase, Phase::Closed) {
            return Err(Error::Closed);
        }
        let buffered = self.inbuf.len().saturating_add(bytes.len());
        if buffered > self.config.limits.max_buffered_bytes {
            self.phase = Phase::Closed;
            return Err(Error::limit(
                LimitKind::BufferedBytes,
                buffered as u64,
                self.config.limits.max_buffered_bytes,
            ));
        }
        self.inbuf.extend_from_slice(bytes);
        let result = self.process();
        if result.is_err() {
            self.phase = Phase::Closed;
        }
        result
    }

    /// Bytes to send to the server, if any.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        (!self.outbuf.is_empty()).then(|| std::mem::take(&mut self.outbuf))
    }

    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// The framebuffer, once connected.
    pub fn framebuffer(&self) -> Option<&Framebuffer> {
        match &self.phase {
            Phase::Session(s) => Some(&s.framebuffer),
            _ => None,
        }
    }

    /// The region painted since the last call.
    pub fn take_dirty(&mut self) -> Option<Rect> {
        match &mut self.phase {
            Phase::Session(s) => s.framebuffer.take_dirty(),
            _ => None,
        }
    }

    pub fn is_connected(&self) -> bool {
        matches!(self.phase, Phase::Session(_))
    }

    /// Queues a KeyEvent. Ignored before the handshake completes.
    pub fn key_event(&mut self, down: bool, keysym: u32) {
        self.send(ClientMessage::KeyEvent { down, keysym });
    }

    /// Queues a PointerEvent, clamping the position to the framebuffer.
    pub fn pointer_event(&mut self, buttons: u8, x: u16, y: u16) {
        let Some(fb) = self.framebuffer() else { return };
        let x = x.min(fb.width().saturating_sub(1));
        let y = y.min(fb.height().saturating_sub(1));
        self.send(ClientMessage::PointerEvent { buttons, x, y });
    }

    /// Queues ClientCutText (Latin-1).
    pub fn cut_text(&mut self, text: &str) {
        self.send(ClientMessage::ClientCutText(text.to_owned()));
    }

    fn send(&mut self, msg: ClientMessage) {
        if self.is_connected() {
            msg.write(&mut self.outbuf);
        }
    }

    fn process(&mut self) -> Result<(), Error> {
        // Taken out so `step` can borrow `self` mutably; put back below with the rest.
        let mut inbuf = std::mem::take(&mut self.inbuf);
        let mut consumed = 0;
        let result = loop {
            let input = inbuf.get(consumed..).unwrap_or_default();
            if input.is_empty() {
                break Ok(());
            }
            let mut r = Reader::new(input);
            match self.step(&mut r) {
                Ok(true) => consumed += r.position(),
                Ok(false) => break Ok(()),
                Err(e) => break Err(e),
            }
        };
        inbuf.drain(..consumed);
        self.inbuf = inbuf;
        result
    }

    /// Processes one unit (handshake step, message header or rectangle). `Ok(false)` means
    /// more bytes are needed and nothing was consumed.
    fn step(&mut self, r: &mut Reader<'_>) -> Result<bool, Error> {
        match std::mem::replace(&mut self.phase, Phase::Closed) {
            Phase::Handshake(h) => match h.step(r, &self.config, &mut self.outbuf)? {
                Step::Next(next) => {
                    self.phase = Phase::Handshake(next);
                    Ok(true)
                }
                Step::Wait(same) => {
                    self.phase = Phase::Handshake(same);
                    Ok(false)
                }
                Step::Done(init) => {
                    let session = Session {
                        framebuffer: Framebuffer::new(init.width, init.height),
                        pixel_format: PixelFormat::RGBX_LE,
                        colour_map: ColourMap::default(),
                        rects_left: None,
                    };
                    let msgs = [
                        ClientMessage::SetPixelFormat(PixelFormat::RGBX_LE),
                        ClientMessage::SetEncodings(self.config.encodings.clone()),
                        full_update_request(false, init.width, init.height),
                    ];
                    for m in msgs {
                        m.write(&mut self.outbuf);
                    }
                    self.events.push_back(Event::Connected {
                        width: init.width,
                        height: init.height,
                        name: init.name,
                    });
                    self.phase = Phase::Session(Box::new(session));
                    Ok(true)
                }
            },
            Phase::Session(mut s) => {
                let result = s.step(r, &self.config, &mut self.outbuf, &mut self.events);
                self.phase = Phase::Session(s);
                match result {
                    Ok(()) => Ok(true),
                    Err(Stall::Incomplete(_)) => Ok(false),
                    Err(Stall::Invalid(e)) => Err(e),
                }
            }
            Phase::Closed => Err(Error::Closed),
        }
    }
}

fn full_update_request(incremental: bool, w: u16, h: u16) -> ClientMessage {
    ClientMessage::FramebufferUpdateRequest {
        incremental,
        area: Rect { x: 0, y: 0, w, h },
    }
}

impl Session {
    /// Reads one message, or one rectangle of the current update. State changes only when the
    /// unit is complete.
    fn step(
        &mut self,
        r: &mut Reader<'_>,
        cfg: &ClientConfig,
        out: &mut Vec<u8>,
        events: &mut VecDeque<Event>,
    ) -> Result<(), Stall> {
        let Some(left) = self.rects_left else {
            return match ServerMessage::read(r, &cfg.limits)? {
                ServerMessage::FramebufferUpdate { rects } => {
                    self.rects_left = Some(match rects {
                        0xffff => RectsLeft::UntilLastRect,
                        n => RectsLeft::Count(n),
                    });
                    self.finish_update_if_done(out, events);
                    Ok(())
                }
                ServerMessage::SetColourMapEntries { first, colours } => {
                    self.colour_map.set(first, &colours);
                    Ok(())
                }
                ServerMessage::Bell => {
                    events.push_back(Event::Bell);
                    Ok(())
                }
                ServerMessage::ServerCutText(bytes) => {
                    events.push_back(Event::ServerCutText(decode_text(&bytes)));
                    Ok(())
                }
            };
        };
        let header = RectHeader::read(r)?;
        let rect = header.rect;
        let ctx = DecodeContext {
            pixel_format: &self.pixel_format,
            colour_map: &self.colour_map,
            limits: &cfg.limits,
        };
        let mut last = false;
        match header.encoding {
            Encoding::Raw => decode::raw::decode(rect, r, &mut self.framebuffer, &ctx)?,
            Encoding::LastRect => last = true,
            Encoding::DesktopSize => {
                let max = cfg.limits.max_framebuffer_side;
                if rect.w > max || rect.h > max {
                    return Err(Error::limit(
                        LimitKind::FramebufferSide,
                        rect.w.max(rect.h).into(),
                        max.into(),
                    )
                    .into());
                }
                self.framebuffer = Framebuffer::new(rect.w, rect.h);
                events.push_back(Event::Resized {
                    width: rect.w,
                    height: rect.h,
                });
            }
            other => return Err(Error::UnsupportedEncoding(other.to_i32()).into()),
        }
        self.rects_left = match (left, last) {
            (_, true) => Some(RectsLeft::Count(0)),
            (RectsLeft::Count(n), false) => Some(RectsLeft::Count(n.saturating_sub(1))),
            (RectsLeft::UntilLastRect, false) => Some(RectsLeft::UntilLastRect),
        };
        self.finish_update_if_done(out, events);
        Ok(())
    }

    fn finish_update_if_done(&mut self, out: &mut Vec<u8>, events: &mut VecDeque<Event>) {
        if let Some(RectsLeft::Count(0)) = self.rects_left {
            self.rects_left = None;
            events.push_back(Event::UpdateComplete);
            full_update_request(true, self.framebuffer.width(), self.framebuffer.height())
                .write(out);
        }
    }
}

#[cfg(test)]
mod tests;

//! What the application sends while connected: keys, pointer, clipboard, a desktop size, a
//! fence to time. Each is ignored (or answered `false`) before the handshake completes.

use crate::messages::client::ClientMessage;

use super::{Client, Phase};

#[cfg(doc)]
use super::Event;

impl Client {
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

    /// Puts `text` on the server's clipboard: UTF-8 through the extended clipboard when the
    /// server has it, Latin-1 otherwise.
    pub fn cut_text(&mut self, text: &str) {
        if let Phase::Session(s) = &mut self.phase {
            s.cut_text(text, &mut self.outbuf);
        }
    }

    /// A key with its XT scancode: a QEMU extended key event when the server supports them
    /// (and the scancode is known, non-zero), else a plain KeyEvent.
    pub fn key_event_scancode(&mut self, down: bool, keysym: u32, scancode: u32) {
        if scancode != 0 && self.supports_qemu_key_events() {
            self.send(ClientMessage::QemuKeyEvent {
                down,
                keysym,
                keycode: scancode,
            });
        } else {
            self.key_event(down, keysym);
        }
    }

    /// Asks the server to resize its desktop; false when it has not shown it can
    /// (no ExtendedDesktopSize yet).
    pub fn set_desktop_size(&mut self, width: u16, height: u16) -> bool {
        match &self.phase {
            Phase::Session(s) => s.set_desktop_size(width, height, &mut self.outbuf),
            _ => false,
        }
    }

    /// Sends a fence; its echo arrives as [`Event::RoundTrip`]. False when the server has no
    /// fences (it never sent one).
    pub fn ping(&mut self) -> bool {
        match &self.phase {
            Phase::Session(s) => s.ping(self.now_ms, &mut self.outbuf),
            _ => false,
        }
    }

    /// Asks the server for the whole picture again (a non-incremental update request): after
    /// the application lost paints — an image its decoder refused, a queue it had to drop.
    pub fn refresh(&mut self) {
        if let Phase::Session(s) = &self.phase {
            s.request_whole_picture(&mut self.outbuf);
        }
    }

    fn send(&mut self, msg: ClientMessage) {
        if self.is_connected() {
            msg.write(&mut self.outbuf);
        }
    }
}

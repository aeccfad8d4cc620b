//! Pass-through after the handshake: a client that logs in (version, security — VNC
//! authentication, VeNCrypt Plain, X509 with a client certificate — ClientInit, ServerInit)
//! and then stops, handing the application the raw ServerInit and a byte pipe to the server.
//! A gateway uses it to log in to a VNC server on a viewer's behalf and then relay the
//! viewer's own session unchanged; when the login ran inside TLS, the TLS layer stays here and
//! every byte both ways still goes through it.
//!
//! Drive contract: like [`Client`] until [`Client::into_passthrough`] succeeds (feed
//! [`Client::receive`], drain [`Client::poll_transmit`]; no [`crate::Event::Connected`] comes:
//! the client sends no SetPixelFormat, SetEncodings or update request of its own). Then, on
//! the [`Passthrough`]: [`Passthrough::receive`] with wire bytes from the server and
//! [`Passthrough::take_from_server`] for the plaintext they carried; [`Passthrough::send`] with
//! plaintext for the server; after either, drain [`Passthrough::poll_transmit`] to the wire.

use crate::client::{Client, ClientConfig};
use crate::error::Error;

impl Client {
    /// A client that stops after ServerInit (see the module docs).
    pub fn new_pass_through(config: ClientConfig) -> Self {
        let mut c = Self::new(config);
        c.hold_at_server_init = true;
        c
    }

    /// [`Client::new_tls_wrapped`] (TLS from the first byte), stopping after ServerInit.
    pub fn new_tls_wrapped_pass_through(config: ClientConfig) -> Result<Self, Error> {
        let mut c = Self::new_tls_wrapped(config)?;
        c.hold_at_server_init = true;
        Ok(c)
    }

    /// Whether the handshake has reached ServerInit and stopped there.
    pub fn is_held(&self) -> bool {
        self.held_server_init().is_some()
    }

    /// The relay, once the client is held at ServerInit; else the client back, unchanged
    /// (boxed: a client is large).
    pub fn into_passthrough(self) -> Result<Passthrough, Box<Self>> {
        match self.held_server_init().map(<[u8]>::to_vec) {
            Some(server_init) => Ok(Passthrough {
                client: self,
                server_init,
            }),
            None => Err(Box::new(self)),
        }
    }
}

/// A logged-in connection whose RFB stream after ServerInit belongs to the application.
#[derive(Debug)]
pub struct Passthrough {
    client: Client,
    server_init: Vec<u8>,
}

impl Passthrough {
    /// The ServerInit message exactly as the server sent it (width, height, pixel format,
    /// name), to replay to the viewer.
    pub fn server_init(&self) -> &[u8] {
        &self.server_init
    }

    /// Whether the bytes go through TLS (VeNCrypt X509, or TLS-wrapped). Without it the wire
    /// carries the plaintext itself: after [`Passthrough::take_from_server`] the application
    /// may use its transport directly.
    pub fn is_tls(&self) -> bool {
        self.client.is_tls()
    }

    /// The current time (certificate checks in renegotiation-free TLS need none, but rustls
    /// is given the shell's clock, never one of its own).
    pub fn set_time(&mut self, unix_seconds: u64) {
        self.client.set_time(unix_seconds);
    }

    /// Feeds bytes received from the server. An error is final (TLS failure, or more than
    /// `max_buffered_bytes` left untaken).
    pub fn receive(&mut self, wire: &[u8]) -> Result<(), Error> {
        self.client.receive(wire)
    }

    /// Plaintext from the server since the last call (bytes that arrived with ServerInit too).
    pub fn take_from_server(&mut self) -> Vec<u8> {
        self.client.take_received()
    }

    /// Queues plaintext for the server; drain [`Passthrough::poll_transmit`] after.
    pub fn send(&mut self, plaintext: &[u8]) {
        self.client.queue_plaintext(plaintext);
    }

    /// Bytes for the wire, if any.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.client.poll_transmit()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::security::{vnc_auth_response, Password};

    const SERVER_INIT: &[u8] = &[
        0, 4, 0, 3, 32, 24, 0, 1, 0, 255, 0, 255, 0, 255, 16, 8, 0, 0, 0, 0, 0, 0, 0, 4, b'd',
        b'e', b's', b'k',
    ];

    /// Drains the client's output as one buffer.
    fn sent(c: &mut Client) -> Vec<u8> {
        let mut out = Vec::new();
        while let Some(b) = c.poll_transmit() {
            out.extend(b);
        }
        out
    }

    #[test]
    fn logs_in_with_a_password_then_passes_bytes_both_ways() {
        let cfg = ClientConfig {
            password: Some(Password::new("sesame")),
            ..ClientConfig::default()
        };
        let mut c = Client::new_pass_through(cfg);
        c.receive(b"RFB 003.008\n").expect("version");
        assert_eq!(sent(&mut c), b"RFB 003.008\n");
        c.receive(&[1, 2]).expect("types: VncAuth");
        assert_eq!(sent(&mut c), [2]);
        let challenge = [7u8; 16];
        c.receive(&challenge).expect("challenge");
        assert_eq!(
            sent(&mut c),
            vnc_auth_response(&challenge, &Password::new("sesame"))
        );
        c.receive(&[0, 0, 0, 0]).expect("ok");
        assert_eq!(sent(&mut c), [1], "ClientInit, shared");
        // ServerInit and the first bytes of a message in one read; every prefix first.
        let mut with_more = SERVER_INIT.to_vec();
        with_more.extend_from_slice(&[2, 0]);
        let mut c = match c.into_passthrough() {
            Ok(_) => panic!("not held yet"),
            Err(c) => *c,
        };
        for b in &with_more[..SERVER_INIT.len() - 1] {
            c.receive(&[*b]).expect("byte");
            assert!(!c.is_held());
        }
        c.receive(&with_more[SERVER_INIT.len() - 1..])
            .expect("rest");
        assert!(c.is_held());
        assert!(
            c.poll_event().is_none(),
            "no Connected: the session is not the client's"
        );
        assert!(
            sent(&mut c).is_empty(),
            "no SetPixelFormat / SetEncodings of its own"
        );
        let mut p = c.into_passthrough().expect("held");
        assert_eq!(p.server_init(), SERVER_INIT);
        assert!(!p.is_tls());
        assert_eq!(p.take_from_server(), [2, 0]);
        p.receive(&[9; 1000]).expect("more");
        assert_eq!(p.take_from_server(), vec![9; 1000]);
        assert!(p.take_from_server().is_empty());
        p.send(&[3, 0, 0, 0, 0, 0, 0, 4, 0, 3]);
        assert_eq!(
            p.poll_transmit().unwrap_or_default(),
            [3, 0, 0, 0, 0, 0, 0, 4, 0, 3]
        );
    }

    #[test]
    fn a_refused_login_is_an_error() {
        let cfg = ClientConfig {
            password: Some(Password::new("wrong")),
            ..ClientConfig::default()
        };
        let mut c = Client::new_pass_through(cfg);
        c.receive(b"RFB 003.008\n").expect("version");
        c.receive(&[1, 2]).expect("types");
        c.receive(&[0; 16]).expect("challenge");
        let mut failed = vec![0, 0, 0, 1, 0, 0, 0, 3];
        failed.extend_from_slice(b"bad");
        let e = c.receive(&failed).expect_err("refused");
        assert!(matches!(e, Error::AuthenticationFailed { .. }), "{e}");
    }
}

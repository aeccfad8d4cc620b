//! The phases of a graceful shutdown, broadcast from the accept loop to every connection.
//!
//! `Running` → (SIGTERM/Ctrl-C: the listener closes) `Draining`: idle HTTP connections are
//! closed, relays go on → (grace period over) `Closing`: relays send a close frame and end.

use tokio::sync::watch;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    Running,
    Draining,
    Closing,
}

/// A connection's view of the shutdown phase.
#[derive(Debug, Clone)]
pub struct Shutdown(Option<watch::Receiver<Phase>>);

impl Shutdown {
    /// For tests and tools: a shutdown that never comes.
    pub fn never() -> Self {
        Self(None)
    }

    /// The sender the accept loop drives, and the view each connection clones.
    pub fn channel() -> (watch::Sender<Phase>, Self) {
        let (tx, rx) = watch::channel(Phase::Running);
        (tx, Self(Some(rx)))
    }

    /// Completes once the phase is `phase` or later. Never completes for [`Shutdown::never`],
    /// or when the sender is gone (the accept loop then ends the tasks itself).
    pub async fn reached(&mut self, phase: Phase) {
        let Some(rx) = &mut self.0 else {
            return std::future::pending().await;
        };
        loop {
            if *rx.borrow_and_update() >= phase {
                return;
            }
            if rx.changed().await.is_err() {
                return std::future::pending().await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn waits_for_the_phase() {
        let (tx, mut s) = Shutdown::channel();
        let mut early = s.clone();
        let waiting = tokio::spawn(async move { s.reached(Phase::Closing).await });
        tx.send_replace(Phase::Draining);
        early.reached(Phase::Draining).await;
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert!(!waiting.is_finished());
        tx.send_replace(Phase::Closing);
        waiting.await.expect("completes");
        let mut never = Shutdown::never();
        let waited =
            tokio::time::timeout(Duration::from_millis(10), never.reached(Phase::Draining));
        assert!(waited.await.is_err());
    }
}

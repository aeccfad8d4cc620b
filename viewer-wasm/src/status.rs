//! What the page says when a connection ends, and whether it tries again. Pure.

/// Why the WebSocket closed, as the person reads it: the gateway's reason as-is when it gave
/// one, an explanation for the codes that come without one.
pub fn close_message(code: u16, reason: &str, was_connected: bool) -> String {
    if !reason.is_empty() {
        return reason.to_owned();
    }
    match code {
        1000 if was_connected => "The remote desktop ended the session.".to_owned(),
        1000 => "The gateway closed the connection before the desktop appeared.".to_owned(),
        1001 => "The gateway is shutting down or restarting.".to_owned(),
        1006 if was_connected => "The connection was lost (no close message: the network dropped, or the gateway stopped). Check your network connection.".to_owned(),
        1006 => "Could not reach the gateway (the WebSocket closed without a reason, code 1006). Check your network connection, that the gateway is running, and that this page's address is right; a proxy or firewall between you and the gateway may also block WebSockets.".to_owned(),
        1008 => "The gateway refused the connection (policy).".to_owned(),
        1011 => "The gateway hit an internal error; try again, or ask its administrator to look at its log.".to_owned(),
        1013 => "The desktop is not reachable right now; try again later.".to_owned(),
        code => format!("The gateway closed the connection (WebSocket code {code})."),
    }
}

/// Whether to reconnect after the WebSocket closed with `code`: always when asked
/// (`reconnect`), else only after an unexpected drop of a working session. A refusal (1008,
/// policy) is never retried: it would be refused again.
pub fn should_retry(code: u16, reconnect: bool, was_connected: bool) -> bool {
    match code {
        1008 => false,
        _ if reconnect => true,
        1000 => false,
        _ => was_connected,
    }
}

/// The delay before reconnect attempt `attempt` (0-based): 1 s, 2 s, 4 s … at most 30 s.
pub fn reconnect_delay_ms(attempt: u32) -> u32 {
    (1000u32 << attempt.min(5)).min(30_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_are_shown_as_given_and_1006_explained() {
        assert_eq!(
            close_message(1008, "unknown target 'x'", false),
            "unknown target 'x'"
        );
        assert!(close_message(1006, "", false).contains("Could not reach the gateway"));
        assert!(close_message(1006, "", true).contains("connection was lost"));
        assert!(close_message(4000, "", false).contains("4000"));
    }

    #[test]
    fn retries() {
        assert!(!should_retry(1008, true, true), "refusals are final");
        assert!(should_retry(1000, true, false));
        assert!(
            !should_retry(1000, false, true),
            "a clean end is not a drop"
        );
        assert!(should_retry(1006, false, true));
        assert!(
            !should_retry(1006, false, false),
            "never worked: say why instead"
        );
        let d: Vec<u32> = (0..8).map(reconnect_delay_ms).collect();
        assert_eq!(d, vec![1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]);
    }
}

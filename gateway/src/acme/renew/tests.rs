use super::*;

const DAY: i64 = 86_400;

#[test]
fn renews_at_two_thirds_of_the_lifetime_minus_jitter() {
    let (nb, na) = (1_000_000, 1_000_000 + 90 * DAY);
    assert_eq!(renewal_time(nb, na, None, 0.0), nb + 60 * DAY);
    // A twentieth of 90 days is 4.5 days, capped at one day.
    assert_eq!(renewal_time(nb, na, None, 1.0), nb + 59 * DAY);
    let mid = renewal_time(nb, na, None, 0.5);
    assert!(mid < nb + 60 * DAY && mid > nb + 59 * DAY);
    // Short-lived (6-day) certificates: the jitter is a twentieth of the lifetime.
    let (nb6, na6) = (0, 6 * DAY);
    assert_eq!(renewal_time(nb6, na6, None, 0.0), 4 * DAY);
    assert_eq!(renewal_time(nb6, na6, None, 1.0), 4 * DAY - 6 * DAY / 20);
}

#[test]
fn renew_before_overrides_and_may_make_it_due_at_once() {
    let (nb, na) = (0, 90 * DAY);
    let ten_days = Duration::from_secs(10 * 86_400);
    assert_eq!(renewal_time(nb, na, Some(ten_days), 0.0), 80 * DAY);
    let forever = Duration::from_secs(u64::MAX);
    assert!(renewal_time(nb, na, Some(forever), 0.5) < nb);
    // A certificate that ends before it starts does not underflow.
    assert_eq!(renewal_time(na, nb, None, 1.0), nb);
}

#[test]
fn failures_back_off_doubling_up_to_the_cap() {
    let t = Timing {
        retry_initial: Duration::from_secs(60),
        retry_max: Duration::from_secs(3 * 3600),
        ..Timing::default()
    };
    let d = |n, rl| retry_delay(&t, n, rl).as_secs();
    assert_eq!([d(1, false), d(2, false), d(3, false)], [60, 120, 240]);
    assert_eq!(d(9, false), 3 * 3600);
    assert_eq!(d(1000, false), 3 * 3600);
    assert_eq!(d(1, true), 3600);
    let short = Timing {
        retry_initial: Duration::from_millis(100),
        retry_max: Duration::from_secs(1),
        ..Timing::default()
    };
    assert_eq!(retry_delay(&short, 1, true), Duration::from_secs(1));
}

#[test]
fn jitter_is_a_fraction() {
    for _ in 0..100 {
        let f = random_fraction();
        assert!((0.0..=1.0).contains(&f));
    }
}

//! The pointer trail of a recording's playback: the viewer's pointer positions from the
//! recording's events file (`GET /api/recordings/ID/events`, one JSON object per line), and
//! which of them to draw at a moment of the playback.
//!
//! Only pointer lines are kept (`{"buttons":b,"pointer":[x,y],"t":ms}`, in any key order);
//! every other line — keys, clipboard sizes, resizes, notes — and every line that cannot be
//! read is skipped, so a damaged events file still gives the trail up to the damage.

/// How far back the trail reaches, in milliseconds of the recording.
pub const TRAIL_MS: u32 = 1500;

/// The most pointer positions kept (a 10-minute session at 60 moves a second is 36,000).
pub const MAX_POINTS: usize = 200_000;

/// Where the viewer's pointer was at a moment of the recording.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Point {
    pub at_ms: u32,
    pub x: u16,
    pub y: u16,
    /// The button mask (bit 0 the left button).
    pub buttons: u8,
}

/// The pointer positions of one recording, in time order.
#[derive(Debug, Default)]
pub struct Trail {
    points: Vec<Point>,
}

impl Trail {
    /// Reads the pointer positions out of an events file.
    pub fn parse(jsonl: &str) -> Self {
        let mut points: Vec<Point> = jsonl
            .lines()
            .filter_map(pointer_line)
            .take(MAX_POINTS)
            .collect();
        // Written in time order; sorting (stable) keeps a reordered file drawable too.
        points.sort_by_key(|p| p.at_ms);
        Self { points }
    }

    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }

    /// What to draw at `at_ms`: the positions of the last [`TRAIL_MS`] (oldest first), and
    /// the latest position at or before `at_ms` (where the pointer is, even if it has not
    /// moved for a while).
    pub fn at(&self, at_ms: u32) -> (&[Point], Option<Point>) {
        let end = self.points.partition_point(|p| p.at_ms <= at_ms);
        let from = at_ms.saturating_sub(TRAIL_MS);
        let start = self.points[..end].partition_point(|p| p.at_ms < from);
        let current = end.checked_sub(1).map(|i| self.points[i]);
        (&self.points[start..end], current)
    }
}

/// The pointer of one line, if it is a pointer line.
fn pointer_line(line: &str) -> Option<Point> {
    let at_ms = u32::try_from(number_after(line, "\"t\":")?).ok()?;
    let buttons = u8::try_from(number_after(line, "\"buttons\":")?).ok()?;
    let rest = line.split_once("\"pointer\":[")?.1;
    let (x, rest) = rest.split_once(',')?;
    let (y, _) = rest.split_once(']')?;
    Some(Point {
        at_ms,
        x: x.trim().parse().ok()?,
        y: y.trim().parse().ok()?,
        buttons,
    })
}

/// The unsigned integer right after `key` in `line`.
fn number_after(line: &str, key: &str) -> Option<u64> {
    let rest = line.split_once(key)?.1.trim_start();
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    rest.get(..digits)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const EVENTS: &str = concat!(
        "{\"buttons\":0,\"pointer\":[10,20],\"t\":100}\n",
        "{\"key\":65,\"down\":true,\"t\":150}\n",
        "{\"clipboard_bytes\":12,\"t\":160}\n",
        "{\"t\":900,\"pointer\":[ 30 , 40 ],\"buttons\":1}\n",
        "not json at all\n",
        "{\"buttons\":0,\"pointer\":[70000,5],\"t\":950}\n",
        "{\"buttons\":0,\"pointer\":[50,60],\"t\":2000}\n",
        "{\"buttons\":0,\"pointer\":[51,6",
    );

    #[test]
    fn only_readable_pointer_lines_are_kept() {
        let t = Trail::parse(EVENTS);
        assert_eq!(
            t.points
                .iter()
                .map(|p| (p.at_ms, p.x, p.y, p.buttons))
                .collect::<Vec<_>>(),
            [(100, 10, 20, 0), (900, 30, 40, 1), (2000, 50, 60, 0)]
        );
    }

    #[test]
    fn the_trail_reaches_back_a_moment_and_the_pointer_stays_where_it_was() {
        let t = Trail::parse(EVENTS);
        assert_eq!(t.at(50), (&[][..], None), "before the first move: nothing");
        let (trail, now) = t.at(1000);
        assert_eq!(trail.len(), 2);
        assert_eq!(now.map(|p| (p.x, p.y)), Some((30, 40)));
        // 1.5 s later the first position has left the trail; the second is still in it.
        let (trail, now) = t.at(1601);
        assert_eq!(trail.iter().map(|p| p.x).collect::<Vec<_>>(), [30]);
        assert_eq!(now.map(|p| p.buttons), Some(1));
        // Long after the last move the trail is gone, the pointer is still shown.
        let (trail, now) = t.at(60_000);
        assert!(trail.is_empty());
        assert_eq!(now.map(|p| (p.x, p.y)), Some((50, 60)));
    }

    #[test]
    fn an_empty_or_foreign_file_has_no_trail() {
        assert!(Trail::parse("").is_empty());
        assert!(Trail::parse("{\"stopped\":\"max_bytes\",\"t\":5}\n\u{0}\u{ff}").is_empty());
    }
}

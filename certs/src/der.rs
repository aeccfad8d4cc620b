//! A minimal reader for DER (ITU-T X.690), enough to walk an X.509 certificate: one-byte tags,
//! definite lengths of up to four length bytes, no copying. Every read is bounds-checked and
//! fails with a [`DerError`] naming what was being read; nothing here allocates.

/// Universal and context tags the certificate reader uses.
pub mod tag {
    pub const BOOLEAN: u8 = 0x01;
    pub const INTEGER: u8 = 0x02;
    pub const BIT_STRING: u8 = 0x03;
    pub const OCTET_STRING: u8 = 0x04;
    pub const NULL: u8 = 0x05;
    pub const OID: u8 = 0x06;
    pub const UTF8_STRING: u8 = 0x0c;
    pub const PRINTABLE_STRING: u8 = 0x13;
    pub const T61_STRING: u8 = 0x14;
    pub const IA5_STRING: u8 = 0x16;
    pub const UTC_TIME: u8 = 0x17;
    pub const GENERALIZED_TIME: u8 = 0x18;
    pub const VISIBLE_STRING: u8 = 0x1a;
    pub const UNIVERSAL_STRING: u8 = 0x1c;
    pub const BMP_STRING: u8 = 0x1e;
    pub const SEQUENCE: u8 = 0x30;
    pub const SET: u8 = 0x31;

    /// `[n]` constructed (EXPLICIT tagging, or an IMPLICIT constructed type).
    pub const fn explicit(n: u8) -> u8 {
        0xa0 | n
    }

    /// `[n]` primitive (IMPLICIT tagging of a primitive type).
    pub const fn implicit(n: u8) -> u8 {
        0x80 | n
    }
}

/// Why DER could not be read: what was expected, and what was wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what}: {problem}")]
pub struct DerError {
    pub what: &'static str,
    pub problem: DerProblem,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DerProblem {
    #[error("the data ends early")]
    Truncated,
    #[error("expected tag {expected:#04x}, found {found:#04x}")]
    Tag { expected: u8, found: u8 },
    #[error("multi-byte tags are not used in certificates")]
    LongTag,
    #[error("indefinite or over-long length")]
    Length,
    #[error("{0} bytes after it")]
    Trailing(usize),
    #[error("malformed value")]
    Value,
}

/// A cursor over DER bytes.
#[derive(Debug, Clone, Copy)]
pub struct Der<'a> {
    rest: &'a [u8],
}

impl<'a> Der<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { rest: bytes }
    }

    pub fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    /// The tag of the next element, if any.
    pub fn peek_tag(&self) -> Option<u8> {
        self.rest.first().copied()
    }

    /// The next element: its tag, its contents, and its whole encoding (tag and length too).
    pub fn any(&mut self, what: &'static str) -> Result<(u8, &'a [u8], &'a [u8]), DerError> {
        let fail = |problem| DerError { what, problem };
        let (&tag, after_tag) = self.rest.split_first().ok_or(fail(DerProblem::Truncated))?;
        if tag & 0x1f == 0x1f {
            return Err(fail(DerProblem::LongTag));
        }
        let (&first, after_len) = after_tag.split_first().ok_or(fail(DerProblem::Truncated))?;
        let (len, body) = if first < 0x80 {
            (usize::from(first), after_len)
        } else {
            let n = usize::from(first & 0x7f);
            if n == 0 || n > 4 {
                return Err(fail(DerProblem::Length));
            }
            let bytes = after_len.get(..n).ok_or(fail(DerProblem::Truncated))?;
            let len = bytes
                .iter()
                .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
            (len, &after_len[n..])
        };
        let contents = body.get(..len).ok_or(fail(DerProblem::Truncated))?;
        let header = self.rest.len() - body.len();
        let whole = &self.rest[..header + len];
        self.rest = &body[len..];
        Ok((tag, contents, whole))
    }

    /// The contents of the next element, which must have `expected` as its tag.
    pub fn expect(&mut self, expected: u8, what: &'static str) -> Result<&'a [u8], DerError> {
        let found = self.peek_tag().ok_or(DerError {
            what,
            problem: DerProblem::Truncated,
        })?;
        if found != expected {
            return Err(DerError {
                what,
                problem: DerProblem::Tag { expected, found },
            });
        }
        self.any(what).map(|(_, contents, _)| contents)
    }

    /// The contents of the next element if it has tag `wanted`; otherwise nothing is read.
    pub fn optional(
        &mut self,
        wanted: u8,
        what: &'static str,
    ) -> Result<Option<&'a [u8]>, DerError> {
        match self.peek_tag() {
            Some(t) if t == wanted => self.expect(wanted, what).map(Some),
            _ => Ok(None),
        }
    }

    /// A reader over the contents of the next element with tag `expected`.
    pub fn nested(&mut self, expected: u8, what: &'static str) -> Result<Der<'a>, DerError> {
        self.expect(expected, what).map(Der::new)
    }

    /// Fails if anything is left.
    pub fn finish(&self, what: &'static str) -> Result<(), DerError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(DerError {
                what,
                problem: DerProblem::Trailing(self.rest.len()),
            })
        }
    }
}

/// An object identifier in dotted decimal (`2.5.4.3`), or `None` if malformed.
pub fn oid_text(contents: &[u8]) -> Option<String> {
    if contents.is_empty() {
        return None;
    }
    let mut arcs: Vec<u64> = Vec::new();
    let mut value: u64 = 0;
    for (i, &b) in contents.iter().enumerate() {
        if value == 0 && b == 0x80 {
            return None; // a non-minimal arc
        }
        value = value.checked_mul(128)?.checked_add(u64::from(b & 0x7f))?;
        if b & 0x80 == 0 {
            if arcs.is_empty() {
                let (a, b) = match value {
                    0..=39 => (0, value),
                    40..=79 => (1, value - 40),
                    _ => (2, value - 80),
                };
                arcs.extend([a, b]);
            } else {
                arcs.push(value);
            }
            value = 0;
        } else if i + 1 == contents.len() {
            return None; // the last arc continues past the end
        }
    }
    Some(
        arcs.iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join("."),
    )
}

/// Unix seconds of a UTCTime (`YYMMDDHHMMSSZ`, years 1950–2049) or GeneralizedTime
/// (`YYYYMMDDHHMMSSZ`), as RFC 5280 §4.1.2.5 allows them in certificates.
pub fn time(tag_found: u8, contents: &[u8]) -> Option<i64> {
    let text = std::str::from_utf8(contents).ok()?;
    let digits = text.strip_suffix('Z')?;
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let num = |s: &str| s.parse::<i64>().ok();
    let (year, rest) = match (tag_found, digits.len()) {
        (tag::UTC_TIME, 12) => {
            let yy = num(&digits[..2])?;
            (if yy < 50 { 2000 + yy } else { 1900 + yy }, &digits[2..])
        }
        (tag::GENERALIZED_TIME, 14) => (num(&digits[..4])?, &digits[4..]),
        _ => return None,
    };
    let [month, day, hour, minute, second] = [0, 2, 4, 6, 8].map(|i| num(&rest[i..i + 2]));
    let (month, day, hour, minute, second) = (month?, day?, hour?, minute?, second?);
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    Some(days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second)
}

/// Days from 1970-01-01 to the given date of the proleptic Gregorian calendar.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_nested_elements_and_lengths() {
        // SEQUENCE { INTEGER 5, OCTET STRING (130 bytes, long form length) }
        let mut bytes = vec![0x30, 0x81, 0x88, 0x02, 0x01, 0x05, 0x04, 0x81, 0x82];
        bytes.extend([0xab; 130]);
        let mut top = Der::new(&bytes);
        let mut seq = top.nested(tag::SEQUENCE, "seq").expect("seq");
        top.finish("top").expect("nothing after");
        assert_eq!(seq.expect(tag::INTEGER, "int").expect("int"), &[5]);
        assert_eq!(seq.optional(tag::BOOLEAN, "bool").expect("ok"), None);
        assert_eq!(
            seq.expect(tag::OCTET_STRING, "oct").expect("oct").len(),
            130
        );
        seq.finish("seq").expect("all read");
    }

    #[test]
    fn bad_input_is_an_error_naming_the_element() {
        let e = Der::new(&[0x30, 0x05, 0x02])
            .any("cert")
            .expect_err("short");
        assert_eq!(e.to_string(), "cert: the data ends early");
        let e = Der::new(&[0x30, 0x80]).any("cert").expect_err("indefinite");
        assert_eq!(e.problem, DerProblem::Length);
        let e = Der::new(&[0x30, 0x85, 1, 1, 1, 1, 1])
            .any("cert")
            .expect_err("huge");
        assert_eq!(e.problem, DerProblem::Length);
        let e = Der::new(&[0x1f, 0x01, 0x00])
            .any("x")
            .expect_err("long tag");
        assert_eq!(e.problem, DerProblem::LongTag);
        let e = Der::new(&[0x02, 0x01, 0x00])
            .expect(tag::SEQUENCE, "tbs")
            .expect_err("tag");
        assert_eq!(e.to_string(), "tbs: expected tag 0x30, found 0x02");
        assert!(Der::new(&[0x05, 0x00, 0x00]).finish("x").is_err());
    }

    #[test]
    fn object_identifiers() {
        assert_eq!(oid_text(&[0x55, 0x04, 0x03]).as_deref(), Some("2.5.4.3"));
        assert_eq!(
            oid_text(&[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x01]).as_deref(),
            Some("1.2.840.113549.1.9.1")
        );
        assert_eq!(
            oid_text(&[0x2b, 0x65, 0x70]).as_deref(),
            Some("1.3.101.112")
        );
        assert_eq!(oid_text(&[]), None);
        assert_eq!(oid_text(&[0x2a, 0x86]), None);
        assert_eq!(oid_text(&[0x2a, 0x80, 0x01]), None);
        assert_eq!(oid_text(&[0xff; 12]), None, "overflow");
    }

    #[test]
    fn times() {
        assert_eq!(time(tag::UTC_TIME, b"700101000000Z"), Some(0));
        assert_eq!(time(tag::UTC_TIME, b"491231235959Z"), Some(2_524_607_999));
        assert_eq!(
            time(tag::GENERALIZED_TIME, b"20000229000000Z"),
            Some(951_782_400)
        );
        assert_eq!(
            time(tag::GENERALIZED_TIME, b"99991231235959Z"),
            Some(253_402_300_799)
        );
        assert_eq!(time(tag::UTC_TIME, b"700101000000"), None, "no Z");
        assert_eq!(time(tag::UTC_TIME, b"701301000000Z"), None, "month 13");
        assert_eq!(time(tag::GENERALIZED_TIME, b"700101000000Z"), None);
        assert_eq!(time(tag::UTC_TIME, "7001010000é0Z".as_bytes()), None);
    }
}

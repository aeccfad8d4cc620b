//! Encoding and pseudo-encoding numbers (RFC 6143 §7.7–7.8 and the community registry).

/// The encodings this crate knows. Anything else is kept as `Unknown(raw)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Encoding {
    Raw,
    CopyRect,
    Rre,
    Hextile,
    Zlib,
    Tight,
    Trle,
    Zrle,
    Jpeg,
    TightPng,
    DesktopSize,
    LastRect,
    Cursor,
    DesktopName,
    ExtendedDesktopSize,
    QemuExtendedKeyEvent,
    Fence,
    ContinuousUpdates,
    ExtendedClipboard,
    /// JPEG quality level 0–9 (−32 … −23).
    QualityLevel(u8),
    /// Compression level 0–9 (−256 … −247).
    CompressLevel(u8),
    Unknown(i32),
}

impl Encoding {
    pub fn from_i32(v: i32) -> Self {
        match v {
            0 => Self::Raw,
            1 => Self::CopyRect,
            2 => Self::Rre,
            5 => Self::Hextile,
            6 => Self::Zlib,
            7 => Self::Tight,
            15 => Self::Trle,
            16 => Self::Zrle,
            21 => Self::Jpeg,
            -260 => Self::TightPng,
            -223 => Self::DesktopSize,
            -224 => Self::LastRect,
            -239 => Self::Cursor,
            -307 => Self::DesktopName,
            -308 => Self::ExtendedDesktopSize,
            -258 => Self::QemuExtendedKeyEvent,
            -312 => Self::Fence,
            -313 => Self::ContinuousUpdates,
            -1063131698 => Self::ExtendedClipboard,
            -32..=-23 => Self::QualityLevel((v + 32) as u8),
            -256..=-247 => Self::CompressLevel((v + 256) as u8),
            other => Self::Unknown(other),
        }
    }

    pub fn to_i32(self) -> i32 {
        match self {
            Self::Raw => 0,
            Self::CopyRect => 1,
            Self::Rre => 2,
            Self::Hextile => 5,
            Self::Zlib => 6,
            Self::Tight => 7,
            Self::Trle => 15,
            Self::Zrle => 16,
            Self::Jpeg => 21,
            Self::TightPng => -260,
            Self::DesktopSize => -223,
            Self::LastRect => -224,
            Self::Cursor => -239,
            Self::DesktopName => -307,
            Self::ExtendedDesktopSize => -308,
            Self::QemuExtendedKeyEvent => -258,
            Self::Fence => -312,
            Self::ContinuousUpdates => -313,
            Self::ExtendedClipboard => -1063131698,
            Self::QualityLevel(l) => -32 + i32::from(l.min(9)),
            Self::CompressLevel(l) => -256 + i32::from(l.min(9)),
            Self::Unknown(v) => v,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_round_trip() {
        for v in [
            0,
            1,
            2,
            5,
            6,
            7,
            15,
            16,
            21,
            -260,
            -223,
            -224,
            -239,
            -307,
            -308,
            -258,
            -312,
            -313,
            -1063131698,
            -32,
            -23,
            -256,
            -247,
            99,
        ] {
            assert_eq!(Encoding::from_i32(v).to_i32(), v);
        }
        assert_eq!(Encoding::from_i32(-23), Encoding::QualityLevel(9));
        assert_eq!(Encoding::from_i32(99), Encoding::Unknown(99));
    }
}

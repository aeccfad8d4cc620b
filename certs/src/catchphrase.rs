//! The catchphrase: eight words a person can read aloud to check a certificate's identity.
//!
//! A SHA-256 fingerprint is 64 hex digits; nobody compares that over the phone. The catchphrase
//! encodes the **first 8 bytes** of the SHA-256 fingerprint of the certificate's DER encoding,
//! one word per byte, in order: byte value `b` becomes [`WORDS`]`[b]`. The words are joined by
//! single spaces, e.g. `acorn zipper …`.
//!
//! The list is fixed: changing a word changes every catchphrase ever shown, so it is versioned
//! with the format (see `docs/catchphrase.md`). It holds 256 distinct lower-case English nouns of
//! 3 to 7 letters, sorted alphabetically (so the index of a word is its byte value), chosen to
//! be easy to say and hear: mostly two syllables, no homophones (no `pear`/`pair`), no words
//! with two common pronunciations.
//!
//! Eight words carry 64 bits: enough that an attacker cannot make a certificate with the same
//! catchphrase by trial (2^64 key generations), which is the threat when a person compares
//! what the gateway printed with what the viewer shows. For a machine check, pin the full
//! fingerprint instead.

use crate::Fingerprint;

/// How many fingerprint bytes (= words) a catchphrase has.
pub const WORD_COUNT: usize = 8;

/// The 256 words, indexed by byte value.
pub const WORDS: [&str; 256] = [
    "acorn", "actor", "adobe", "album", "alpine", "amber", "anchor", "antler", // 0x00
    "apple", "apron", "arrow", "atlas", "attic", "autumn", "badger", "bagel", // 0x08
    "baker", "bamboo", "banjo", "barley", "basket", "beacon", "beaver", "bison", // 0x10
    "blanket", "blossom", "bonnet", "bottle", "breeze", "bridge", "bronze", "bubble", // 0x18
    "bucket", "buffalo", "button", "cabin", "cactus", "camel", "camera", "candle", // 0x20
    "canoe", "canyon", "captain", "carbon", "carpet", "castle", "cello", "chalk", // 0x28
    "cherry", "chimney", "cinema", "circus", "citrus", "cobalt", "cobra", "coconut", // 0x30
    "coffee", "comet", "compass", "copper", "cotton", "cowboy", "coyote", "crater", // 0x38
    "crayon", "cricket", "crystal", "cupcake", "curtain", "cushion", "daisy",
    "dancer", // 0x40
    "denim", "dentist", "diamond", "dinner", "dolphin", "domino", "donkey", "dragon", // 0x48
    "drummer", "eagle", "easel", "echo", "elbow", "ember", "emerald", "engine", // 0x50
    "falcon", "feather", "fiddle", "finch", "forest", "fossil", "fridge", "galaxy", // 0x58
    "garden", "garlic", "gazelle", "ginger", "goblin", "gondola", "granite", "gravel", // 0x60
    "guitar", "hammer", "harbor", "harvest", "hazel", "helmet", "hickory", "hockey", // 0x68
    "honey", "hornet", "husky", "iceberg", "igloo", "indigo", "island", "ivory", // 0x70
    "jacket", "jaguar", "jasmine", "jelly", "jester", "jigsaw", "journal", "jungle", // 0x78
    "juniper", "kayak", "kettle", "kitten", "koala", "ladder", "lagoon", "lantern", // 0x80
    "laptop", "lemon", "lentil", "lettuce", "lilac", "lizard", "lobster", "locket", // 0x88
    "lotus", "lumber", "magnet", "mango", "maple", "marble", "meadow", "melon", // 0x90
    "mermaid", "meteor", "monkey", "mosaic", "muffin", "mustard", "napkin", "nectar", // 0x98
    "needle", "nickel", "noodle", "nutmeg", "oasis", "ocean", "octopus", "olive", // 0xa0
    "onion", "orange", "orbit", "orchid", "otter", "oyster", "paddle", "pancake", // 0xa8
    "panda", "panther", "parrot", "pasta", "peanut", "pebble", "pelican", "pencil", // 0xb0
    "pepper", "piano", "pickle", "pigeon", "pillow", "pilot", "pirate", "pizza", // 0xb8
    "planet", "pocket", "poppy", "potato", "pretzel", "puffin", "pumpkin", "puppet", // 0xc0
    "quartz", "quiver", "rabbit", "raccoon", "radio", "raisin", "ranger", "raven", // 0xc8
    "ribbon", "rocket", "rodeo", "saddle", "salmon", "sandal", "satin", "saucer", // 0xd0
    "scarf", "shadow", "silver", "sketch", "spider", "spinach", "sponge", "statue", // 0xd8
    "sugar", "summit", "sunset", "swallow", "tablet", "teapot", "temple", "thistle", // 0xe0
    "thunder", "ticket", "timber", "tomato", "topaz", "tractor", "trumpet", "tulip", // 0xe8
    "tunnel", "turkey", "turtle", "tuxedo", "unicorn", "valley", "velvet", "violin", // 0xf0
    "volcano", "wafer", "walnut", "walrus", "wizard", "yogurt", "zebra", "zipper", // 0xf8
];

/// The catchphrase of a fingerprint: [`WORD_COUNT`] words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Catchphrase([u8; WORD_COUNT]);

impl Catchphrase {
    /// The catchphrase of `fingerprint` (its first [`WORD_COUNT`] bytes).
    pub fn of(fingerprint: &Fingerprint) -> Self {
        let mut bytes = [0u8; WORD_COUNT];
        for (dst, src) in bytes.iter_mut().zip(fingerprint.0.iter()) {
            *dst = *src;
        }
        Self(bytes)
    }

    /// The words, in order.
    pub fn words(&self) -> [&'static str; WORD_COUNT] {
        self.0.map(|b| WORDS[usize::from(b)])
    }

    /// Parses words separated by spaces, hyphens or commas (any case), as a person might type
    /// them. `None` if there are not exactly [`WORD_COUNT`] words from the list.
    pub fn parse(text: &str) -> Option<Self> {
        let mut bytes = [0u8; WORD_COUNT];
        let mut n = 0usize;
        for word in text
            .split(|c: char| c.is_whitespace() || c == '-' || c == ',')
            .filter(|w| !w.is_empty())
        {
            let slot = bytes.get_mut(n)?;
            let lower = word.to_ascii_lowercase();
            let index = WORDS.binary_search(&lower.as_str()).ok()?;
            *slot = u8::try_from(index).ok()?;
            n += 1;
        }
        (n == WORD_COUNT).then_some(Self(bytes))
    }

    /// Whether `fingerprint` has this catchphrase.
    pub fn matches(&self, fingerprint: &Fingerprint) -> bool {
        *self == Self::of(fingerprint)
    }
}

impl std::fmt::Display for Catchphrase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, w) in self.words().iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            f.write_str(w)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn the_list_has_256_distinct_short_lowercase_words_in_order() {
        let distinct: HashSet<&str> = WORDS.iter().copied().collect();
        assert_eq!(distinct.len(), 256);
        for w in WORDS {
            assert!((3..=7).contains(&w.len()), "{w}");
            assert!(w.bytes().all(|b| b.is_ascii_lowercase()), "{w}");
        }
        assert!(
            WORDS.windows(2).all(|p| p[0] < p[1]),
            "sorted, so binary search works"
        );
    }

    #[test]
    fn encodes_the_first_eight_bytes_in_order() {
        let mut fp = [0u8; 32];
        fp[..8].copy_from_slice(&[0x00, 0xff, 0x01, 0x80, 0x10, 0x20, 0x40, 0x7f]);
        fp[8] = 0x55; // ignored
        let phrase = Catchphrase::of(&Fingerprint(fp));
        let words = phrase.words();
        assert_eq!(words[0], WORDS[0]);
        assert_eq!(words[1], WORDS[255]);
        assert_eq!(words[3], WORDS[0x80]);
        assert_eq!(phrase.to_string().split(' ').count(), WORD_COUNT);
    }

    #[test]
    fn known_value_is_stable() {
        // SHA-256("abc") starts BA 78 16 BF 8F 01 CF EA. If this changes, every catchphrase
        // people have written down changes: update docs/catchphrase.md and think twice.
        let phrase = Catchphrase::of(&Fingerprint::of_der(b"abc"));
        let expected: Vec<&str> = [0xbau8, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea]
            .iter()
            .map(|&b| WORDS[usize::from(b)])
            .collect();
        assert_eq!(phrase.words().to_vec(), expected);
        assert_eq!(
            phrase.to_string(),
            "pickle jacket beaver pizza locket actor raven timber"
        );
    }

    #[test]
    fn parses_what_people_type() {
        let fp = Fingerprint::of_der(b"some certificate");
        let phrase = Catchphrase::of(&fp);
        let typed = phrase.to_string().to_uppercase().replace(' ', " - ");
        assert_eq!(Catchphrase::parse(&typed), Some(phrase));
        assert!(Catchphrase::parse(&typed).is_some_and(|p| p.matches(&fp)));
        assert_eq!(Catchphrase::parse("acorn actor"), None);
        assert_eq!(Catchphrase::parse(&format!("{phrase} acorn")), None);
        assert_eq!(
            Catchphrase::parse("acorn actor adobe album alpine amber anchor xyz"),
            None
        );
    }
}

#![no_main]
//! The PROXY protocol v1/v2 parser on arbitrary bytes. Beyond "no panic": a complete header
//! is within the announced bounds and within the input, is found the same with any bytes after
//! it, and every shorter prefix asks for more (so a header split across reads is never refused
//! half-way); an error stays an error as more bytes arrive.

use gateway::proxy_protocol::{parse, Parsed, V1_MAX_BYTES, V2_MAX_BYTES};
use libfuzzer_sys::fuzz_target;

/// The v2 fixed part: signature, version/command, family, length.
const V2_FIXED: usize = 16;

fuzz_target!(|data: &[u8]| {
    let whole = parse(data);
    match whole {
        Ok(Parsed::Complete { header, len }) => {
            assert!(len <= data.len(), "header of {len} bytes in {} bytes", data.len());
            assert!(len <= V1_MAX_BYTES.max(V2_FIXED + V2_MAX_BYTES), "header of {len} bytes");
            assert_eq!(parse(&data[..len]), Ok(Parsed::Complete { header, len }), "not self-delimiting");
            for cut in 0..len {
                assert_eq!(parse(&data[..cut]), Ok(Parsed::NeedMore), "prefix of {cut} bytes of a valid header");
            }
        }
        Ok(Parsed::NeedMore) => {
            for cut in 0..data.len() {
                assert_eq!(parse(&data[..cut]), Ok(Parsed::NeedMore), "a prefix decided what the whole did not");
            }
        }
        Err(e) => {
            let mut longer = data.to_vec();
            longer.extend_from_slice(b"\r\n\r\n");
            assert!(parse(&longer).is_err(), "{e} went away with more bytes");
        }
    }
});

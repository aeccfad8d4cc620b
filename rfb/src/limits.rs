//! Explicit limits on every size that comes from the wire.

/// Upper bounds checked before anything sized by the peer is allocated.
///
/// The defaults follow what real implementations enforce (TigerVNC caps pixel buffers at
/// 16384², libvncclient rejects names over 1 MiB, QEMU and libvncserver cap cut text at 1 MiB).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest framebuffer width or height accepted from ServerInit or a resize.
    pub max_framebuffer_side: u16,
    /// Largest encoded payload of a single rectangle, in bytes.
    pub max_rect_bytes: usize,
    /// Largest cut-text (clipboard) payload, in bytes.
    pub max_cut_text_bytes: usize,
    /// Largest failure reason or desktop name, in bytes.
    pub max_string_bytes: usize,
    /// Largest number of bytes buffered while waiting for a message to complete.
    pub max_buffered_bytes: usize,
    /// Largest cursor width or height (pseudo-encoding Cursor). TigerVNC caps at 256,
    /// libvncclient below 1024.
    pub max_cursor_side: u16,
    /// Largest output of one rectangle's zlib data (ZRLE, whose size is not known in advance;
    /// Zlib and Tight must inflate to exactly their pixel size, held to `max_rect_bytes`).
    pub max_inflated_bytes: usize,
    /// Largest JPEG image in one rectangle (Tight JPEG, and JPEG encoding 21, which has no
    /// length prefix and is scanned for its end marker).
    pub max_jpeg_bytes: usize,
    /// Most bytes of JPEG images handed to the application and waiting for its painter
    /// ([`crate::client::JpegSource::Application`]).
    pub max_pending_image_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_framebuffer_side: 16384,
            max_rect_bytes: 64 << 20,
            max_cut_text_bytes: 1 << 20,
            max_string_bytes: 64 << 10,
            max_buffered_bytes: 80 << 20,
            max_cursor_side: 512,
            max_inflated_bytes: 128 << 20,
            max_jpeg_bytes: 16 << 20,
            max_pending_image_bytes: 64 << 20,
        }
    }
}

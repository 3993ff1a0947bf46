//! What a device holds, judged from its first bytes with our own reader (DESIGN.md §3).
//! The node formats only a device whose head is all zeros.

/// Bytes to read: enough to see the btrfs superblock at 64 KiB.
pub const HEAD_LEN: usize = 68 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    /// All zeros: safe to format.
    Blank,
    /// A filesystem or other known format, by its usual name ("ext4", "xfs", "btrfs",
    /// "swap", "crypto_LUKS", "gpt", "mbr", "LVM2_member").
    Known(&'static str),
    /// Not zeros and nothing we recognise.
    Unknown,
}

impl Content {
    /// The filesystem name when this is one we can mount.
    pub fn fs(&self) -> Option<&'static str> {
        match self {
            Content::Known(n) if matches!(*n, "ext4" | "xfs") => Some(n),
            _ => None,
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Content::Blank => "nothing (all zeros)".to_string(),
            Content::Known(n) => n.to_string(),
            Content::Unknown => "unrecognised data".to_string(),
        }
    }
}

fn at(head: &[u8], offset: usize, magic: &[u8]) -> bool {
    head.get(offset..offset + magic.len()) == Some(magic)
}

pub fn detect(head: &[u8]) -> Content {
    if at(head, 0, b"LUKS\xba\xbe") {
        return Content::Known("crypto_LUKS");
    }
    if at(head, 0, b"XFSB") {
        return Content::Known("xfs");
    }
    // ext2/3/4: s_magic 0xEF53 (little-endian) at 1024 + 56.
    if at(head, 1080, &[0x53, 0xEF]) {
        return Content::Known("ext4");
    }
    if at(head, 65600, b"_BHRfS_M") {
        return Content::Known("btrfs");
    }
    if at(head, 4086, b"SWAPSPACE2") || at(head, 4086, b"SWAP-SPACE") {
        return Content::Known("swap");
    }
    if at(head, 512, b"EFI PART") {
        return Content::Known("gpt");
    }
    // LVM2 label: "LABELONE" in one of the first four sectors.
    if (0..4).any(|s| at(head, s * 512, b"LABELONE")) {
        return Content::Known("LVM2_member");
    }
    if at(head, 510, &[0x55, 0xAA]) {
        return Content::Known("mbr");
    }
    if head.iter().all(|b| *b == 0) {
        Content::Blank
    } else {
        Content::Unknown
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(offset: usize, magic: &[u8]) -> Vec<u8> {
        let mut v = vec![0u8; HEAD_LEN];
        v[offset..offset + magic.len()].copy_from_slice(magic);
        v
    }

    #[test]
    fn recognises_every_signature_in_the_design() {
        assert_eq!(detect(&with(1080, &[0x53, 0xEF])), Content::Known("ext4"));
        assert_eq!(detect(&with(0, b"XFSB")), Content::Known("xfs"));
        assert_eq!(detect(&with(65600, b"_BHRfS_M")), Content::Known("btrfs"));
        assert_eq!(detect(&with(0, b"LUKS\xba\xbe")), Content::Known("crypto_LUKS"));
        assert_eq!(detect(&with(4086, b"SWAPSPACE2")), Content::Known("swap"));
        assert_eq!(detect(&with(512, b"EFI PART")), Content::Known("gpt"));
        assert_eq!(detect(&with(510, &[0x55, 0xAA])), Content::Known("mbr"));
        assert_eq!(detect(&with(512, b"LABELONE")), Content::Known("LVM2_member"));
        assert_eq!(detect(&with(1536, b"LABELONE")), Content::Known("LVM2_member"));
    }

    #[test]
    fn zeros_are_blank_anything_else_unknown() {
        assert_eq!(detect(&vec![0u8; HEAD_LEN]), Content::Blank);
        assert_eq!(detect(&[]), Content::Blank);
        assert_eq!(detect(&with(40000, b"\x01")), Content::Unknown);
        assert_eq!(Content::Known("xfs").fs(), Some("xfs"));
        assert_eq!(Content::Known("btrfs").fs(), None);
    }
}

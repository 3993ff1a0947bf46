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

/// The size in bytes of the ext2/3/4 or xfs filesystem whose superblock `head`
/// holds, from the superblock itself (statvfs leaves out ext4's metadata, so it
/// cannot say whether the filesystem fills its device).
pub fn fs_bytes(head: &[u8]) -> Option<u64> {
    let le32 = |o: usize| head.get(o..o + 4).map(|b| u64::from(u32::from_le_bytes([b[0], b[1], b[2], b[3]])));
    let be = |o: usize, n: usize| head.get(o..o + n).map(|b| b.iter().fold(0u64, |acc, x| acc << 8 | u64::from(*x)));
    match detect(head) {
        Content::Known("ext4") => {
            // struct ext4_super_block at 1024: s_blocks_count_lo @4, s_log_block_size
            // @24, s_feature_incompat @96 (0x80: 64bit), s_blocks_count_hi @0x150.
            let sb = 1024;
            let hi = if le32(sb + 96)? & 0x80 != 0 { le32(sb + 0x150)? } else { 0 };
            let blocks = hi << 32 | le32(sb + 4)?;
            Some(blocks << (10 + le32(sb + 24)?.min(16)))
        }
        // struct xfs_sb (big-endian): sb_blocksize @4 (u32), sb_dblocks @8 (u64).
        Content::Known("xfs") => Some(be(4, 4)? * be(8, 8)?),
        _ => None,
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

    /// A filesystem made by the real mkfs on a file: the superblock says its size.
    #[test]
    fn reads_the_size_of_a_real_ext4_and_xfs() {
        let dir = std::env::temp_dir().join(format!("rbd-csi-probe-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for (fs, size, args) in [
            ("ext4", 64u64 << 20, &["-q", "-F"][..]),
            ("ext4", 300 << 20, &["-q", "-F", "-O", "64bit", "-b", "1024"][..]),
            ("xfs", 320 << 20, &["-q", "-f"][..]),
        ] {
            let img = dir.join(format!("{fs}.img"));
            let _ = std::fs::remove_file(&img);
            std::fs::File::create(&img).unwrap().set_len(size).unwrap();
            let made = std::process::Command::new(format!("mkfs.{fs}")).args(args).arg(&img).status().unwrap();
            assert!(made.success(), "mkfs.{fs}");
            let mut head = vec![0u8; HEAD_LEN];
            use std::io::Read;
            std::fs::File::open(&img).unwrap().read_exact(&mut head).unwrap();
            assert_eq!(fs_bytes(&head), Some(size), "{fs} {args:?}");
            std::fs::File::options().write(true).open(&img).unwrap().set_len(size * 2).unwrap();
            assert_eq!(fs_bytes(&head), Some(size), "the superblock, not the file, says");
        }
        assert_eq!(fs_bytes(&[0u8; HEAD_LEN]), None);
        std::fs::remove_dir_all(&dir).unwrap();
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

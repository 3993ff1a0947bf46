//! ceph-csi's `image-meta.json`: the note its node plugin keeps beside a stage, at
//! `<staging_target_path>/image-meta.json`, naming the mapped image (the stage itself
//! is the mount at `<staging_target_path>/<volume id>`). NodeUnstage carries only the
//! volume id and the staging path, so this note is how either driver's node finds the
//! image the other one mapped.
//!
//! Format as ceph-csi v3.12.2 writes it (internal/rbd/rbd_util.go,
//! `rbdImageMetadataStash`, Version 3): a JSON object with `Version`, `pool`,
//! `radosNamespace`, `image`, `unmapOptions`, `accessType` (true: rbd-nbd),
//! `encrypted`, `device` (nbd only), `logDir`, `logFileStrategy`. Older versions wrote
//! a subset; a missing key reads as empty.

use std::path::{Path, PathBuf};

use crate::error::Error;
use crate::jsonparse::{self, Json};

pub const FILE_NAME: &str = "image-meta.json";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageMeta {
    pub pool: String,
    pub namespace: String,
    pub image: String,
    /// ceph-csi's `unmapOptions` for krbd ("force", or empty).
    pub unmap_options: String,
    /// Mapped through rbd-nbd (`accessType`): a userspace device this node cannot unmap.
    pub nbd: bool,
    /// LUKS inside the image (`encrypted`): a dm-crypt device on top of the mapping.
    pub encrypted: bool,
}

pub fn path(staging: &Path) -> PathBuf {
    staging.join(FILE_NAME)
}

impl ImageMeta {
    /// The note as ceph-csi writes it (its key order, Version 3).
    pub fn encode(&self) -> String {
        let mut out = String::from("{\"Version\":3");
        for (key, value) in [
            ("pool", &self.pool),
            ("radosNamespace", &self.namespace),
            ("image", &self.image),
            ("unmapOptions", &self.unmap_options),
        ] {
            out.push_str(&format!(",\"{key}\":"));
            crate::json::write_str(&mut out, value);
        }
        out.push_str(&format!(
            ",\"accessType\":{},\"encrypted\":{},\"device\":\"\",\"logDir\":\"\",\"logFileStrategy\":\"\"}}",
            self.nbd, self.encrypted
        ));
        out
    }

    pub fn decode(text: &str) -> Result<ImageMeta, String> {
        let json = jsonparse::parse(text).map_err(|e| e.to_string())?;
        if !matches!(json, Json::Obj(_)) {
            return Err("not a JSON object".into());
        }
        let flag = |key: &str| matches!(json.get(key), Some(Json::Bool(true)));
        let meta = ImageMeta {
            pool: json.str_at("pool").to_string(),
            namespace: json.str_at("radosNamespace").to_string(),
            image: json.str_at("image").to_string(),
            unmap_options: json.str_at("unmapOptions").to_string(),
            nbd: flag("accessType"),
            encrypted: flag("encrypted"),
        };
        if meta.pool.is_empty() || meta.image.is_empty() {
            return Err("it names no pool or no image".into());
        }
        Ok(meta)
    }
}

/// Writes the note into `staging` (crash-safe: a temp file renamed over it; never
/// through a symlink).
pub fn write(staging: &Path, meta: &ImageMeta) -> Result<(), Error> {
    crate::sys::paths::write_file(&path(staging), meta.encode().as_bytes())
}

/// The note in `staging`, if there is one.
pub fn read(staging: &Path) -> Result<Option<ImageMeta>, Error> {
    let file = path(staging);
    let text = match crate::sys::paths::read_file(&file) {
        Ok(Some(bytes)) => String::from_utf8_lossy(&bytes).into_owned(),
        Ok(None) => return Ok(None),
        Err(e) => return Err(e),
    };
    ImageMeta::decode(&text)
        .map(Some)
        .map_err(|e| Error::FailedPrecondition(format!("{} cannot be read: {e}", file.display())))
}

/// Removes the note; "not there" is success.
pub fn remove(staging: &Path) -> Result<(), Error> {
    let file = path(staging);
    match std::fs::remove_file(&file) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io("remove", &file, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_ceph_csi_writes_and_writes_what_it_reads() {
        // Verbatim shape of ceph-csi v3.12.2's json.Marshal of rbdImageMetadataStash.
        let theirs = r#"{"Version":3,"pool":"rbd","radosNamespace":"ns1","image":"csi-vol-5e97a3c4-abcd-446a-9401-87ed4abb59bd","unmapOptions":"force","accessType":false,"encrypted":false,"device":"","logDir":"","logFileStrategy":""}"#;
        let meta = ImageMeta::decode(theirs).unwrap();
        assert_eq!(meta.pool, "rbd");
        assert_eq!(meta.namespace, "ns1");
        assert_eq!(meta.image, "csi-vol-5e97a3c4-abcd-446a-9401-87ed4abb59bd");
        assert_eq!(meta.unmap_options, "force");
        assert!(!meta.nbd && !meta.encrypted);
        assert_eq!(meta.encode(), theirs, "byte for byte what ceph-csi writes");

        let nbd = ImageMeta::decode(r#"{"Version":2,"pool":"p","image":"i","accessType":true}"#).unwrap();
        assert!(nbd.nbd);
        assert_eq!(nbd.namespace, "", "older versions lack radosNamespace");
        assert!(ImageMeta::decode(r#"{"Version":3,"pool":"p"}"#).is_err());
        assert!(ImageMeta::decode("[1]").is_err());
        assert!(ImageMeta::decode("{").is_err());
        let odd = ImageMeta { image: "a\"b\\c".into(), ..meta };
        assert_eq!(ImageMeta::decode(&odd.encode()).unwrap(), odd, "quotes survive the round trip");
    }

    #[test]
    fn writes_reads_and_removes_the_note_in_a_directory() {
        let d = std::env::temp_dir().join(format!("rbd-csi-image-meta-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        assert_eq!(read(&d).unwrap(), None);
        let meta = ImageMeta {
            pool: "rbd".into(),
            namespace: String::new(),
            image: "csi-vol-x".into(),
            unmap_options: String::new(),
            nbd: false,
            encrypted: false,
        };
        write(&d, &meta).unwrap();
        assert_eq!(read(&d).unwrap(), Some(meta));
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(path(&d)).unwrap().permissions().mode() & 0o777, 0o600);
        remove(&d).unwrap();
        remove(&d).unwrap();
        assert_eq!(read(&d).unwrap(), None);
        std::fs::write(path(&d), "garbage").unwrap();
        assert!(matches!(read(&d), Err(Error::FailedPrecondition(_))));
        std::fs::remove_dir_all(&d).unwrap();
    }
}

//! The stash: what this node keeps of each volume it stages, one small file per volume
//! under `<data-dir>/node/`, written crash-safely through kvfile. This module owns the
//! stash's fields and their names on disk (older stashes still read: they lack
//! `devno` and `point`); the node code reads and writes `Stash` values only. It must
//! not decide anything about mounts or devices: node/mod.rs does.

use std::path::{Path, PathBuf};

use crate::kvfile::Record;
use crate::sys::DevId;

/// How far a stage got: attached → (formatting →) staged. Written before each step,
/// so a retry after a crash knows what the dead call was doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// The device is attached; nothing formatted or mounted by this stage yet.
    Attached,
    /// Our own mkfs of the device began: a retry formats again whatever it finds.
    Formatting,
    /// Mounted (or, for block access, bound) and usable by publishes.
    Staged,
}

impl Phase {
    fn as_str(self) -> &'static str {
        match self {
            Phase::Attached => "attached",
            Phase::Formatting => "formatting",
            Phase::Staged => "staged",
        }
    }

    fn parse(s: &str) -> Option<Phase> {
        [Phase::Attached, Phase::Formatting, Phase::Staged].into_iter().find(|p| p.as_str() == s)
    }
}

/// How the stage presents the volume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum StagedAs {
    Block,
    /// A filesystem of type `fs` (as mountinfo names it: a stage taken over from
    /// another driver may hold any).
    Mount {
        fs: String,
    },
}

/// A publish this node made of the volume: written before the bind, so a retry knows
/// what the dead call meant to make, and NodeUnpublish removes only a target the
/// driver made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Published {
    pub target: PathBuf,
    pub read_only: bool,
}

/// What the node knows of one staged volume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Stash {
    pub volume_id: String,
    /// The device the volume was attached as.
    pub device: PathBuf,
    /// That device's number when it was staged (it holds even when the node is gone;
    /// stashes written before numbers were recorded have none).
    pub devno: Option<DevId>,
    /// The CO's staging_target_path.
    pub staging: Option<PathBuf>,
    /// Where the stage is mounted: the staging path, or in the nested layout
    /// `<staging>/<volume id>` (older stashes: none, meaning the staging path).
    pub point: Option<PathBuf>,
    pub access: Option<StagedAs>,
    pub phase: Option<Phase>,
    pub published: Vec<Published>,
}

// The stash's keys on disk. Renaming one loses what running nodes wrote.
const VOLUME_ID: &str = "volume_id";
const DEVICE: &str = "device";
const DEVNO: &str = "devno";
const STAGING: &str = "staging";
const POINT: &str = "point";
const ACCESS: &str = "access";
const FS: &str = "fs";
const PHASE: &str = "phase";
/// One publish a line: `ro <target>` or `rw <target>` (paths hold no control
/// characters: validated).
const PUBLISHED: &str = "published";

impl Stash {
    /// What identifies a volume's device: the fields every stash has.
    pub fn of_device(volume_id: &str, device: &Path, devno: DevId) -> Stash {
        Stash {
            volume_id: volume_id.to_string(),
            device: device.to_path_buf(),
            devno: Some(devno),
            staging: None,
            point: None,
            access: None,
            phase: None,
            published: Vec::new(),
        }
    }

    /// The fields every stash of a stage has: its device, staging path and point.
    pub fn of_stage(volume_id: &str, staging: &Path, point: &Path, device: &Path, devno: DevId) -> Stash {
        Stash {
            staging: Some(staging.to_path_buf()),
            point: Some(point.to_path_buf()),
            ..Stash::of_device(volume_id, device, devno)
        }
    }

    pub fn is_staged(&self) -> bool {
        self.phase == Some(Phase::Staged)
    }

    /// Whether the stage is of block access; None when the stash does not say.
    pub fn is_block(&self) -> Option<bool> {
        self.access.as_ref().map(|a| *a == StagedAs::Block)
    }

    /// Where the stash says the stage is mounted (older stashes: the staging path).
    pub fn recorded_point(&self) -> Option<&Path> {
        self.point.as_deref().or(self.staging.as_deref())
    }

    /// The stash in a file's record; None when it lacks the volume or the device
    /// (nothing this driver wrote).
    pub fn decode(rec: &Record) -> Option<Stash> {
        let path = |key| rec.get(key).map(PathBuf::from);
        let access = match rec.get(ACCESS).map(String::as_str) {
            Some("block") => Some(StagedAs::Block),
            Some("mount") => Some(StagedAs::Mount { fs: rec.get(FS).cloned().unwrap_or_default() }),
            _ => None,
        };
        let published = rec.get(PUBLISHED).map(String::as_str).unwrap_or("").lines();
        Some(Stash {
            volume_id: rec.get(VOLUME_ID)?.clone(),
            device: path(DEVICE)?,
            devno: rec.get(DEVNO).and_then(|d| parse_devno(d)),
            staging: path(STAGING),
            point: path(POINT),
            access,
            phase: rec.get(PHASE).and_then(|p| Phase::parse(p)),
            published: published
                .filter_map(|l| {
                    let (mode, target) = l.split_once(' ')?;
                    Some(Published { target: PathBuf::from(target), read_only: mode == "ro" })
                })
                .collect(),
        })
    }

    /// The record written to the stash's file.
    pub fn encode(&self) -> Record {
        let mut rec = Record::new();
        let mut put = |key: &str, value: String| rec.insert(key.to_string(), value);
        put(VOLUME_ID, self.volume_id.clone());
        put(DEVICE, self.device.display().to_string());
        if let Some(d) = self.devno {
            put(DEVNO, format!("{}:{}", d.major, d.minor));
        }
        for (key, path) in [(STAGING, &self.staging), (POINT, &self.point)] {
            if let Some(p) = path {
                put(key, p.display().to_string());
            }
        }
        match &self.access {
            Some(StagedAs::Block) => {
                put(ACCESS, "block".into());
            }
            Some(StagedAs::Mount { fs }) => {
                put(ACCESS, "mount".into());
                put(FS, fs.clone());
            }
            None => {}
        }
        if let Some(p) = self.phase {
            put(PHASE, p.as_str().into());
        }
        if !self.published.is_empty() {
            let lines: Vec<String> = self
                .published
                .iter()
                .map(|p| format!("{} {}", if p.read_only { "ro" } else { "rw" }, p.target.display()))
                .collect();
            put(PUBLISHED, lines.join("\n"));
        }
        rec
    }
}

/// "major:minor".
fn parse_devno(s: &str) -> Option<DevId> {
    let (major, minor) = s.split_once(':')?;
    Some(DevId { major: major.parse().ok()?, minor: minor.parse().ok()? })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(pairs: &[(&str, &str)]) -> Record {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn a_stash_is_written_under_the_keys_running_nodes_wrote() {
        let mut s = Stash::of_stage(
            "v1",
            Path::new("/s"),
            Path::new("/s/v1"),
            Path::new("/dev/rbd0"),
            DevId { major: 252, minor: 0 },
        );
        s.access = Some(StagedAs::Mount { fs: "xfs".into() });
        s.phase = Some(Phase::Staged);
        s.published = vec![
            Published { target: "/t/a".into(), read_only: true },
            Published { target: "/t/b".into(), read_only: false },
        ];
        let want = record(&[
            ("volume_id", "v1"),
            ("device", "/dev/rbd0"),
            ("devno", "252:0"),
            ("staging", "/s"),
            ("point", "/s/v1"),
            ("access", "mount"),
            ("fs", "xfs"),
            ("phase", "staged"),
            ("published", "ro /t/a\nrw /t/b"),
        ]);
        assert_eq!(s.encode(), want);
        assert_eq!(Stash::decode(&want), Some(s));
    }

    #[test]
    fn older_and_partial_stashes_read() {
        // Before device numbers and points were recorded.
        let old = Stash::decode(&record(&[
            ("volume_id", "v1"),
            ("device", "/dev/loop5"),
            ("staging", "/s"),
            ("access", "block"),
            ("phase", "formatting"),
        ]))
        .unwrap();
        assert_eq!((old.devno, old.point.as_deref()), (None, None));
        assert_eq!(old.recorded_point(), Some(Path::new("/s")));
        assert_eq!((old.is_block(), old.phase, old.is_staged()), (Some(true), Some(Phase::Formatting), false));
        // A phase or devno this version does not know reads as none.
        let odd = Stash::decode(&record(&[("volume_id", "v"), ("device", "/d"), ("phase", "x"), ("devno", "1")]));
        assert_eq!(odd.map(|s| (s.phase, s.devno, s.is_block())), Some((None, None, None)));
        // Without a volume or a device it is not a stash.
        assert_eq!(Stash::decode(&record(&[("volume_id", "v")])), None);
        assert_eq!(Stash::decode(&record(&[("device", "/d")])), None);
    }
}

//! Small crash-safe state files: `key=value` lines, written to a temp file, fsynced
//! and renamed into place (then the directory is fsynced). Values may hold any text:
//! backslash, newline and carriage return are escaped.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;

use crate::error::Error;

pub type Record = BTreeMap<String, String>;

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\").replace('\n', "\\n").replace('\r', "\\r")
}

fn unescape(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    let mut chars = v.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('n') => out.push('\n'),
                Some('r') => out.push('\r'),
                Some(other) => out.push(other),
                None => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Writes `rec` to `path` atomically and durably.
pub fn write(path: &Path, rec: &Record) -> Result<(), Error> {
    let mut text = String::new();
    for (k, v) in rec {
        text.push_str(k);
        text.push('=');
        text.push_str(&escape(v));
        text.push('\n');
    }
    let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&tmp)
        .map_err(|e| Error::io("create", &tmp, e))?;
    f.write_all(text.as_bytes()).map_err(|e| Error::io("write", &tmp, e))?;
    f.sync_all().map_err(|e| Error::io("fsync", &tmp, e))?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(|e| Error::io("rename", path, e))?;
    sync_dir(path)
}

/// fsyncs the directory holding `path`, so a rename or unlink in it is durable.
pub fn sync_dir(path: &Path) -> Result<(), Error> {
    if let Some(dir) = path.parent() {
        let d = File::open(dir).map_err(|e| Error::io("open", dir, e))?;
        d.sync_all().map_err(|e| Error::io("fsync", dir, e))?;
    }
    Ok(())
}

/// Removes the temp files of writes a crash cut short (`<name>.tmp.<pid>`) from
/// `dir`: the record they were to replace is still whole.
pub fn remove_leftovers(dir: &Path) {
    remove_where(dir, |name| name.contains(".tmp."), "left by an interrupted write");
}

/// Removes the files of `dir` whose names `pick` accepts, saying `why` in the log.
pub fn remove_where(dir: &Path, pick: impl Fn(&str) -> bool, why: &str) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        if pick(&e.file_name().to_string_lossy()) {
            log::info!("removing {}, {why}", e.path().display());
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// Reads a record; `Ok(None)` when the file does not exist.
pub fn read(path: &Path) -> Result<Option<Record>, Error> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io("read", path, e)),
    };
    let mut rec = Record::new();
    for line in text.lines() {
        if let Some((k, v)) = line.split_once('=') {
            rec.insert(k.to_string(), unescape(v));
        }
    }
    Ok(Some(rec))
}

/// Removes `path` durably; a missing file is fine.
pub fn remove(path: &Path) -> Result<(), Error> {
    match std::fs::remove_file(path) {
        Ok(()) => sync_dir(path),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io("unlink", path, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_awkward_values_and_leaves_no_temp_file() {
        let dir = std::env::temp_dir().join(format!("kvfile-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("rec");
        let mut r = Record::new();
        r.insert("name".into(), "a=b\nc\\d\r".into());
        r.insert("size".into(), "1048576".into());
        write(&p, &r).unwrap();
        assert_eq!(read(&p).unwrap(), Some(r));
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
        remove(&p).unwrap();
        remove(&p).unwrap();
        assert_eq!(read(&p).unwrap(), None);
        std::fs::write(dir.join("rec.tmp.123"), "x").unwrap();
        remove_leftovers(&dir);
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

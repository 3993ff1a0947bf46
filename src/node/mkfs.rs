//! mkfs: the only thing the node formats with, and the `mkfsOptions` (ceph-csi's
//! StorageClass parameter) it accepts. Options go to mkfs.ext4 / mkfs.xfs only from
//! an allowlist: options that shape the filesystem, never ones that read or write a
//! host path (mke2fs `-d DIR`, `-z UNDO`, `-l FILE`; mkfs.xfs `-p PROTO`,
//! `-d name=`, `-l logdev=`, `-r rtdev=`, `-c options=`) or that change what mkfs
//! does (`-n`, `-S`, `-N` dry runs).

use std::path::Path;
use std::time::Duration;

use crate::error::{quote, Error, NodeError};
use crate::exec::{Cmd, Runner};
use crate::sys::FsKind;

/// What an allowed flag takes.
enum Value {
    /// Nothing (`-q`).
    None,
    /// A decimal number, optionally with a k/m/g suffix.
    Number,
    /// A comma-separated list of `key` or `key=value` from these keys (values are
    /// numbers or words, never paths).
    Keys(&'static [&'static str]),
    /// A short word: a label, a usage type, a feature list (letters, digits, `_-^,.:`).
    Word,
}

fn ext4_flag(flag: char) -> Option<Value> {
    Some(match flag {
        'q' | 'j' | 'F' => Value::None,
        'm' | 'i' | 'I' | 'N' | 'b' | 'g' | 'G' => Value::Number,
        'E' => Value::Keys(&[
            "lazy_itable_init",
            "lazy_journal_init",
            "nodiscard",
            "discard",
            "stride",
            "stripe_width",
            "stripe-width",
            "packed_meta_blocks",
            "num_backup_sb",
            "resize",
            "assume_storage_prezeroed",
        ]),
        'J' => Value::Keys(&["size"]),
        'O' | 'L' | 'T' | 'U' | 'e' => Value::Word,
        _ => return None,
    })
}

fn xfs_flag(flag: char) -> Option<Value> {
    Some(match flag {
        'K' | 'q' | 'f' => Value::None,
        'b' => Value::Keys(&["size"]),
        'm' => Value::Keys(&["crc", "finobt", "reflink", "bigtime", "inobtcount", "rmapbt", "uuid"]),
        'i' => Value::Keys(&["size", "maxpct", "align", "sparse", "attr", "projid32bit", "nrext64"]),
        'd' => Value::Keys(&["agcount", "agsize", "su", "sw", "sunit", "swidth", "noalign"]),
        'l' => Value::Keys(&["size", "version", "sunit", "su", "lazy-count"]),
        'n' => Value::Keys(&["size", "version", "ftype"]),
        's' => Value::Keys(&["size"]),
        'L' => Value::Word,
        _ => return None,
    })
}

fn is_number(v: &str) -> bool {
    let digits = v.strip_suffix(['k', 'K', 'm', 'M', 'g', 'G']).unwrap_or(v);
    !digits.is_empty() && digits.len() <= 20 && digits.bytes().all(|b| b.is_ascii_digit())
}

fn is_word(v: &str) -> bool {
    !v.is_empty() && v.len() <= 64 && v.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-^,.:".contains(&b))
}

fn check_value(fs: FsKind, flag: char, kind: &Value, v: &str) -> Result<(), Error> {
    let bad = |why: String| Error::invalid(format!("mkfsOptions for {}: -{flag} {}: {why}", fs.as_str(), quote(v, 40)));
    if flag == 'e' && v == "panic" {
        return Err(bad("a damaged volume would take the whole node down".into()));
    }
    match kind {
        Value::None => Ok(()),
        Value::Number if is_number(v) => Ok(()),
        Value::Number => Err(bad("a number is expected".into())),
        Value::Word if is_word(v) => Ok(()),
        Value::Word => Err(bad("letters, digits and _-^,.: only".into())),
        Value::Keys(keys) => {
            for part in v.split(',') {
                let (k, val) = part.split_once('=').unwrap_or((part, ""));
                if !keys.contains(&k) {
                    return Err(bad(format!("{} is not allowed (allowed: {})", quote(k, 40), keys.join(", "))));
                }
                if !val.is_empty() && !is_word(val) {
                    return Err(bad(format!("value {} is not allowed", quote(val, 40))));
                }
            }
            Ok(())
        }
    }
}

/// Checks `mkfsOptions` for `fs`; the error names the option and says what is allowed.
pub fn check_options(fs: FsKind, options: &str) -> Result<Vec<String>, Error> {
    let mut out = Vec::new();
    let mut words = options.split_whitespace();
    while let Some(word) = words.next() {
        let mut chars = word.chars();
        let (Some('-'), Some(flag)) = (chars.next(), chars.next()) else {
            return Err(Error::invalid(format!(
                "mkfsOptions for {}: {} is not an option (the device is given by the driver)",
                fs.as_str(),
                quote(word, 40)
            )));
        };
        let Some(kind) = (match fs {
            FsKind::Ext4 => ext4_flag(flag),
            FsKind::Xfs => xfs_flag(flag),
        }) else {
            return Err(Error::invalid(format!(
                "mkfsOptions for {}: -{flag} is not allowed (it is not one that only shapes the filesystem)",
                fs.as_str()
            )));
        };
        out.push(format!("-{flag}"));
        if matches!(kind, Value::None) {
            if chars.as_str().is_empty() {
                continue;
            }
            return Err(Error::invalid(format!("mkfsOptions for {}: -{flag} takes no value", fs.as_str())));
        }
        let value = match chars.as_str() {
            "" => words
                .next()
                .ok_or_else(|| Error::invalid(format!("mkfsOptions for {}: -{flag} needs a value", fs.as_str())))?,
            attached => attached,
        };
        check_value(fs, flag, &kind, value)?;
        out.push(value.to_string());
    }
    Ok(out)
}

/// The arguments mkfs gets when the volume context gives no `mkfsOptions`.
fn defaults(fs: FsKind) -> Vec<String> {
    match fs {
        FsKind::Ext4 => ["-m0", "-E", "nodiscard,lazy_itable_init=1,lazy_journal_init=1"].map(String::from).to_vec(),
        FsKind::Xfs => vec!["-K".to_string()],
    }
}

/// Formats `device` as `fs`.
pub fn run(runner: &dyn Runner, device: &Path, fs: FsKind, options: Option<&str>) -> Result<(), Error> {
    let dev = device.display().to_string();
    let mut args = match options {
        Some(opts) => check_options(fs, opts)?,
        None => defaults(fs),
    };
    args.insert(0, if fs == FsKind::Ext4 { "-F".to_string() } else { "-f".to_string() });
    args.push(dev.clone());
    let mut cmd = Cmd::new(&format!("mkfs.{}", fs.as_str()), &[]);
    cmd.args = args;
    cmd.timeout = Duration::from_secs(600);
    let out = runner.run(&cmd)?;
    if out.status != 0 {
        let (command, stderr) = (cmd.display(), out.stderr.trim().to_string());
        return Err(NodeError::MkfsFailed { command, status: out.status, stderr }.into());
    }
    log::info!("formatted {dev} as {}", fs.as_str());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shaping_options_pass_and_host_paths_never_do() {
        let ok = |fs, o: &str| check_options(fs, o).unwrap_or_else(|e| panic!("{o}: {e}"));
        assert_eq!(
            ok(FsKind::Ext4, "-m0 -E lazy_itable_init=1,nodiscard"),
            ["-m", "0", "-E", "lazy_itable_init=1,nodiscard"]
        );
        ok(FsKind::Ext4, "-i 65536 -N 1000 -b 4096 -O ^metadata_csum -L data -J size=16");
        ok(FsKind::Xfs, "-K -b size=4096 -m crc=1,reflink=1 -d agcount=4 -L data");
        for (fs, bad) in [
            (FsKind::Ext4, "-d /etc"),
            (FsKind::Ext4, "-z /tmp/undo"),
            (FsKind::Ext4, "-l /tmp/badblocks"),
            (FsKind::Ext4, "-E root_owner=0:0"),
            (FsKind::Ext4, "-J device=/dev/sda"),
            (FsKind::Ext4, "-S"),
            (FsKind::Ext4, "-n"),
            (FsKind::Ext4, "-m"),
            (FsKind::Ext4, "-L ../../x"),
            (FsKind::Ext4, "-e panic"),
            (FsKind::Ext4, "/dev/sda"),
            (FsKind::Ext4, "; rm -rf /"),
            (FsKind::Xfs, "-p /etc/protofile"),
            (FsKind::Xfs, "-d name=/tmp/img"),
            (FsKind::Xfs, "-l logdev=/dev/sda"),
            (FsKind::Xfs, "-r rtdev=/dev/sda"),
            (FsKind::Xfs, "-c options=/etc/x"),
            (FsKind::Xfs, "-N"),
            (FsKind::Xfs, "-Kx"),
        ] {
            assert!(matches!(check_options(fs, bad), Err(Error::InvalidArgument(_))), "{bad}");
        }
    }
}

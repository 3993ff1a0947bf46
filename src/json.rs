//! Protobuf message → JSON, through protobuf's reflection. Used by the CLI client to
//! print replies and by the RPC layer to fingerprint requests (map keys are sorted, so
//! two identical requests give the same text whatever their map order).
//!
//! Field names are the proto names (snake_case); fields at their default value are
//! left out (as protojson does); 64-bit integers are JSON numbers; wrapper types
//! (google.protobuf.BoolValue, Int64Value) print as their bare value.

use std::fmt::Write;

use protobuf::reflect::{ReflectFieldRef, ReflectValueRef};
use protobuf::MessageDyn;

/// Compact JSON for `msg`.
pub fn to_json(msg: &dyn MessageDyn) -> String {
    let mut out = String::new();
    write_message(&mut out, msg);
    out
}

fn write_message(out: &mut String, msg: &dyn MessageDyn) {
    let desc = msg.descriptor_dyn();
    if desc.full_name().starts_with("google.protobuf.") && desc.full_name().ends_with("Value") {
        if let Some(field) = desc.field_by_name("value") {
            match field.get_singular(msg) {
                Some(v) => write_value(out, &v),
                None => write_value(out, &field.get_singular_field_or_default(msg)),
            }
            return;
        }
    }
    out.push('{');
    let mut first = true;
    for field in desc.fields() {
        let mut entry = String::new();
        match field.get_reflect(msg) {
            ReflectFieldRef::Optional(o) => match o.value() {
                Some(v) => write_value(&mut entry, &v),
                None => continue,
            },
            ReflectFieldRef::Repeated(r) => {
                if r.is_empty() {
                    continue;
                }
                entry.push('[');
                for i in 0..r.len() {
                    if i > 0 {
                        entry.push(',');
                    }
                    write_value(&mut entry, &r.get(i));
                }
                entry.push(']');
            }
            ReflectFieldRef::Map(m) => {
                if m.is_empty() {
                    continue;
                }
                let mut pairs: Vec<(String, String)> = Vec::new();
                for (k, v) in &m {
                    let key = match k {
                        ReflectValueRef::String(s) => s.to_string(),
                        other => other.to_string(),
                    };
                    let mut val = String::new();
                    write_value(&mut val, &v);
                    pairs.push((key, val));
                }
                pairs.sort();
                entry.push('{');
                for (i, (k, v)) in pairs.iter().enumerate() {
                    if i > 0 {
                        entry.push(',');
                    }
                    write_str(&mut entry, k);
                    entry.push(':');
                    entry.push_str(v);
                }
                entry.push('}');
            }
        }
        if !first {
            out.push(',');
        }
        first = false;
        write_str(out, field.name());
        out.push(':');
        out.push_str(&entry);
    }
    out.push('}');
}

fn write_value(out: &mut String, v: &ReflectValueRef<'_>) {
    match v {
        ReflectValueRef::U32(n) => {
            let _ = write!(out, "{n}");
        }
        ReflectValueRef::U64(n) => {
            let _ = write!(out, "{n}");
        }
        ReflectValueRef::I32(n) => {
            let _ = write!(out, "{n}");
        }
        ReflectValueRef::I64(n) => {
            let _ = write!(out, "{n}");
        }
        ReflectValueRef::F32(n) => {
            let _ = write!(out, "{n}");
        }
        ReflectValueRef::F64(n) => {
            let _ = write!(out, "{n}");
        }
        ReflectValueRef::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        ReflectValueRef::String(s) => write_str(out, s),
        ReflectValueRef::Bytes(b) => {
            out.push('"');
            for byte in b.iter() {
                let _ = write!(out, "{byte:02x}");
            }
            out.push('"');
        }
        ReflectValueRef::Enum(desc, n) => match desc.value_by_number(*n) {
            Some(v) => write_str(out, v.name()),
            None => {
                let _ = write!(out, "{n}");
            }
        },
        ReflectValueRef::Message(m) => write_message(out, &**m),
    }
}

/// A JSON string literal.
pub fn write_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::csi;

    #[test]
    fn prints_nested_messages_enums_maps_sorted_and_skips_defaults() {
        let mut req = csi::NodeStageVolumeRequest::new();
        req.volume_id = "v\"1".into();
        req.volume_context.insert("b".into(), "2".into());
        req.volume_context.insert("a".into(), "1".into());
        let mut cap = csi::VolumeCapability::new();
        let mut mount = csi::volume_capability::MountVolume::new();
        mount.fs_type = "ext4".into();
        mount.mount_flags.push("noatime".into());
        cap.set_mount(mount);
        let mut mode = csi::volume_capability::AccessMode::new();
        mode.mode = csi::volume_capability::access_mode::Mode::SINGLE_NODE_WRITER.into();
        cap.access_mode = protobuf::MessageField::some(mode);
        req.volume_capability = protobuf::MessageField::some(cap);
        assert_eq!(
            to_json(&req),
            r#"{"volume_id":"v\"1","volume_capability":{"mount":{"fs_type":"ext4","mount_flags":["noatime"]},"access_mode":{"mode":"SINGLE_NODE_WRITER"}},"volume_context":{"a":"1","b":"2"}}"#
        );
    }

    #[test]
    fn wrappers_print_as_bare_values() {
        let mut resp = csi::ProbeResponse::new();
        assert_eq!(to_json(&resp), "{}");
        let mut ready = protobuf::well_known_types::wrappers::BoolValue::new();
        ready.value = true;
        resp.ready = protobuf::MessageField::some(ready);
        assert_eq!(to_json(&resp), r#"{"ready":true}"#);
        resp.ready = protobuf::MessageField::some(protobuf::well_known_types::wrappers::BoolValue::new());
        assert_eq!(to_json(&resp), r#"{"ready":false}"#);
    }

    #[test]
    fn map_order_does_not_change_the_text() {
        let mut a = csi::CreateVolumeRequest::new();
        let mut b = csi::CreateVolumeRequest::new();
        for i in 0..20 {
            a.parameters.insert(format!("k{i}"), format!("v{i}"));
        }
        for i in (0..20).rev() {
            b.parameters.insert(format!("k{i}"), format!("v{i}"));
        }
        assert_eq!(to_json(&a), to_json(&b));
    }
}

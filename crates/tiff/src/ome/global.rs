//! Acquisition-level ("global") metadata in OME-XML, as Python ome-writers writes it:
//! one `MapAnnotation` per namespace in `StructuredAnnotations` (`Namespace` = the
//! namespace, referenced by no image or plane), each top-level key of the value one
//! `<M K="key">` entry whose text is the key's value encoded as JSON the way Python's
//! `json.dumps` does (`", "` and `": "` separators, non-ASCII escaped), so the entries
//! are the same bytes in both libraries. Our annotations have the IDs
//! `Annotation:global:N`, which is how recovery and [`set_in_xml`] find them again.

use ome_writers_backend::{GlobalMetadata, RESERVED_NAMESPACES};
use quick_xml::events::Event;
use serde_json::Value;

use super::{MapAnnotation, MapEntry, MapValue, xml_safe};
use crate::error::TiffError;

/// ID prefix of the global metadata annotations.
pub(crate) const GLOBAL_ID_PREFIX: &str = "Annotation:global:";

/// The name of a JSON value's type, for errors.
pub(crate) fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Refuse a value that is not a JSON object.
pub(crate) fn check_object(namespace: &str, value: &Value) -> Result<(), TiffError> {
    if value.is_object() {
        Ok(())
    } else {
        Err(TiffError::GlobalNotObject {
            namespace: namespace.to_owned(),
            found: json_type(value),
        })
    }
}

/// The annotations of `global`, in the order first set.
pub(super) fn map_annotations(global: &GlobalMetadata) -> impl Iterator<Item = MapAnnotation> {
    global
        .iter()
        .filter(|(ns, _)| !RESERVED_NAMESPACES.contains(ns))
        .enumerate()
        .map(|(i, (ns, value))| annotation(format!("{GLOBAL_ID_PREFIX}{i}"), ns, value))
        .collect::<Vec<_>>()
        .into_iter()
}

fn annotation(id: String, namespace: &str, value: &Value) -> MapAnnotation {
    let entries = value
        .as_object()
        .into_iter()
        .flatten()
        .map(|(key, v)| MapEntry {
            key: xml_safe(key),
            value: python_json(v),
        })
        .collect();
    MapAnnotation {
        id,
        namespace: xml_safe(namespace),
        value: MapValue { entries },
    }
}

/// `json.dumps(value)` as Python writes it.
pub(crate) fn python_json(value: &Value) -> String {
    let mut out = Vec::new();
    let mut ser = serde_json::Serializer::with_formatter(&mut out, PythonFormatter);
    // Serializing a `Value` into memory cannot fail.
    if serde::Serialize::serialize(value, &mut ser).is_err() {
        return String::new();
    }
    String::from_utf8(out).unwrap_or_default()
}

/// Python's `json.dumps` defaults: `", "` and `": "` separators, `ensure_ascii`.
struct PythonFormatter;

impl serde_json::ser::Formatter for PythonFormatter {
    fn begin_array_value<W: ?Sized + std::io::Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        if first {
            Ok(())
        } else {
            writer.write_all(b", ")
        }
    }

    fn begin_object_key<W: ?Sized + std::io::Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        if first {
            Ok(())
        } else {
            writer.write_all(b", ")
        }
    }

    fn begin_object_value<W: ?Sized + std::io::Write>(
        &mut self,
        writer: &mut W,
    ) -> std::io::Result<()> {
        writer.write_all(b": ")
    }

    fn write_string_fragment<W: ?Sized + std::io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> std::io::Result<()> {
        for c in fragment.chars() {
            if c.is_ascii() && c != '\u{7f}' {
                writer.write_all(&[c as u8])?;
            } else {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    write!(writer, "\\u{unit:04x}")?;
                }
            }
        }
        Ok(())
    }
}

/// The global metadata that annotations `(id, namespace, entries)` of a document hold
/// (ours only: IDs `Annotation:global:N`); an entry whose text is not JSON keeps it as
/// a string.
pub(crate) fn from_annotations<'a>(
    maps: impl Iterator<Item = (&'a str, &'a str, Vec<(&'a str, &'a str)>)>,
) -> GlobalMetadata {
    let mut global = GlobalMetadata::default();
    for (id, namespace, entries) in maps {
        if !id.starts_with(GLOBAL_ID_PREFIX) || RESERVED_NAMESPACES.contains(&namespace) {
            continue;
        }
        let object = entries
            .into_iter()
            .map(|(k, v)| {
                let value = serde_json::from_str(v).unwrap_or_else(|_| Value::String(v.to_owned()));
                (k.to_owned(), value)
            })
            .collect();
        global.set(namespace, Value::Object(object));
    }
    global
}

fn xml_error(path: &std::path::Path) -> impl Fn(&dyn std::fmt::Display) -> TiffError + '_ {
    move |e| TiffError::NotFinishedOurs {
        path: path.to_owned(),
        reason: format!("its OME-XML cannot be parsed: {e}"),
    }
}

/// `xml` (a full OME-XML document of ours) with the global annotation of `namespace`
/// set to `value`: replaced where it was, or appended to `StructuredAnnotations`
/// (made, before `</OME>`, if there is none). Everything else is kept byte for byte.
pub(crate) fn set_in_xml(
    path: &std::path::Path,
    xml: &str,
    namespace: &str,
    value: &Value,
) -> Result<String, TiffError> {
    let xml_error = xml_error(path);
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut ids: Vec<String> = Vec::new();
    // Byte ranges of our annotations of this namespace, and their IDs.
    let mut replaced: Vec<(usize, usize, String)> = Vec::new();
    let mut annotations_end = None;
    let mut ome_end = None;
    loop {
        let before = usize::try_from(reader.buffer_position()).unwrap_or(usize::MAX);
        let event = reader.read_event().map_err(|e| xml_error(&e))?;
        match event {
            Event::Eof => break,
            Event::Start(ref e) | Event::Empty(ref e) => {
                let mut id = String::new();
                let mut ns = String::new();
                for attr in e.attributes() {
                    let attr = attr.map_err(|e| xml_error(&e))?;
                    match attr.key.as_ref() {
                        "ID" => {
                            id = attr
                                .normalized_value(quick_xml::XmlVersion::Explicit1_0)
                                .map_err(|e| xml_error(&e))?
                                .into_owned();
                        }
                        "Namespace" => {
                            ns = attr
                                .normalized_value(quick_xml::XmlVersion::Explicit1_0)
                                .map_err(|e| xml_error(&e))?
                                .into_owned();
                        }
                        _ => {}
                    }
                }
                let ours = e.name().as_ref() == "MapAnnotation"
                    && id.starts_with(GLOBAL_ID_PREFIX)
                    && ns == xml_safe(namespace);
                if ours {
                    if matches!(event, Event::Start(_)) {
                        reader.read_to_end(e.name()).map_err(|e| xml_error(&e))?;
                    }
                    let after = usize::try_from(reader.buffer_position()).unwrap_or(usize::MAX);
                    replaced.push((before, after, id.clone()));
                }
                if !id.is_empty() {
                    ids.push(id);
                }
            }
            Event::End(ref e) if e.name().as_ref() == "StructuredAnnotations" => {
                annotations_end = Some(before);
            }
            Event::End(ref e) if e.name().as_ref() == "OME" => ome_end = Some(before),
            _ => {}
        }
    }
    let id = match replaced.first() {
        Some((_, _, id)) => id.clone(),
        // Of the ids.len() + 1 candidates, one is free.
        None => (0..=ids.len())
            .map(|i| format!("{GLOBAL_ID_PREFIX}{i}"))
            .find(|c| !ids.contains(c))
            .unwrap_or_default(),
    };
    let mut element = String::new();
    serde::Serialize::serialize(
        &annotation(id, namespace, value),
        quick_xml::se::Serializer::new(&mut element),
    )?;
    let slice = |from: usize, to: usize| xml.get(from..to).ok_or_else(|| xml_error(&"offsets"));
    let mut out = String::with_capacity(xml.len() + element.len() + 64);
    if let Some(&(first_start, first_end, _)) = replaced.first() {
        // Replaced in place; later duplicates (never written by us) are dropped.
        out.push_str(slice(0, first_start)?);
        out.push_str(&element);
        let mut at = first_end;
        for &(start, end, _) in replaced.iter().skip(1) {
            out.push_str(slice(at, start)?);
            at = end;
        }
        out.push_str(slice(at, xml.len())?);
    } else if let Some(end) = annotations_end {
        out.push_str(slice(0, end)?);
        out.push_str(&element);
        out.push_str(slice(end, xml.len())?);
    } else if let Some(end) = ome_end {
        out.push_str(slice(0, end)?);
        out.push_str("<StructuredAnnotations>");
        out.push_str(&element);
        out.push_str("</StructuredAnnotations>");
        out.push_str(slice(end, xml.len())?);
    } else {
        return Err(xml_error(&"no </OME>"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn values_are_encoded_as_python_json_dumps() {
        let v = serde_json::json!({"a": [1, 2.5, "é😀"], "b": {"c": null, "d": true}});
        assert_eq!(
            python_json(&v),
            r#"{"a": [1, 2.5, "\u00e9\ud83d\ude00"], "b": {"c": null, "d": true}}"#
        );
    }

    #[test]
    fn set_in_xml_replaces_in_place_or_appends() {
        let xml = r#"<?xml version="1.0"?><OME><Image ID="Image:0"/></OME>"#;
        let one =
            set_in_xml(Path::new("t"), xml, "ns", &serde_json::json!({"k": 1})).unwrap_or_default();
        assert_eq!(
            one,
            r#"<?xml version="1.0"?><OME><Image ID="Image:0"/><StructuredAnnotations><MapAnnotation ID="Annotation:global:0" Namespace="ns"><Value><M K="k">1</M></Value></MapAnnotation></StructuredAnnotations></OME>"#
        );
        let two = set_in_xml(
            Path::new("t"),
            &one,
            "other",
            &serde_json::json!({"x": "y"}),
        )
        .unwrap_or_default();
        assert!(
            two.contains(r#"ID="Annotation:global:1" Namespace="other""#),
            "{two}"
        );
        let three = set_in_xml(Path::new("t"), &two, "ns", &serde_json::json!({"k": 2}))
            .unwrap_or_default();
        assert!(
            three.contains(
                r#"<MapAnnotation ID="Annotation:global:0" Namespace="ns"><Value><M K="k">2</M></Value></MapAnnotation><MapAnnotation ID="Annotation:global:1""#
            ),
            "{three}"
        );
    }
}

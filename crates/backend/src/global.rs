//! Acquisition-level ("global") metadata: JSON under a namespace of the caller's.

use crate::UsageError;

/// Namespaces the writers use themselves, refused for global metadata.
pub const RESERVED_NAMESPACES: &[&str] = &["ome", "ome_writers"];

/// Global metadata set so far, in the order first set; setting a namespace again
/// replaces its value in place.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct GlobalMetadata(Vec<(String, serde_json::Value)>);

impl GlobalMetadata {
    /// Set or replace `namespace`.
    pub fn set(&mut self, namespace: &str, value: serde_json::Value) {
        match self.0.iter_mut().find(|(ns, _)| ns == namespace) {
            Some((_, v)) => *v = value,
            None => self.0.push((namespace.to_owned(), value)),
        }
    }

    /// The namespaces and their values, in the order first set.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &serde_json::Value)> {
        self.0.iter().map(|(ns, v)| (ns.as_str(), v))
    }

    /// No namespace set.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Refuse an empty or reserved namespace (`ome`, `ome_writers`), or one with
/// characters that cannot be a key everywhere (control characters).
pub fn check_namespace(namespace: &str) -> Result<(), UsageError> {
    let reason = if namespace.trim().is_empty() {
        Some("a namespace must not be empty")
    } else if RESERVED_NAMESPACES.contains(&namespace) {
        Some("reserved for the writer's own metadata (ome, ome_writers)")
    } else if namespace.chars().any(char::is_control) {
        Some("a namespace must not contain control characters")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(UsageError::Namespace {
            namespace: namespace.to_owned(),
            reason,
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_and_empty_namespaces_are_refused() {
        for bad in ["", " ", "ome", "ome_writers", "a\nb"] {
            assert!(check_namespace(bad).is_err(), "{bad:?}");
        }
        assert!(check_namespace("pymmcore_plus").is_ok());
    }

    #[test]
    fn setting_again_replaces_in_place() {
        let mut g = GlobalMetadata::default();
        g.set("a", serde_json::json!(1));
        g.set("b", serde_json::json!(2));
        g.set("a", serde_json::json!(3));
        let got: Vec<_> = g.iter().map(|(k, v)| (k.to_owned(), v.clone())).collect();
        assert_eq!(
            got,
            vec![
                ("a".into(), serde_json::json!(3)),
                ("b".into(), serde_json::json!(2))
            ]
        );
    }
}

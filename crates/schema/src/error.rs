//! Schema errors.

/// Why settings could not be read or validated. Every variant names the field (as a
/// JSON path such as `dimensions[2].count`) and the offending value.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum SchemaError {
    /// The JSON itself is malformed or has a field of the wrong type.
    #[error("{path}: {message}")]
    Parse {
        /// JSON path of the bad field (`.` for the document).
        path: String,
        /// What the parser said.
        message: String,
    },
    /// A field has a value the schema does not allow.
    #[error("{field}: {value}: {reason}")]
    Invalid {
        /// JSON path of the field.
        field: String,
        /// The offending value, as written.
        value: String,
        /// The rule it breaks.
        reason: String,
    },
    /// A value is allowed in principle but exceeds a safety limit.
    #[error("{field}: {value} exceeds the limit of {limit} {what}")]
    Limit {
        /// JSON path of the field.
        field: String,
        /// The offending value.
        value: u128,
        /// The limit.
        limit: u128,
        /// What is counted (e.g. "chunk files per image").
        what: &'static str,
    },
}

impl SchemaError {
    pub(crate) fn invalid(
        field: impl Into<String>,
        value: impl std::fmt::Display,
        reason: impl Into<String>,
    ) -> Self {
        Self::Invalid {
            field: field.into(),
            value: value.to_string(),
            reason: reason.into(),
        }
    }
}

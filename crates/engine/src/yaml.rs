//! Reading YAML with the line of every node, so every error can name the file, the line
//! and the key. The one reader of every YAML a user writes: settings files (`--config`,
//! read by [`crate::config::parse_overlay`]), their `schedule:`, and experiment specs.
//! (The compiled-in `economy_params.yaml` schema is read by serde, see
//! [`crate::registry`]: it is ours, not a user's, and a test checks it.) Text in,
//! nodes out: no I/O.

use std::fmt;

use marked_yaml::LoaderOptions;
pub use marked_yaml::Node;

use crate::registry::RawValue;

/// Where a setting came from (a file and line, `--set`, a preset), for error messages.
#[derive(Debug, Clone, PartialEq)]
pub struct Origin {
    /// `preset sim`, a file path, or `--set`.
    pub source: String,
    /// 1-based line in the file, when known.
    pub line: Option<usize>,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}, line {line}", self.source),
            None => f.write_str(&self.source),
        }
    }
}

/// The most bytes of YAML read at once (a settings file with its schedule, a spec):
/// 1 MiB, refused before parsing. A parsed document takes tens of times its text, so a
/// 54 MB file of a million schedule entries once took 2.9 GB and 21 s before any limit on
/// its entries could refuse it; 1 MiB still holds 100,000 axis values or tens of thousands
/// of scheduled changes.
pub const MAX_BYTES: usize = 1 << 20;

/// A YAML document and where it came from.
pub struct Doc {
    /// The file (or `the spec`), for messages.
    pub source: String,
    /// The root node.
    pub root: Node,
}

/// A YAML error: where, and what is wrong.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{origin}: {message}")]
pub struct YamlError {
    /// The file and line.
    pub origin: Origin,
    /// What is wrong.
    pub message: String,
}

impl Doc {
    /// Parses `text`; duplicate keys are an error (a second value would silently win), and
    /// so is a text over [`MAX_BYTES`] (refused before it is parsed).
    pub fn parse(text: &str, source: &str) -> Result<Self, YamlError> {
        if text.len() > MAX_BYTES {
            return Err(YamlError {
                origin: Origin { source: source.to_string(), line: None },
                message: too_large(text.len() as u64),
            });
        }
        // With coercion prevented, only plain (unquoted) scalars may be read as numbers or
        // booleans: `"0.3"` stays text, as YAML means it.
        let options = LoaderOptions::default().error_on_duplicate_keys(true).prevent_coercion(true);
        let root = marked_yaml::parse_yaml_with_options(0, text, options).map_err(|e| {
            let (line, message) = load_error(&e);
            YamlError { origin: Origin { source: source.to_string(), line }, message }
        })?;
        Ok(Self { source: source.to_string(), root })
    }

    /// Where `node` starts.
    pub fn origin(&self, node: &Node) -> Origin {
        Origin { source: self.source.clone(), line: line(node) }
    }

    /// An error at `node`.
    pub fn error(&self, node: &Node, message: impl Into<String>) -> YamlError {
        YamlError { origin: self.origin(node), message: message.into() }
    }
}

/// Why a YAML text of `bytes` bytes is refused.
pub fn too_large(bytes: u64) -> String {
    format!(
        "{bytes} bytes, more than the {MAX_BYTES} bytes (1 MiB) a settings file or spec may hold; refused before reading it"
    )
}

/// The 1-based line where `node` starts.
pub fn line(node: &Node) -> Option<usize> {
    node.span().start().map(|m| m.line())
}

/// A scalar as the registry takes it: unquoted text is read by the one coercion
/// ([`RawValue::from_text`], as `--set` is), quoted text stays text.
pub fn raw_value(node: &Node) -> RawValue {
    match node {
        Node::Scalar(s) if s.may_coerce() => RawValue::from_text(s.as_str()),
        Node::Scalar(s) => RawValue::Text(s.as_str().to_string()),
        Node::Sequence(_) => RawValue::Other("a list"),
        Node::Mapping(_) => RawValue::Other("a map"),
    }
}

fn load_error(e: &marked_yaml::LoadError) -> (Option<usize>, String) {
    use marked_yaml::LoadError as E;
    match e {
        E::TopLevelMustBeMapping(m) => (Some(m.line()), "expected a map of keys at the top level".into()),
        E::TopLevelMustBeSequence(m) => (Some(m.line()), "expected a list at the top level".into()),
        E::UnexpectedAnchor(m) => (Some(m.line()), "anchors are not supported".into()),
        E::MappingKeyMustBeScalar(m) => (Some(m.line()), "keys must be plain names".into()),
        E::UnexpectedTag(m) => (Some(m.line()), "tags are not supported".into()),
        E::ScanError(m, se) => (Some(m.line()), se.info().to_string()),
        E::DuplicateKey(d) => (
            d.prev_key.span().start().map(|m| m.line()),
            format!(
                "`{}` is given twice (again on line {})",
                d.key.as_str(),
                d.key.span().start().map_or(0, |m| m.line())
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_text_over_the_limit_is_refused_before_it_is_parsed() {
        let big = format!("a: [{}]", "1, ".repeat(MAX_BYTES / 3));
        let e = Doc::parse(&big, "big.yaml").err().expect("refused");
        assert!(e.to_string().starts_with("big.yaml") && e.message.contains("1 MiB"), "{e}");
        assert!(Doc::parse("a: 1", "small.yaml").is_ok());
    }
}

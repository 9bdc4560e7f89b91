//! What clients send, parsed: the one parser behind the WebSocket and `POST /api/commands`,
//! kept free of I/O so it can be fuzzed (`fuzz/`) and property-tested directly.
//!
//! Any input gives a command or a clear error; none panics. Deeply nested JSON is cut off
//! by serde_json's recursion limit; numbers beyond f64 are an error, not infinity.

use serde::Deserialize;
use watchtower_protocol::GodCommand;

/// A message on the WebSocket: `{"type":"command","id":…,"key":…,"value":…}`, with an
/// optional `"run":ID` naming the run it is for (a what-if branch; default the main run).
#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
enum ClientMessage {
    Command {
        id: String,
        key: String,
        value: serde_json::Value,
        #[serde(default)]
        run: Option<i64>,
    },
}

/// The body of `POST /api/commands`: a command, with or without `"type":"command"`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CommandBody {
    #[serde(rename = "type")]
    kind: Option<String>,
    id: String,
    key: String,
    value: serde_json::Value,
    #[serde(default)]
    run: Option<i64>,
}

/// A command and the run it is for (`None`: the main run).
#[derive(Debug, Clone, PartialEq)]
pub struct Targeted {
    /// The command.
    pub command: GodCommand,
    /// The run it names.
    pub run: Option<i64>,
}

const EXPECTED: &str = r#"expected {"type":"command","id":"…","key":"…","value":…}"#;

/// Parses a WebSocket text message.
pub fn parse_message(text: &str) -> Result<GodCommand, String> {
    parse_targeted_message(text).map(|t| t.command)
}

/// Parses a WebSocket text message, with the run it names.
pub fn parse_targeted_message(text: &str) -> Result<Targeted, String> {
    match serde_json::from_str::<ClientMessage>(text) {
        Ok(ClientMessage::Command { id, key, value, run }) => {
            Ok(Targeted { command: GodCommand { id, key, value }, run })
        }
        Err(e) => Err(format!("malformed message ({e}); {EXPECTED}")),
    }
}

/// Parses the body of `POST /api/commands`.
pub fn parse_body(body: &[u8]) -> Result<GodCommand, String> {
    parse_targeted_body(body).map(|t| t.command)
}

/// Parses the body of `POST /api/commands`, with the run it names.
pub fn parse_targeted_body(body: &[u8]) -> Result<Targeted, String> {
    match serde_json::from_slice::<CommandBody>(body) {
        Ok(c) if c.kind.as_deref().is_none_or(|k| k == "command") => {
            Ok(Targeted { command: GodCommand { id: c.id, key: c.key, value: c.value }, run: c.run })
        }
        Ok(c) => Err(format!("unknown message type `{}`; {EXPECTED}", c.kind.unwrap_or_default())),
        Err(e) => Err(format!("malformed command ({e}); {EXPECTED}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_parse_and_everything_else_is_a_clear_error() {
        let c = parse_message(r#"{"type":"command","id":"c1","key":"sim.paused","value":true}"#).unwrap();
        assert_eq!((c.id.as_str(), c.key.as_str()), ("c1", "sim.paused"));
        assert!(parse_body(br#"{"id":"c1","key":"sim.paused","value":true}"#).is_ok());
        let t = parse_targeted_message(r#"{"type":"command","id":"c","key":"k","value":1,"run":7}"#).unwrap();
        assert_eq!(t.run, Some(7));
        assert_eq!(parse_targeted_body(br#"{"id":"c","key":"k","value":1}"#).unwrap().run, None);
        assert!(parse_message(r#"{"type":"command","id":"c","key":"k","value":1,"run":"seven"}"#).is_err());
        for bad in [
            "",
            "{",
            "null",
            "[]",
            r#"{"type":"subscribe"}"#,
            r#"{"type":"command","key":"k","value":1}"#,
            "{\"value\":NaN}",
        ] {
            let e = parse_message(bad).unwrap_err();
            assert!(e.starts_with("malformed message"), "{bad}: {e}");
        }
        assert!(parse_message(&"[".repeat(100_000)).is_err(), "deep nesting is cut off, not a stack overflow");
        assert!(parse_message(r#"{"type":"command","id":"x","key":"k","value":1e400}"#).is_err());
    }
}

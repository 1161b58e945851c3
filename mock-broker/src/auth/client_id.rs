//! A-CID-FORMAT: an mqttClientId split into the clientId prefix and its params.
//!
//! `mqttClientId = clientId "|" param ("," param)* "|"`, `param = key "=" value`.
//!
//! How the parser reads it, where the platform's docs are silent the choice is marked *(choice)*:
//! - The prefix runs to the **first** `|` and is kept verbatim, spaces included: it is
//!   signed as sent (A-SIGN-CONTENT).
//! - The params block runs to the **last** `|`, so the Node SDK's browser build, which sends
//!   `lan=JS|Broswer ` inside the block, parses (its `lan` is `JS|Broswer`).
//! - Text after the last `|` is refused, except whitespace only (space, tab, CR, LF), which
//!   is tolerated and reported so that the check can warn *(choice)*.
//! - An empty or whitespace-only block has no params; the missing `securemode` is then
//!   A-SECUREMODE's to report *(choice)*.
//! - Params are split on `,`, each at its first `=` (a value may hold `=` and `|`), with
//!   whitespace around keys and values trimmed and noted ([`MqttClientId::trimmed_whitespace`]),
//!   so that the check can warn (A-CID-FORMAT, assumed) *(choice)*. An empty value is kept;
//!   an empty key, a param without `=` and an empty param (`a=1,,b=2`, a trailing comma) are
//!   refused.
//! - A param the broker reads ([`READ_PARAMS`]) given twice is refused *(choice)*: which one
//!   the platform honours is unknown, and two `securemode`s or `timestamp`s leave the
//!   signature ambiguous (two `ext`s leave the S-KICK notice ambiguous). Any other key may
//!   repeat: unknown params are ignored, however often they come (A-PARAMS-UNKNOWN).

/// The params the broker reads; every other one is ignored (A-PARAMS-UNKNOWN). `ext` is read
/// for the S-KICK notice.
pub const READ_PARAMS: [&str; 4] = ["securemode", "signmethod", "timestamp", "ext"];

/// The whitespace trimmed around keys and values and tolerated after the last `|`.
const WHITESPACE: [char; 4] = [' ', '\t', '\r', '\n'];

/// A parsed mqttClientId.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MqttClientId {
    /// The clientId: everything before the first `|`, verbatim.
    pub prefix: String,
    /// The params in the order sent, keys and values trimmed.
    pub params: Vec<(String, String)>,
    /// True if whitespace followed the last `|` (tolerated).
    pub trailing_whitespace: bool,
    /// True if whitespace was trimmed inside the params block: around a key or a value, or
    /// a block of whitespace only (tolerated).
    pub trimmed_whitespace: bool,
}

/// Why an mqttClientId breaks A-CID-FORMAT. Params are numbered from 1.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ClientIdError {
    #[error("no `|`: expected clientId|key=value,...|")]
    NoSeparator,
    #[error("only one `|`: the params block is not closed by a second `|`")]
    Unclosed,
    #[error("text {0:?} after the last `|`: nothing may follow the params block")]
    TrailingText(String),
    #[error("param {index} {text:?} has no `=`: params are key=value separated by `,`")]
    MissingEquals { index: usize, text: String },
    #[error("param {index} {text:?} has an empty key")]
    EmptyKey { index: usize, text: String },
    #[error("param {key:?} is given twice (params {first} and {second})")]
    DuplicateKey { key: String, first: usize, second: usize },
}

impl MqttClientId {
    /// Parses an mqttClientId per A-CID-FORMAT (see the module docs).
    pub fn parse(raw: &str) -> Result<MqttClientId, ClientIdError> {
        let (prefix, rest) = raw.split_once('|').ok_or(ClientIdError::NoSeparator)?;
        let (block, after) = rest.rsplit_once('|').ok_or(ClientIdError::Unclosed)?;
        if !after.trim_matches(WHITESPACE).is_empty() {
            return Err(ClientIdError::TrailingText(after.to_owned()));
        }
        let params = parse_params(block)?;
        // Whatever the parser trims around keys and values, or a block of whitespace only.
        let kept: usize =
            params.iter().map(|(k, v)| k.len() + v.len() + 1).sum::<usize>() + params.len().saturating_sub(1);
        Ok(MqttClientId {
            prefix: prefix.to_owned(),
            params,
            trailing_whitespace: !after.is_empty(),
            trimmed_whitespace: kept != block.len(),
        })
    }

    /// The value of the first param named `key`.
    pub fn param(&self, key: &str) -> Option<&str> {
        self.params.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }
}

fn parse_params(block: &str) -> Result<Vec<(String, String)>, ClientIdError> {
    if block.trim_matches(WHITESPACE).is_empty() {
        return Ok(Vec::new());
    }
    let mut params: Vec<(String, String)> = Vec::new();
    for (i, text) in block.split(',').enumerate() {
        let index = i + 1;
        let (key, value) =
            text.split_once('=').ok_or_else(|| ClientIdError::MissingEquals { index, text: text.to_owned() })?;
        let key = key.trim_matches(WHITESPACE);
        if key.is_empty() {
            return Err(ClientIdError::EmptyKey { index, text: text.to_owned() });
        }
        let read = READ_PARAMS.contains(&key);
        if let Some(first) = params.iter().position(|(k, _)| k == key).filter(|_| read) {
            return Err(ClientIdError::DuplicateKey { key: key.to_owned(), first: first + 1, second: index });
        }
        params.push((key.to_owned(), value.trim_matches(WHITESPACE).to_owned()));
    }
    Ok(params)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(raw: &str) -> Vec<(String, String)> {
        MqttClientId::parse(raw).expect(raw).params
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn doc_example_parses() {
        let id = MqttClientId::parse("12345|securemode=3,signmethod=hmacsha1,timestamp=789|").expect("valid");
        assert_eq!(id.prefix, "12345");
        assert_eq!(id.params, pairs(&[("securemode", "3"), ("signmethod", "hmacsha1"), ("timestamp", "789")]));
        assert_eq!(id.param("timestamp"), Some("789"));
        assert_eq!(id.param("ext"), None);
        assert!(!id.trailing_whitespace);
    }

    #[test]
    fn node_browser_block_runs_to_the_last_bar() {
        let id = MqttClientId::parse(
            "pk&device|securemode=2,signmethod=hmacsha1,timestamp=1700000000000,lan=JS|Broswer ,_v=1.2.8|",
        )
        .expect("valid");
        assert_eq!(id.prefix, "pk&device");
        assert_eq!(id.param("lan"), Some("JS|Broswer"));
        assert_eq!(id.param("_v"), Some("1.2.8"));
        assert_eq!(id.params.len(), 5);
    }

    #[test]
    fn whitespace_is_trimmed_around_keys_and_values_but_not_the_prefix() {
        let id = MqttClientId::parse(" 12 34 |\n securemode = 3 ,\tsignmethod=hmacsha1\t|").expect("valid");
        assert_eq!(id.prefix, " 12 34 ");
        assert_eq!(id.params, pairs(&[("securemode", "3"), ("signmethod", "hmacsha1")]));
    }

    #[test]
    fn values_may_be_empty_or_hold_equals() {
        assert_eq!(params("c|a=,b=x=y|"), pairs(&[("a", ""), ("b", "x=y")]));
    }

    #[test]
    fn empty_blocks_and_prefixes_are_allowed() {
        assert_eq!(params("c||"), vec![]);
        assert_eq!(params("c| \t|"), vec![]);
        let id = MqttClientId::parse("|securemode=2|").expect("empty prefix");
        assert_eq!(id.prefix, "");
    }

    #[test]
    fn whitespace_after_the_last_bar_is_tolerated_and_noted() {
        let id = MqttClientId::parse("c|securemode=3| \r\n").expect("tolerated");
        assert!(id.trailing_whitespace);
        assert_eq!(id.params, pairs(&[("securemode", "3")]));
    }

    #[test]
    fn malformed_ids_are_refused_with_specific_errors() {
        let cases: &[(&str, ClientIdError)] = &[
            ("12345", ClientIdError::NoSeparator),
            ("12345|securemode=3", ClientIdError::Unclosed),
            ("12345|securemode=3|x", ClientIdError::TrailingText("x".into())),
            ("12345|securemode=3| x ", ClientIdError::TrailingText(" x ".into())),
            ("c|securemode=3,signmethod|", ClientIdError::MissingEquals { index: 2, text: "signmethod".into() }),
            ("c|a=1,,b=2|", ClientIdError::MissingEquals { index: 2, text: "".into() }),
            ("c|a=1,|", ClientIdError::MissingEquals { index: 2, text: "".into() }),
            ("c| =3|", ClientIdError::EmptyKey { index: 1, text: " =3".into() }),
            (
                "c|securemode=3,x=1, securemode=2|",
                ClientIdError::DuplicateKey { key: "securemode".into(), first: 1, second: 3 },
            ),
            ("c|ext=1,ext=3|", ClientIdError::DuplicateKey { key: "ext".into(), first: 1, second: 2 }),
        ];
        for (raw, expected) in cases {
            assert_eq!(MqttClientId::parse(raw).as_ref(), Err(expected), "{raw:?}");
        }
    }

    #[test]
    fn unknown_keys_may_repeat() {
        assert_eq!(params("c|lan=C,securemode=3,lan=JS|"), pairs(&[("lan", "C"), ("securemode", "3"), ("lan", "JS")]));
    }

    #[test]
    fn trimmed_whitespace_is_noted() {
        for raw in ["c| a=1|", "c|a =1|", "c|a=1\t|", "c|a=1, b=2|", "c| |"] {
            assert!(MqttClientId::parse(raw).expect(raw).trimmed_whitespace, "{raw:?}");
        }
        for raw in ["c||", "c|a=1,b=x=y|", "c|a=|", "c|a=1| "] {
            assert!(!MqttClientId::parse(raw).expect(raw).trimmed_whitespace, "{raw:?}");
        }
    }

    #[test]
    fn errors_read_as_sentences() {
        assert_eq!(
            ClientIdError::MissingEquals { index: 2, text: "signmethod".into() }.to_string(),
            "param 2 \"signmethod\" has no `=`: params are key=value separated by `,`"
        );
        assert_eq!(ClientIdError::Unclosed.to_string(), "only one `|`: the params block is not closed by a second `|`");
    }
}

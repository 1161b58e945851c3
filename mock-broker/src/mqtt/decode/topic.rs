//! The rules on topic names and topic filters of MQTT 3.1.1 section 4.7 that a single
//! packet can break: empty, wildcards in a name, misplaced wildcards in a filter.

use super::reader::shown;
use crate::mqtt::Violation;

/// Checks a topic name (PUBLISH topic, will topic): at least one character (MQTT-4.7.3-1),
/// no wildcard (`wildcard_statement`: MQTT-3.3.2-2 in PUBLISH, MQTT-4.7.1-1 elsewhere).
pub(super) fn check_name(name: &str, field: &str, wildcard_statement: &'static str) -> Result<(), Violation> {
    check_not_empty(name, field)?;
    match name.chars().find(|&c| c == '+' || c == '#') {
        Some(wildcard) => Err(Violation::new(
            wildcard_statement,
            format!("the {field} {} contains the wildcard '{wildcard}'", shown(name)),
        )),
        None => Ok(()),
    }
}

/// Checks a topic filter: at least one character (MQTT-4.7.3-1), `#` alone in the last
/// level (MQTT-4.7.1-2), `+` alone in its level (MQTT-4.7.1-3).
pub(super) fn check_filter(filter: &str) -> Result<(), Violation> {
    check_not_empty(filter, "topic filter")?;
    let mut levels = filter.split('/').peekable();
    while let Some(level) = levels.next() {
        let last = levels.peek().is_none();
        if level.contains('#') && (level != "#" || !last) {
            let place = if level != "#" { "shares a level" } else { "is not in the last level" };
            return Err(Violation::new(
                "MQTT-4.7.1-2",
                format!("in topic filter {} the wildcard '#' {place}", shown(filter)),
            ));
        }
        if level.contains('+') && level != "+" {
            return Err(Violation::new(
                "MQTT-4.7.1-3",
                format!("in topic filter {} the wildcard '+' shares a level", shown(filter)),
            ));
        }
    }
    Ok(())
}

fn check_not_empty(topic: &str, field: &str) -> Result<(), Violation> {
    if topic.is_empty() {
        return Err(Violation::new("MQTT-4.7.3-1", format!("the {field} is empty")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter_statement(filter: &str) -> Option<&'static str> {
        check_filter(filter).err().map(|v| v.statement)
    }

    #[test]
    fn filters() {
        let cases = [
            ("#", None),
            ("+", None),
            ("/", None),
            ("a//b", None),
            ("+/+/#", None),
            ("/a/+/#", None),
            ("sport/tennis#", Some("MQTT-4.7.1-2")),
            ("sport/tennis/#/ranking", Some("MQTT-4.7.1-2")),
            ("#/", Some("MQTT-4.7.1-2")),
            ("sport+", Some("MQTT-4.7.1-3")),
            ("a/++/b", Some("MQTT-4.7.1-3")),
            ("", Some("MQTT-4.7.3-1")),
        ];
        for (filter, expected) in cases {
            assert_eq!(filter_statement(filter), expected, "filter {filter:?}");
        }
    }

    #[test]
    fn names() {
        assert!(check_name("/", "topic name", "X").is_ok());
        assert!(check_name("a b/$c", "topic name", "X").is_ok());
        let err = check_name("a/+", "topic name", "X").unwrap_err();
        assert_eq!(err.statement, "X");
        assert_eq!(err.message, "the topic name \"a/+\" contains the wildcard '+'");
        assert_eq!(check_name("", "will topic", "X").unwrap_err().statement, "MQTT-4.7.3-1");
    }
}

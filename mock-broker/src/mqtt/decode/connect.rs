//! CONNECT (MQTT 3.1.1 section 3.1): protocol name and level first, then the connect
//! flags and their consistency, then the payload fields the flags announce.

use super::reader::{Field, Reader, shown};
use super::topic;
use crate::mqtt::{ConnackCode, Connect, Protocol, QoS, Violation, Will};

const PROTOCOL_NAME: Field = Field::new("protocol name", "MQTT-3.1.2-1");
const PROTOCOL_LEVEL: Field = Field::new("protocol level", "MQTT-3.1.2");
const CONNECT_FLAGS: Field = Field::new("connect flags", "MQTT-3.1.2");
const KEEP_ALIVE: Field = Field::new("keep alive", "MQTT-3.1.2");
const CLIENT_ID: Field = Field::new("client identifier", "MQTT-3.1.3-3");
const WILL_TOPIC: Field = Field::new("will topic", "MQTT-3.1.2-9");
const WILL_MESSAGE: Field = Field::new("will message", "MQTT-3.1.2-9");
const USERNAME: Field = Field::new("user name", "MQTT-3.1.2-17");
const PASSWORD: Field = Field::new("password", "MQTT-3.1.2-19");

/// The connect flags byte (section 3.1.2.3), checked.
struct Flags {
    clean_session: bool,
    /// QoS and retain of the will, when the will flag is set.
    will: Option<(QoS, bool)>,
    username: bool,
    password: bool,
}

/// Parses a CONNECT body. An unsupported protocol level is reported before anything after
/// it is read: a level-5 CONNECT carries properties that would be misread as 3.1.1 fields.
pub(super) fn parse(mut r: Reader) -> Result<Connect, Violation> {
    let protocol = protocol(&mut r)?;
    let flags = flags(r.u8(CONNECT_FLAGS)?)?;
    let keep_alive = r.u16(KEEP_ALIVE)?;
    // May be empty; whether an empty id is acceptable (MQTT-3.1.3-7) is the broker's call.
    let client_id = r.string(CLIENT_ID)?;
    let will = flags.will.map(|(qos, retain)| will(&mut r, qos, retain)).transpose()?;
    let username = flags.username.then(|| r.string(USERNAME)).transpose()?;
    // Binary: MQTT 3.1.1 section 3.1.3.5 does not require UTF-8.
    let password = flags.password.then(|| r.binary(PASSWORD)).transpose()?;
    r.finish("MQTT-3.1.3", last_field(&flags))?;
    Ok(Connect { protocol, client_id, clean_session: flags.clean_session, keep_alive, username, password, will })
}

/// Protocol name and level: `MQIsdp` 3 is MQTT 3.1, `MQTT` 4 is MQTT 3.1.1.
fn protocol(r: &mut Reader) -> Result<Protocol, Violation> {
    let name = r.binary(PROTOCOL_NAME)?;
    let level = r.u8(PROTOCOL_LEVEL)?;
    let protocol = match &name[..] {
        b"MQTT" => Protocol::V311,
        b"MQIsdp" => Protocol::V31,
        other => {
            return Err(Violation::new(
                "MQTT-3.1.2-1",
                format!("protocol name {} is neither \"MQTT\" nor \"MQIsdp\"", shown(&String::from_utf8_lossy(other))),
            ));
        }
    };
    if level != protocol.level() {
        return Err(Violation {
            connack: Some(ConnackCode::UnacceptableProtocol),
            ..Violation::new(
                "MQTT-3.1.2-2",
                format!(
                    "protocol level {level} is not supported with protocol name {:?} (only {})",
                    protocol.name(),
                    protocol.level()
                ),
            )
        });
    }
    Ok(protocol)
}

fn flags(byte: u8) -> Result<Flags, Violation> {
    let fail = |statement, what: &str| Err(Violation::new(statement, format!("connect flags {byte:#010b}: {what}")));
    if byte & 0x01 != 0 {
        return fail("MQTT-3.1.2-3", "the reserved bit 0 is 1, must be 0");
    }
    let will_flag = byte & 0x04 != 0;
    let will_qos = (byte >> 3) & 0x03;
    let will_retain = byte & 0x20 != 0;
    let username = byte & 0x80 != 0;
    let password = byte & 0x40 != 0;
    if !will_flag && will_qos != 0 {
        return fail("MQTT-3.1.2-11", &format!("will QoS is {will_qos} without the will flag"));
    }
    if !will_flag && will_retain {
        return fail("MQTT-3.1.2-13", "will retain is set without the will flag");
    }
    if password && !username {
        return fail("MQTT-3.1.2-22", "the password flag is set without the user name flag");
    }
    let will = match (will_flag, QoS::from_bits(will_qos)) {
        (false, _) => None,
        (true, Some(qos)) => Some((qos, will_retain)),
        (true, None) => return fail("MQTT-3.1.2-12", "will QoS is 3"),
    };
    Ok(Flags { clean_session: byte & 0x02 != 0, will, username, password })
}

fn will(r: &mut Reader, qos: QoS, retain: bool) -> Result<Will, Violation> {
    let topic = r.string(WILL_TOPIC)?;
    topic::check_name(&topic, WILL_TOPIC.name, "MQTT-4.7.1-1")?;
    let payload = r.binary(WILL_MESSAGE)?;
    Ok(Will { topic, payload, qos, retain })
}

/// The last payload field the flags announce, for the trailing-bytes message.
fn last_field(flags: &Flags) -> &'static str {
    if flags.password {
        PASSWORD.name
    } else if flags.username {
        USERNAME.name
    } else if flags.will.is_some() {
        WILL_MESSAGE.name
    } else {
        CLIENT_ID.name
    }
}

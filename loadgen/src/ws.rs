//! A minimal WebSocket client (RFC 6455): the HTTP upgrade request offering the `mqtt`
//! subprotocol, the check of the 101 answer, masked binary frames out and unmasked frames in.
//! Written here rather than borrowed so that the upgrade is timed on its own and many frames
//! go out in one write.

/// The upgrade request for `path` on `authority`.
pub fn upgrade_request(path: &str, authority: &str, key: &str) -> String {
    format!(
        "GET {path} HTTP/1.1\r\nHost: {authority}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n"
    )
}

/// Where the upgrade answer's head ends in `buf` (just past `\r\n\r\n`), once it has.
pub fn head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4)
}

/// Checks the answer's status line: anything but 101 is an error quoting it.
pub fn check_answer(head: &[u8]) -> Result<(), String> {
    let text = String::from_utf8_lossy(head);
    let status = text.lines().next().unwrap_or_default();
    if status.split_whitespace().nth(1) == Some("101") {
        Ok(())
    } else {
        Err(format!("the upgrade was answered {status:?}, not 101"))
    }
}

/// A 16-byte nonce as base64 (24 characters) from a cheap generator: the key only has to
/// differ between handshakes, it protects nothing.
pub fn key(masks: &mut Masks) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let bits = (u128::from(masks.next()) << 96) | (u128::from(masks.next()) << 64) | u128::from(masks.next());
    let mut key: String = (0..21).map(|i| ALPHABET[(bits >> (6 * i)) as usize & 63] as char).collect();
    key.push_str("A==");
    key
}

/// The masking keys of one connection (xorshift32): masks exist against cache poisoning of
/// proxies, and a load generator on loopback needs none stronger.
pub struct Masks(u32);

impl Masks {
    pub fn new(seed: u32) -> Masks {
        Masks(seed | 1)
    }

    pub fn next(&mut self) -> u32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 17;
        self.0 ^= self.0 << 5;
        self.0
    }
}

/// Appends `payload` as one masked, final binary frame.
pub fn frame(out: &mut Vec<u8>, payload: &[u8], mask: u32) {
    out.push(0x82);
    match payload.len() {
        len @ 0..=125 => out.push(0x80 | len as u8),
        len @ 126..=0xFFFF => {
            out.push(0x80 | 126);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        len => {
            out.push(0x80 | 127);
            out.extend_from_slice(&(len as u64).to_be_bytes());
        }
    }
    let mask = mask.to_be_bytes();
    out.extend_from_slice(&mask);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
}

/// Moves the payloads of the complete frames at the front of `raw` into `out` (binary and
/// continuation frames), leaving an incomplete frame in `raw`. Control frames other than
/// ping/pong, text and masked frames are errors; pings are ignored (the server sends none).
pub fn unframe(raw: &mut Vec<u8>, out: &mut Vec<u8>) -> Result<(), String> {
    let mut at = 0;
    loop {
        let buf = &raw[at..];
        if buf.len() < 2 {
            break;
        }
        let opcode = buf[0] & 0x0F;
        if buf[1] & 0x80 != 0 {
            return Err("the server sent a masked frame".into());
        }
        let (len, start) = match buf[1] & 0x7F {
            126 if buf.len() >= 4 => (usize::from(u16::from_be_bytes([buf[2], buf[3]])), 4),
            127 if buf.len() >= 10 => {
                let len = u64::from_be_bytes(buf[2..10].try_into().expect("8 bytes"));
                (usize::try_from(len).map_err(|_| format!("a frame of {len} bytes"))?, 10)
            }
            126 | 127 => break,
            len => (usize::from(len), 2),
        };
        if buf.len() - start < len {
            break;
        }
        match opcode {
            0 | 2 => out.extend_from_slice(&buf[start..start + len]),
            9 | 10 => {}
            8 => return Err("the server closed the WebSocket".into()),
            other => return Err(format!("the server sent a frame of opcode {other}")),
        }
        at += start + len;
    }
    raw.drain(..at);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The server's side: unmasks a client frame, as a broker would.
    fn unmask(frame: &[u8]) -> Vec<u8> {
        let (len, start) = match frame[1] & 0x7F {
            126 => (usize::from(u16::from_be_bytes([frame[2], frame[3]])), 4),
            127 => (u64::from_be_bytes(frame[2..10].try_into().unwrap()) as usize, 10),
            len => (usize::from(len), 2),
        };
        let mask = &frame[start..start + 4];
        frame[start + 4..start + 4 + len].iter().enumerate().map(|(i, b)| b ^ mask[i % 4]).collect()
    }

    /// A server frame (unmasked) of `payload`.
    fn server_frame(payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        frame(&mut out, payload, 0);
        let mut unmasked: Vec<u8> = out[..out.len() - payload.len() - 4].to_vec();
        unmasked[1] &= 0x7F;
        unmasked.extend_from_slice(payload);
        unmasked
    }

    #[test]
    fn answers_are_checked_by_status() {
        let answer = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x82";
        assert_eq!(head_end(answer), Some(answer.len() - 1));
        assert!(check_answer(answer).is_ok());
        assert!(check_answer(b"HTTP/1.1 404 Not Found\r\n\r\n").unwrap_err().contains("404 Not Found"));
        assert_eq!(key(&mut Masks::new(7)).len(), 24);
    }

    #[test]
    fn close_text_and_masked_frames_are_errors() {
        let mut close = vec![0x88, 0];
        assert!(unframe(&mut close, &mut Vec::new()).unwrap_err().contains("closed"));
        let mut masked = Vec::new();
        frame(&mut masked, b"x", 1);
        assert!(unframe(&mut masked, &mut Vec::new()).unwrap_err().contains("masked"));
    }

    proptest! {
        #[test]
        fn frames_unmask_to_their_payload(payload in proptest::collection::vec(any::<u8>(), 0..70_000), mask in any::<u32>()) {
            let mut out = Vec::new();
            frame(&mut out, &payload, mask);
            prop_assert_eq!(unmask(&out), payload);
        }

        #[test]
        fn split_server_frames_read_back_whole(
            payloads in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 1..8),
            cut in any::<prop::sample::Index>(),
        ) {
            let stream: Vec<u8> = payloads.iter().flat_map(|p| server_frame(p)).collect();
            let cut = cut.index(stream.len() + 1);
            let (mut raw, mut out) = (stream[..cut].to_vec(), Vec::new());
            unframe(&mut raw, &mut out).unwrap();
            raw.extend_from_slice(&stream[cut..]);
            unframe(&mut raw, &mut out).unwrap();
            prop_assert!(raw.is_empty());
            prop_assert_eq!(out, payloads.concat());
        }
    }
}

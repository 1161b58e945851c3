//! The signature test vectors of A-SIGN-CONTENT and A-SIGN-HEX: V1-V9 and U1 (signatures the
//! broker accepts) and N1-N3 (common mistakes it refuses where V1 is expected).
//!
//! Every vector signs for the device `pk`/`device` with the secret `secret` (N3 excepted).
//! The tests check each signature against [`sign`](super::sign) and use these values for the
//! CONNECTs they send; `RULES.md` lists them. [`real_clients`] gives the mqttClientIds real
//! clients build for this device, which the auth tests and the fuzz seed corpus share.

use super::sign::SignMethod::{self, HmacMd5, HmacSha1, HmacSha256};
use super::sign::{sign, sign_content};
use crate::transport::Transport::{self, Tcp, Tls, Ws, Wss};

/// One signature test vector.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SignVector {
    /// `V1` ... `V9`, `U1`, `N1` ... `N3`.
    pub name: &'static str,
    /// What the vector shows.
    pub note: &'static str,
    pub method: SignMethod,
    /// The HMAC key: the deviceSecret (or the mistake N3 makes).
    pub secret: &'static str,
    /// The sign content of A-SIGN-CONTENT (or the mistake N1 or N2 makes).
    pub content: &'static str,
    /// The password, in hex of the case a real client sends.
    pub signature: &'static str,
    /// True for V1-V9 and U1, which the broker accepts; false for N1-N3, a mistake's
    /// signature that must not pass for V1's CONNECT.
    pub valid: bool,
}

const fn valid(
    name: &'static str,
    note: &'static str,
    method: SignMethod,
    content: &'static str,
    signature: &'static str,
) -> SignVector {
    SignVector { name, note, method, secret: "secret", content, signature, valid: true }
}

/// The doc example's sign content: clientId `12345`, timestamp `789`.
const DOC_CONTENT: &str = "clientId12345deviceNamedeviceproductKeypktimestamp789";
/// The doc example's sign content without the timestamp.
const NO_TIMESTAMP_CONTENT: &str = "clientId12345deviceNamedeviceproductKeypk";

pub const V1: SignVector = valid(
    "V1",
    "the doc example: mqttClientId `12345|securemode=3,signmethod=hmacsha1,timestamp=789|`",
    HmacSha1,
    DOC_CONTENT,
    "fafd82a3d602b37fb0fa8b7892f24a477f851a14",
);
pub const V2: SignVector = valid(
    "V2",
    "V1's content with hmacmd5, also the method when signmethod is absent",
    HmacMd5,
    DOC_CONTENT,
    "14b198324fe55e1d3c88f2e705e201ee",
);
pub const V3: SignVector = valid(
    "V3",
    "V1's content with hmacsha256",
    HmacSha256,
    DOC_CONTENT,
    "6074a46a91b1ebb2cc4ea42790ad0e80202c9843859fc292e57c4eb19fad9e57",
);
pub const V4: SignVector = valid(
    "V4",
    "no timestamp param: the field is left out",
    HmacMd5,
    NO_TIMESTAMP_CONTENT,
    "2ce7304ec0ddd548eb1492d65ac0b334",
);
pub const V5: SignVector =
    valid("V5", "V4 with hmacsha1", HmacSha1, NO_TIMESTAMP_CONTENT, "3504e4df7ce4766d30f796ee973c9ce7fc5425cb");
pub const V6: SignVector = valid(
    "V6",
    "V4 with hmacsha256",
    HmacSha256,
    NO_TIMESTAMP_CONTENT,
    "c8cb3dcb7159682438e5fd9a9c34f398e41bb8edb6f222795e307bafee151090",
);
pub const V7: SignVector = valid(
    "V7",
    "iotkit v3 and LinkSDK 4.x: clientId `pk.device`, upper-case hex",
    HmacSha256,
    "clientIdpk.devicedeviceNamedeviceproductKeypktimestamp2524608000000",
    "2EAB47D05EC94FAB1A34E7E9F54AEBD34A1E15770F932E05300193007E0091E9",
);
pub const V8: SignVector = valid(
    "V8",
    "Python linkkit: clientId `pk&device`",
    HmacSha1,
    "clientIdpk&devicedeviceNamedeviceproductKeypktimestamp1700000000",
    "d724b02afe3c2feb34006bf42504d521ca66909a",
);
pub const V9: SignVector = valid(
    "V9",
    "an empty clientId is still signed, as the bare name `clientId`",
    HmacSha256,
    "clientIddeviceNamedeviceproductKeypktimestamp2524608000000",
    "9DEA83E5947409FB4220128787F6BC66D77090396D01E641880AB505497A6DF6",
);
pub const U1: SignVector = valid(
    "U1",
    "a UTF-8 clientId `设备01` is signed as UTF-8",
    HmacSha1,
    "clientId设备01deviceNamedeviceproductKeypktimestamp789",
    "1b92fc90f45881776020577e87b28a243fd13247",
);
pub const N1: SignVector = SignVector {
    name: "N1",
    note: "V1's fields unsorted: refused",
    method: HmacSha1,
    secret: "secret",
    content: "productKeypkdeviceNamedeviceclientId12345timestamp789",
    signature: "c202dea8b02210477101fa849b3143b20fb5ea8d",
    valid: false,
};
pub const N2: SignVector = SignVector {
    name: "N2",
    note: "V1 with the key name productKey misspelt: refused",
    content: "clientId12345deviceNamedeviceproducypktimestamp789",
    signature: "ce30aad3f523fef11c40d06ee534725e00bf4c5b",
    ..N1
};
pub const N3: SignVector = SignVector {
    name: "N3",
    note: "V1 signed with an empty key: refused",
    secret: "",
    content: DOC_CONTENT,
    signature: "57712a747b18ac7646dcd687e62200e07827b8b1",
    ..N1
};

/// Every vector, in order.
pub const VECTORS: &[SignVector] = &[V1, V2, V3, V4, V5, V6, V7, V8, V9, U1, N1, N2, N3];

/// The vectors' CONNECTs as real clients send them, for the device `pk`/`device`: (name,
/// mqttClientId, password, the transports whose securemode it declares). The username is
/// `device&pk`.
pub fn real_clients() -> Vec<(&'static str, String, String, [Transport; 2])> {
    let node_id = "pk&device|securemode=2,signmethod=hmacsha1,timestamp=1700000000000,lan=JS|Broswer ,_v=1.2.8|";
    let node_password =
        sign(HmacSha1, "secret", &sign_content(Some("pk&device"), "device", "pk", Some("1700000000000")));
    vec![
        ("doc ws", "12345|securemode=3,signmethod=hmacsha1,timestamp=789|".into(), V1.signature.into(), [Ws, Tcp]),
        ("doc wss", "12345|securemode=2,signmethod=hmacsha1,timestamp=789|".into(), V1.signature.into(), [Wss, Tls]),
        (
            "iotkit v3",
            "pk.device|timestamp=2524608000000,_v=sdk-c-3.0.1,securemode=2,signmethod=hmacsha256,lan=C,gw=0,ext=0|".into(),
            V7.signature.into(),
            [Tls, Wss],
        ),
        (
            "LinkSDK 4.x",
            "pk.device|timestamp=2524608000000,_ss=1,_v=sdk-c-4.1.0,securemode=2,signmethod=hmacsha256,ext=3,_conn=tls_1a|"
                .into(),
            V7.signature.into(),
            [Tls, Wss],
        ),
        (
            "Python linkkit",
            "pk&device|securemode=2,signmethod=hmacsha1,ext=1,_ss=1,lan=Python,_v=1.2.13,timestamp=1700000000|".into(),
            V8.signature.into(),
            [Tls, Wss],
        ),
        ("Node browser", node_id.into(), node_password, [Wss, Tls]),
    ]
}

#!/usr/bin/env python3
"""A minimal Aliyun IoT device client for the conformance suite's own tests (stdlib only).

It follows the client-under-test contract: reads IOT_URL, IOT_PRODUCT_KEY, IOT_DEVICE_NAME,
IOT_DEVICE_SECRET, IOT_CLIENT_ID, IOT_SIGN_METHOD, IOT_KEEPALIVE, IOT_CA_FILE and
IOT_STAY_SECONDS (or, with --no-env, the same values from flags); connects over tcp, tls, ws or
wss; signs the password as RULES.md says (A-SIGN-CONTENT); pings; stays, then disconnects.

A few switches break one thing each, so the suite's tests can see a case fail: --securemode,
--keepalive (ignores IOT_KEEPALIVE), --ping-every 0 (never pings), --insecure (accepts any
certificate), --subprotocol '' (offers none), --text-frames, --ignore-term, --latin1-sign
(signs right only while every field is ASCII: the bug vector U1 catches), --sign-with METHOD
(declares IOT_SIGN_METHOD but computes this one, as an SDK did), --lose-dash-values (a flag's
value starting with '-' is lost, as a CLI parser taking it for an option does).
--only-sign-method METHOD supports one sign method: asked for another, it exits before
connecting with --unsupported-exit (default 77, the contract's "unsupported").
"""

import argparse
import base64
import hashlib
import hmac
import os
import signal
import socket
import ssl
import struct
import sys
import time
import urllib.parse

TIMESTAMP = "2524608000000"


def remaining_length(n):
    out = bytearray()
    while True:
        digit, n = n % 128, n // 128
        out.append(digit | (0x80 if n else 0))
        if not n:
            return bytes(out)


def packet(first, body=b""):
    return bytes([first]) + remaining_length(len(body)) + body


def field(text):
    data = text.encode()
    return struct.pack("!H", len(data)) + data


def read_exact(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("the broker closed the connection")
        data += chunk
    return data


class Link:
    """MQTT bytes over a socket, inside WebSocket frames when asked."""

    def __init__(self, sock, websocket, text_frames):
        self.sock, self.websocket, self.text_frames = sock, websocket, text_frames

    def send(self, data):
        if not self.websocket:
            self.sock.sendall(data)
            return
        opcode = 0x1 if self.text_frames else 0x2
        mask = os.urandom(4)
        n = len(data)
        if n < 126:
            header = bytes([0x80 | opcode, 0x80 | n])
        elif n < 65536:
            header = bytes([0x80 | opcode, 0x80 | 126]) + struct.pack("!H", n)
        else:
            header = bytes([0x80 | opcode, 0x80 | 127]) + struct.pack("!Q", n)
        self.sock.sendall(header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data)))

    def recv(self, n):
        if not self.websocket:
            return read_exact(self.sock, n)
        data = b""
        while len(data) < n:
            first, second = read_exact(self.sock, 2)
            length = second & 0x7F
            if length == 126:
                length = struct.unpack("!H", read_exact(self.sock, 2))[0]
            elif length == 127:
                length = struct.unpack("!Q", read_exact(self.sock, 8))[0]
            payload = read_exact(self.sock, length)
            if first & 0x0F == 0x8:
                raise ConnectionError("the broker closed the WebSocket")
            data += payload
        return data


def websocket_upgrade(sock, host, port, path, subprotocol):
    key = base64.b64encode(os.urandom(16)).decode()
    request = (
        f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
    )
    if subprotocol:
        request += f"Sec-WebSocket-Protocol: {subprotocol}\r\n"
    sock.sendall((request + "\r\n").encode())
    response = b""
    while b"\r\n\r\n" not in response:
        response += read_exact(sock, 1)
    if b" 101 " not in response.split(b"\r\n")[0]:
        raise ConnectionError(f"WebSocket upgrade refused: {response.splitlines()[0]!r}")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--no-env", action="store_true", help="read the values from flags only")
    for name in ["url", "product-key", "device-name", "device-secret", "client-id", "sign-method", "ca-file"]:
        p.add_argument(f"--{name}")
    p.add_argument("--stay", type=float)
    p.add_argument("--keepalive", type=int, help="declare this keepalive, ignoring IOT_KEEPALIVE")
    p.add_argument("--ping-every", type=float, help="seconds between PINGREQs; 0 never pings")
    p.add_argument("--securemode", help="declare this securemode instead of the right one")
    p.add_argument("--insecure", action="store_true", help="accept any server certificate")
    p.add_argument("--subprotocol", default="mqtt", help="the WebSocket subprotocol to offer; '' offers none")
    p.add_argument("--text-frames", action="store_true", help="send MQTT in WebSocket text frames")
    p.add_argument("--ignore-term", action="store_true", help="ignore SIGTERM")
    p.add_argument("--latin1-sign", action="store_true", help="sign the content encoded as Latin-1, not UTF-8")
    p.add_argument("--sign-with", help="compute the HMAC with this method, whatever is declared")
    p.add_argument("--lose-dash-values", action="store_true", help="a flag value starting with '-' reads as empty")
    p.add_argument("--only-sign-method", help="support only this sign method")
    p.add_argument("--unsupported-exit", type=int, default=77, help="the exit code for an unsupported method")
    args = p.parse_args()
    if args.ignore_term:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)

    def value(flag, env):
        given = getattr(args, flag)
        if args.lose_dash_values and given is not None and given.startswith("-"):
            given = ""
        return given if given is not None or args.no_env else os.environ.get(env)

    url = urllib.parse.urlsplit(value("url", "IOT_URL"))
    pk, dn = value("product_key", "IOT_PRODUCT_KEY"), value("device_name", "IOT_DEVICE_NAME")
    secret, cid = value("device_secret", "IOT_DEVICE_SECRET"), value("client_id", "IOT_CLIENT_ID")
    method = value("sign_method", "IOT_SIGN_METHOD") or "hmacsha1"
    ca_file = value("ca_file", "IOT_CA_FILE")
    if args.only_sign_method and method != args.only_sign_method:
        print(f"unsupported sign method {method}: only {args.only_sign_method}", file=sys.stderr, flush=True)
        return args.unsupported_exit
    stay = args.stay if args.stay is not None else float(os.environ.get("IOT_STAY_SECONDS", "30"))
    keepalive = args.keepalive if args.keepalive is not None else int(os.environ.get("IOT_KEEPALIVE", "60"))
    ping_every = args.ping_every if args.ping_every is not None else keepalive / 2

    tls = url.scheme in ("wss", "tls")
    websocket = url.scheme in ("ws", "wss")
    securemode = args.securemode or ("2" if tls else "3")
    print(f"connecting to {url.geturl()} as {dn}&{pk} (keepalive {keepalive} s)", flush=True)

    sock = socket.create_connection((url.hostname, url.port), timeout=10)
    if tls:
        context = ssl.create_default_context(cafile=ca_file)
        if args.insecure:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        try:
            sock = context.wrap_socket(sock, server_hostname=url.hostname)
        except ssl.SSLError as e:
            print(f"TLS refused: {e}", file=sys.stderr, flush=True)
            return 1
    if websocket:
        websocket_upgrade(sock, url.hostname, url.port, url.path or "/", args.subprotocol)
    link = Link(sock, websocket, args.text_frames)

    content = f"clientId{cid}deviceName{dn}productKey{pk}timestamp{TIMESTAMP}"
    digest = {"hmacmd5": hashlib.md5, "hmacsha1": hashlib.sha1, "hmacsha256": hashlib.sha256}[args.sign_with or method]
    encoded = content.encode("latin-1", errors="replace") if args.latin1_sign else content.encode()
    password = hmac.new(secret.encode(), encoded, digest).hexdigest()
    mqtt_client_id = f"{cid}|securemode={securemode},signmethod={method},timestamp={TIMESTAMP}|"
    body = field("MQTT") + bytes([4, 0xC2]) + struct.pack("!H", keepalive)
    body += field(mqtt_client_id) + field(f"{dn}&{pk}") + field(password)
    link.send(packet(0x10, body))
    connack = link.recv(4)
    if connack[3] != 0:
        print(f"refused: CONNACK 0x{connack[3]:02x}", file=sys.stderr, flush=True)
        return 2
    print("online", flush=True)

    end = time.monotonic() + stay
    next_ping = time.monotonic() + ping_every if ping_every > 0 else float("inf")
    while time.monotonic() < end:
        wake = min(end, next_ping)
        sock.settimeout(max(0.01, wake - time.monotonic()))
        try:
            if not sock.recv(4096):
                print("the broker closed the connection", file=sys.stderr, flush=True)
                return 3
        except (socket.timeout, ssl.SSLWantReadError):
            pass
        if time.monotonic() >= next_ping:
            link.send(packet(0xC0))
            next_ping += ping_every
    link.send(packet(0xE0))
    return 0


if __name__ == "__main__":
    sys.exit(main())

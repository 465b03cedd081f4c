"""mqtt_raw.py - a minimal MQTT 3.1.1 / 5 publisher over a raw socket.

Used by the integration tests to read exactly what the broker tells a
publisher: the reason code in PUBACK / PUBREC (0x87 for a refused message on
MQTT v5), and whether the connection is still open afterwards. paho-mqtt 1.6
does not expose the PUBACK reason code, hence this.
"""
import socket
import struct


def _varint(n):
    out = bytearray()
    while True:
        b = n % 128
        n //= 128
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _utf8(s):
    b = s.encode()
    return struct.pack("!H", len(b)) + b


class RawPublisher:
    def __init__(self, port, client_id, protocol=5, host="127.0.0.1", timeout=10, username=None,
                 password=None, ssl_context=None):
        self.protocol = protocol
        self.sock = socket.create_connection((host, port), timeout=timeout)
        if ssl_context is not None:  # TLS, with a client certificate when the context holds one
            self.sock = ssl_context.wrap_socket(self.sock, server_hostname=host)
        self.mid = 0
        level = 5 if protocol == 5 else 4
        flags = 0x02 | (0x80 if username is not None else 0) | (0x40 if password is not None else 0)
        var = _utf8("MQTT") + bytes([level, flags]) + struct.pack("!H", 60)
        if protocol == 5:
            var += _varint(0)  # no properties
        payload = _utf8(client_id)
        if username is not None:
            payload += _utf8(username)
        if password is not None:
            payload += _utf8(password)
        self._send(0x10, var + payload)
        ptype, body = self._read()
        assert ptype == 0x20, f"expected CONNACK, got {ptype:#x}"
        assert body[1] == 0, f"connection refused: {body[1]:#x}"

    def _send(self, first, body):
        self.sock.sendall(bytes([first]) + _varint(len(body)) + body)

    def _recv_exact(self, n):
        buf = b""
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise ConnectionError("broker closed the connection")
            buf += chunk
        return buf

    def _read(self):
        first = self._recv_exact(1)[0]
        mult, length = 1, 0
        while True:
            b = self._recv_exact(1)[0]
            length += (b & 0x7F) * mult
            mult *= 128
            if not b & 0x80:
                break
        return first & 0xF0, self._recv_exact(length) if length else b""

    def publish(self, topic, payload, qos=1, retain=False):
        """Publishes and returns the reason code the broker answered with
        (0 = success, 0x10 no subscribers included; on MQTT 3.1.1 always 0,
        the protocol has none).
        QoS 0 returns None: the broker answers nothing."""
        if isinstance(payload, str):
            payload = payload.encode()
        body = _utf8(topic)
        if qos:
            self.mid = self.mid % 65535 + 1
            body += struct.pack("!H", self.mid)
        if self.protocol == 5:
            body += _varint(0)
        self._send(0x30 | (qos << 1) | (1 if retain else 0), body + payload)
        if qos == 0:
            return None
        ptype, resp = self._read()
        expected = 0x40 if qos == 1 else 0x50
        assert ptype == expected, f"expected {expected:#x}, got {ptype:#x}"
        assert struct.unpack("!H", resp[:2])[0] == self.mid
        reason = resp[2] if self.protocol == 5 and len(resp) > 2 else 0
        if reason == 0x10:
            reason = 0  # "No matching subscribers" is a success; the tests care about refusals
        if qos == 2:
            # Finish the exchange even when PUBREC carried an error, as a client must
            # only when reason < 0x80; on an error the flow ends at PUBREC.
            if reason < 0x80:
                self._send(0x62, struct.pack("!H", self.mid) + (b"\x00\x00" if self.protocol == 5 else b""))
                ptype, resp = self._read()
                assert ptype == 0x70, f"expected PUBCOMP, got {ptype:#x}"
        return reason

    def publish_qos2_retransmitted(self, topic, payload):
        """A QoS 2 publish sent twice with the same packet id (the second with DUP set),
        as a client does when it did not see the PUBREC: the broker's message callback runs
        for both. Returns the two PUBREC reason codes."""
        if isinstance(payload, str):
            payload = payload.encode()
        self.mid = self.mid % 65535 + 1
        body = _utf8(topic) + struct.pack("!H", self.mid) + (_varint(0) if self.protocol == 5 else b"")
        reasons = []
        for first in (0x34, 0x3C):  # QoS 2, then QoS 2 + DUP
            self._send(first, body + payload)
            ptype, resp = self._read()
            assert ptype == 0x50, f"expected PUBREC, got {ptype:#x}"
            reasons.append(resp[2] if self.protocol == 5 and len(resp) > 2 else 0)
        self._send(0x62, struct.pack("!H", self.mid) + (b"\x00\x00" if self.protocol == 5 else b""))
        ptype, _ = self._read()
        assert ptype == 0x70
        return reasons

    def ping(self):
        """True when the connection is alive (PINGREQ answered)."""
        try:
            self._send(0xC0, b"")
            ptype, _ = self._read()
            return ptype == 0xD0
        except (ConnectionError, OSError):
            return False

    def close(self):
        try:
            self._send(0xE0, b"\x00\x00" if self.protocol == 5 else b"")
        except OSError:
            pass
        self.sock.close()

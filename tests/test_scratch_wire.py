import socket, ssl, struct
from conftest import rows

def test_reset(run_scenario):
    def client(kind, env):
        from mitm_pincheck.demo import _tunnel
        for i in range(10):
            ctx = ssl.create_default_context(); ctx.check_hostname=False; ctx.verify_mode=ssl.CERT_NONE
            raw = _tunnel(env["PINCHECK_PROXY"], "open.test")
            s = ctx.wrap_socket(raw, server_hostname="open.test")
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.sendall(b"GET /x HTTP/1.1\r\nHost: open.test\r\nAuthorization: x\r\n\r\n")
            s.close()
    report = run_scenario(client, hosts=[{"host": "open.test", "pinned": False}], phases=["self-signed"])
    r = rows(report)[("open.test", "self-signed")]
    print(r["evidence"]["outcomes"])
    assert r["evidence"]["outcomes"] == {"accepted": 10}

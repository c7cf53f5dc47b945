"""permessage-deflate against Python's websockets server (it accepts the
offer and compresses both ways): the offer, the answer in `extensions`,
messages of every size round trip, the keywords, and the size limit on the
inflated size."""

import json

import pytest

import wsnative


def test_chromiums_offer_is_sent_and_accepted(ws_url: str) -> None:
    with wsnative.connect(ws_url + "/headers") as ws:
        headers = str(ws.recv(timeout=5)).split("\n")
        assert "sec-websocket-extensions: permessage-deflate; client_max_window_bits" in headers
        assert ws.extensions == "permessage-deflate; server_max_window_bits=12; client_max_window_bits=12"


def test_compressed_messages_round_trip(ws_url: str) -> None:
    with wsnative.connect(ws_url + "/") as ws:
        assert ws.extensions.startswith("permessage-deflate")
        ticks = [json.dumps({"type": "tick", "seq": i, "symbol": "ABC", "price": 100 + i / 8}) for i in range(300)]
        big_text = "wsnative " * 200_000
        big_binary = bytes(range(256)) * 4096
        for t in ticks:
            ws.send(t)
        ws.send("")
        ws.send(b"")
        ws.send(big_text)
        ws.send(big_binary)
        for t in ticks:
            assert ws.recv(timeout=5) == t
        assert ws.recv(timeout=5) == ""
        assert ws.recv(timeout=5) == b""
        assert ws.recv(timeout=5) == big_text
        assert ws.recv(timeout=5) == big_binary
        ws.close()


def test_compression_off(ws_url: str) -> None:
    with wsnative.connect(ws_url + "/headers", compression=False) as ws:
        headers = str(ws.recv(timeout=5)).split("\n")
        assert not any(h.startswith("sec-websocket-extensions") for h in headers)
        assert ws.extensions == ""


def test_window_bits_and_no_context_takeover_are_offered(ws_url: str) -> None:
    kw = dict(client_max_window_bits=11, server_max_window_bits=10, client_no_context_takeover=True)
    with wsnative.connect(ws_url + "/headers", **kw) as ws:
        headers = str(ws.recv(timeout=5)).split("\n")
        offer = "permessage-deflate; client_no_context_takeover; client_max_window_bits=11; server_max_window_bits=10"
        assert "sec-websocket-extensions: " + offer in headers
        assert "server_max_window_bits=10" in ws.extensions
        ws.send("x" * 10_000)
        assert ws.recv(timeout=5) == "x" * 10_000


@pytest.mark.parametrize(
    "kw", [{"client_max_window_bits": 16}, {"server_max_window_bits": 7}, {"client_max_window_bits": "12"}]
)
def test_bad_window_bits_raise(ws_url: str, kw: dict) -> None:
    with pytest.raises(wsnative.InvalidOptionError):
        wsnative.connect(ws_url + "/", **kw)


def test_the_size_limit_applies_to_the_inflated_message(ws_url: str) -> None:
    # 2 MiB of zeros compress to about 2 KiB: the server's echo is refused
    # for its inflated size.
    ws = wsnative.connect(ws_url + "/", max_message_size=1 << 20)
    ws.send(bytes(2 << 20))
    with pytest.raises(wsnative.ConnectionClosed):
        ws.recv(timeout=5)
    assert ws.close_code == 1006 and not ws.was_clean

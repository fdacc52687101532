"""The client's address: forwarding headers count only from trusted proxies, read from the right."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from portal.addresses import limit_hash, limit_key, resolve_client, trusted_peer
from portal.environment import Network
from portal.settings import Settings, SettingsError

BALANCERS: tuple[Network, ...] = (ipaddress.ip_network("10.0.0.0/8"),
                                  ipaddress.ip_network("2001:db8:ffff::/48"))


def resolve(peer: str, *, forwarded: tuple[str, ...] = (), xff: tuple[str, ...] = (),
            trusted: tuple[Network, ...] = BALANCERS) -> str:
    return resolve_client(peer, trusted, forwarded=forwarded, x_forwarded_for=xff)


def test_an_untrusted_peer_is_the_client_whatever_it_writes() -> None:
    assert resolve("203.0.113.9", xff=("198.51.100.1",)) == "203.0.113.9"
    assert resolve("203.0.113.9", forwarded=("for=198.51.100.1",)) == "203.0.113.9"
    # trusting nothing (the default) reads no header at all
    assert resolve("10.0.0.2", xff=("198.51.100.1",), trusted=()) == "10.0.0.2"


def test_a_trusted_peer_is_read_from_the_right() -> None:
    assert resolve("10.0.0.2", xff=("198.51.100.7",)) == "198.51.100.7"
    # the client may write anything on the left: only the hop our proxy added counts
    assert resolve("10.0.0.2", xff=("1.2.3.4, 198.51.100.7",)) == "198.51.100.7"
    # trusted hops are skipped, across several headers in order
    assert resolve("10.0.0.2", xff=("6.6.6.6, 198.51.100.7", "10.1.1.1, 10.2.2.2")) \
        == "198.51.100.7"
    assert resolve("10.0.0.2", xff=("198.51.100.7:5123",)) == "198.51.100.7"
    # only trusted hops: the leftmost of them is the furthest we know
    assert resolve("10.0.0.2", xff=("10.9.9.9, 10.1.1.1",)) == "10.9.9.9"
    # no header: the proxy itself
    assert resolve("10.0.0.2") == "10.0.0.2"


def test_forwarded_wins_over_x_forwarded_for() -> None:
    assert resolve("10.0.0.2", forwarded=("for=198.51.100.7;proto=https",),
                   xff=("203.0.113.1",)) == "198.51.100.7"
    assert resolve("10.0.0.2", forwarded=('for="[2001:db8::17]:4711", for=10.3.3.3',)) \
        == "2001:db8::17"
    assert resolve("10.0.0.2", forwarded=('For="198.51.100.7:80";by=10.0.0.2',)) \
        == "198.51.100.7"
    # a quoted comma does not split an element
    assert resolve("10.0.0.2", forwarded=('for=198.51.100.8;x="a,b"',)) == "198.51.100.8"


def test_ipv6_peers_and_hops() -> None:
    assert resolve("2001:db8:ffff::1", xff=("2001:db8:1::5",)) == "2001:db8:1::5"
    assert resolve("2001:db8:ffff::1", xff=("[2001:db8:1::5]:443",)) == "2001:db8:1::5"
    assert resolve("::ffff:10.0.0.2", xff=("198.51.100.7",)) == "198.51.100.7"
    assert resolve("2001:db8:aaaa::1", xff=("198.51.100.7",)) == "2001:db8:aaaa::1"


@pytest.mark.parametrize("junk", [
    "unknown", "_hidden", "198.51.100.300", "not an address", "[2001:db8::1", "1.2.3.4:port",
    "[198.51.100.7]", "2001:db8::1]:80", "1.2.3.4:80:90",
])
def test_an_unreadable_hop_is_never_believed(junk: str) -> None:
    # the walk stops at the unreadable hop: the last trusted one is the answer
    assert resolve("10.0.0.2", xff=(f"198.51.100.7, {junk}, 10.5.5.5",)) == "10.5.5.5"
    assert resolve("10.0.0.2", xff=(junk,)) == "10.0.0.2"
    assert resolve("10.0.0.2", forwarded=(f'for="{junk}"',)) == "10.0.0.2"
    assert resolve("10.0.0.2", forwarded=(f"for=198.51.100.7, for=\"{junk}\"",)) == "10.0.0.2"


def test_broken_forwarded_headers_fall_back_to_the_proxy() -> None:
    assert resolve("10.0.0.2", forwarded=('for="198.51.100.7',)) == "10.0.0.2"
    assert resolve("10.0.0.2", forwarded=("proto=https",)) == "10.0.0.2"
    assert resolve("10.0.0.2", forwarded=("for=198.51.100.7, by=10.0.0.2",)) == "10.0.0.2"
    assert resolve("testclient") == "testclient"
    assert resolve_client(None, BALANCERS) == "-"


addresses = st.one_of(st.ip_addresses(v=4), st.ip_addresses(v=6)).map(str)


@given(peer=addresses, hops=st.lists(st.one_of(addresses, st.text(max_size=12)), max_size=6))
def test_an_untrusted_peer_can_never_be_talked_out_of_its_address(peer: str,
                                                                  hops: list[str]) -> None:
    # the peer is outside every trusted range
    untrusted = (ipaddress.ip_network("0.0.0.0/32"),)
    chain = ", ".join(hops)
    expected = str(ipaddress.ip_address(peer))
    mapped = ipaddress.ip_address(peer)
    if isinstance(mapped, ipaddress.IPv6Address) and mapped.ipv4_mapped is not None:
        expected = str(mapped.ipv4_mapped)
    if expected == "0.0.0.0":
        return
    assert resolve(peer, xff=(chain,), forwarded=(chain,), trusted=untrusted) == expected


@given(client=st.ip_addresses(v=4).filter(lambda a: a not in BALANCERS[0]).map(str),
       spoof=st.lists(st.one_of(addresses, st.text(max_size=12)), max_size=4),
       proxies=st.lists(st.integers(min_value=1, max_value=2**24 - 2), max_size=4))
def test_what_the_client_writes_left_of_its_own_hop_never_matters(
        client: str, spoof: list[str], proxies: list[int]) -> None:
    inner = [str(ipaddress.ip_address(0x0A000000 + n)) for n in proxies]
    chain = ", ".join([*(s.replace(",", "") for s in spoof), client, *inner])
    assert resolve("10.0.0.2", xff=(chain,)) == client


def test_ipv6_limits_count_a_whole_64() -> None:
    assert limit_key("2001:db8:1:2:aaaa::1") == limit_key("2001:db8:1:2:ffff::9") \
        == "2001:db8:1:2::/64"
    assert limit_hash("2001:db8:1:2::1") != limit_hash("2001:db8:1:3::1")
    assert limit_key("198.51.100.7") == "198.51.100.7"
    assert limit_key("testclient") == "testclient"


def test_trusted_proxies_are_read_at_start_and_a_bad_entry_is_named(tmp_path: Path) -> None:
    settings = Settings.from_env({"ANTREAN_VAR_DIR": str(tmp_path),
                                  "ANTREAN_TRUSTED_PROXIES": "10.0.0.0/8, 192.0.2.1,fd00::/8"})
    assert [str(n) for n in settings.trusted_proxies] == ["10.0.0.0/8", "192.0.2.1/32",
                                                           "fd00::/8"]
    assert Settings.from_env({"ANTREAN_VAR_DIR": str(tmp_path)}).trusted_proxies == ()
    with pytest.raises(SettingsError, match=r"ANTREAN_TRUSTED_PROXIES: 'balancer\.lan' is not"):
        Settings.from_env({"ANTREAN_VAR_DIR": str(tmp_path),
                           "ANTREAN_TRUSTED_PROXIES": "10.0.0.0/8,balancer.lan"})
    with pytest.raises(SettingsError, match="'10.0.0.0/40'"):
        Settings.from_env({"ANTREAN_VAR_DIR": str(tmp_path),
                           "ANTREAN_TRUSTED_PROXIES": "10.0.0.0/40"})


_PEERS = st.one_of(st.ip_addresses().map(str),
                   st.ip_addresses(v=4).map(lambda a: f"::ffff:{a}"),  # IPv4-mapped
                   st.sampled_from(["", "unknown", "10.0.0.1:80", "[::1]", "999.1.1.1"]),
                   st.text(max_size=12))


@given(_PEERS)
def test_a_peer_is_trusted_exactly_when_it_lies_in_a_trusted_range(peer: str) -> None:
    trusted = (ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("2001:db8::/32"),
               ipaddress.ip_network("127.0.0.1/32"))
    address = None
    try:
        address = ipaddress.ip_address(peer)
    except ValueError:
        pass
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    expected = address is not None and any(
        address.version == net.version and address in net for net in trusted)
    assert trusted_peer(peer, trusted) is expected
    assert trusted_peer(peer, ()) is False

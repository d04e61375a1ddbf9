"""Structured IP address space for the simulated world.

Subnet and infrastructure signals only mean something if addresses come from blocks
with a kind (cloud, hosting, residential ISP, mobile carrier, VPN, campus) the way the
real internet does. The world is laid out on private / shared / benchmark / documentation
ranges so nothing here is a routable address, but the *structure* is realistic:

* residential ISPs: /16s of 10.0.0.0/8, several ISPs per country. Residential proxy pools
  rent addresses inside these same blocks, exactly as real residential proxies do, so
  "residential" never means "benign".
* cloud providers: /16s of 172.16.0.0/12. Enterprise pipelines, developers and some
  attackers all run there.
* hosting / datacenter (cheap VPS, datacenter proxies): /20s of 198.18.0.0/15.
* commercial VPN exits: /20s of 192.168.0.0/16, used by benign users and attackers alike.
* mobile carriers (CGNAT, many users per address): /14s of 100.64.0.0/10, plus IPv6
  /48s of the documentation prefix 2001:db8::/32.

The table is a pure function of nothing (fixed layout), so every world and every
detector sees the same map; :func:`block_of` lets tests and docs explain an address.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

COUNTRY_TZ: dict[str, float] = {
    "US": -6, "CA": -5, "BR": -3, "MX": -6, "GB": 0, "DE": 1, "FR": 1, "NL": 1, "PL": 1, "ES": 1,
    "NG": 1, "IN": 5.5, "SG": 8, "CN": 8, "HK": 8, "JP": 9, "KR": 9, "VN": 7, "AU": 10, "RU": 3,
}
COUNTRIES = tuple(COUNTRY_TZ)
_ISPS_PER_COUNTRY = 3
CLOUDS = ("nimbus", "stratus", "cirrus", "cumulus")
HOSTERS = ("vpsfarm", "cheaphost", "rackspace-lite", "bulletnet", "hostzilla", "serverpark")
VPNS = ("swiftvpn", "nordish", "tunnelbear-ish", "mullet", "proton-like")
CARRIERS = ("tmob", "vodaphonic", "orangeish", "airtelco", "docomo-ish", "telstra-ish")


@dataclass(frozen=True)
class Netblock:
    """One allocated block: who runs it, what kind of network it is, where it is."""

    cidr: str
    kind: str  # residential | cloud | hosting | vpn | mobile
    org: str
    country: str

    @property
    def network(self) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
        return _net(self.cidr)


@lru_cache(maxsize=None)
def _net(cidr: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    return ipaddress.ip_network(cidr)


@lru_cache(maxsize=1)
def blocks() -> tuple[Netblock, ...]:
    """The fixed address map of every simulated world."""
    out: list[Netblock] = []
    second = 0
    for c in COUNTRIES:  # residential: 3 ISPs per country, 2 x /16 each
        for k in range(_ISPS_PER_COUNTRY):
            for _ in range(2):
                out.append(Netblock(f"10.{second}.0.0/16", "residential", f"{c.lower()}-isp{k + 1}", c))
                second += 1
    cloud_regions = ("US", "US", "DE", "SG")
    for i, cloud in enumerate(CLOUDS):  # 4 clouds x 4 regions of /16 in 172.16/12
        for r in range(4):
            out.append(Netblock(f"172.{16 + i * 4 + r}.0.0/16", "cloud", cloud, cloud_regions[r]))
    hosting_country = ("NL", "DE", "US", "RU", "SG", "FR")
    for i in range(32):  # 198.18.0.0/15 as 32 x /20
        base = ipaddress.ip_address("198.18.0.0") + i * 4096
        out.append(Netblock(f"{base}/20", "hosting", HOSTERS[i % len(HOSTERS)], hosting_country[i % 6]))
    vpn_country = ("NL", "US", "GB", "SG", "JP", "DE", "CA", "FR")
    for i in range(16):  # 192.168.0.0/16 as 16 x /20
        out.append(Netblock(f"192.168.{i * 16}.0/20", "vpn", VPNS[i % len(VPNS)], vpn_country[i % 8]))
    mobile_country = ("US", "GB", "FR", "IN", "JP", "AU", "DE", "BR", "KR", "US", "NG", "MX", "ES", "PL", "CA", "VN")
    for i in range(16):  # 100.64.0.0/10 as 16 x /14 (CGNAT)
        out.append(Netblock(f"100.{64 + i * 4}.0.0/14", "mobile", CARRIERS[i % len(CARRIERS)], mobile_country[i]))
    for i in range(16):  # matching IPv6 /48s
        out.append(Netblock(f"2001:db8:{i:x}00::/48", "mobile", CARRIERS[i % len(CARRIERS)], mobile_country[i]))
    return tuple(out)


def of_kind(kind: str, country: str | None = None, org: str | None = None) -> list[Netblock]:
    """Blocks of one kind, optionally in one country / run by one organisation."""
    sel = [b for b in blocks() if b.kind == kind]
    if country is not None:
        local = [b for b in sel if b.country == country]
        sel = local or sel
    if org is not None:
        sel = [b for b in sel if b.org == org] or sel
    return sel


def block_of(ip: str) -> Netblock | None:
    """Which block an address belongs to (None outside the map)."""
    addr = ipaddress.ip_address(ip)
    for b in blocks():
        if addr.version == b.network.version and addr in b.network:
            return b
    return None


def sample_ips(rng: np.random.Generator, pool: list[Netblock], n: int, *, hosts_per_24: int | None = None) -> list[str]:
    """``n`` random host addresses from ``pool`` (uniform over blocks, then hosts).

    ``hosts_per_24`` limits how spread the sample is: datacenter proxies sit densely in a
    few /24s while residential proxies are scattered across an ISP's whole block.
    """
    if n <= 0:
        return []
    which = rng.integers(0, len(pool), n)
    out: list[str] = []
    offs = rng.integers(1, 2**31, n)
    nets = [(b.network, int(b.network.network_address), b.network.num_addresses, b.network.version) for b in pool]
    for b_i, off in zip(which.tolist(), offs.tolist()):
        net, base, size, version = nets[b_i]
        if version == 6:
            host = (off * 2654435761) % (2**64)
            out.append(str(ipaddress.IPv6Address(base + host)))
            continue
        h = off % size
        if hosts_per_24 is not None:
            h = (h // 256) * 256 + 1 + (off // 7) % max(1, min(hosts_per_24, 254))
        h = max(1, min(size - 2, h))
        if h % 256 in (0, 255):
            h += 1 if h % 256 == 0 else -1
        a = base + h
        out.append(f"{a >> 24}.{(a >> 16) & 255}.{(a >> 8) & 255}.{a & 255}")
    return out


def dense_subnets(rng: np.random.Generator, pool: list[Netblock], n_subnets: int, per_subnet: int) -> list[str]:
    """Addresses packed into a few /24s (a rented datacenter proxy range, a NAT pool)."""
    out: list[str] = []
    for _ in range(n_subnets):
        b = pool[int(rng.integers(0, len(pool)))]
        net = b.network
        base = int(net.network_address) + int(rng.integers(0, net.num_addresses // 256)) * 256
        hosts = rng.choice(np.arange(2, 254), size=min(per_subnet, 252), replace=False)
        out.extend(str(ipaddress.ip_address(base + int(h))) for h in hosts)
    return out

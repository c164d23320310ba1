//! The network a call may reach: granted names resolved to addresses when the call
//! starts, with local and private addresses admitted only when granted as such.

use std::net::{IpAddr, SocketAddr};

use crate::policy::NetGrant;

/// The IP addresses (and ports) the `net` grants name, resolved now: names may move.
/// Addresses on this machine or a private network count only when granted as addresses
/// (or as `localhost`): see [`is_public`].
pub(crate) async fn resolve_net(grants: &[String]) -> Vec<(IpAddr, Option<u16>)> {
    let mut allowed = Vec::new();
    for entry in grants {
        let Ok(grant) = NetGrant::parse(entry) else {
            continue;
        };
        if let Ok(ip) = grant.host.parse::<IpAddr>() {
            allowed.push((ip, grant.port));
            continue;
        }
        match tokio::net::lookup_host((grant.host.as_str(), grant.port.unwrap_or(0))).await {
            Ok(addresses) => {
                for ip in addresses.map(|address: SocketAddr| address.ip()) {
                    if admits(&grant.host, ip) {
                        allowed.push((ip, grant.port));
                    } else {
                        tracing::warn!(
                            host = %grant.host,
                            %ip,
                            "a granted name resolves to a local or private address; not allowed \
                             (grant the address itself to allow it)"
                        );
                    }
                }
            }
            Err(err) => {
                tracing::warn!(host = %grant.host, %err, "cannot resolve a granted network host")
            }
        }
    }
    allowed
}

/// Whether a grant of the name `host` admits `ip`, one of its addresses.
fn admits(host: &str, ip: IpAddr) -> bool {
    host.eq_ignore_ascii_case("localhost") || is_public(ip)
}

/// Whether `ip` is a public address. A granted name that resolves to this machine or to a
/// private network (DNS rebinding, or a name whose owner points it there) would open
/// services the user never meant to grant, such as a database on localhost or a router.
/// IPv6 forms that carry an IPv4 address (mapped, NAT64's `64:ff9b::/96`, 6to4's
/// `2002::/16`) are judged by the address they carry: a NAT64 gateway would otherwise be a
/// way into 127.0.0.1 or 10.0.0.0/8.
fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            let shared = a == 100 && (64..128).contains(&b); // 100.64.0.0/10, carrier NAT
            let benchmarking = a == 198 && (b == 18 || b == 19); // 198.18.0.0/15
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_multicast()
                || shared
                || benchmarking
                || a == 0
                || a >= 240) // 240.0.0.0/4, reserved, with the broadcast address
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let segments = v6.segments();
            let octets = v6.octets();
            let embedded = |at: usize| {
                IpAddr::V4(std::net::Ipv4Addr::new(
                    octets[at],
                    octets[at + 1],
                    octets[at + 2],
                    octets[at + 3],
                ))
            };
            if segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
                return is_public(embedded(12)); // NAT64, well-known prefix
            }
            if segments[0] == 0x2002 {
                return is_public(embedded(2)); // 6to4
            }
            let first = segments[0];
            let unique_local = first & 0xfe00 == 0xfc00; // fc00::/7
            let link_local = first & 0xffc0 == 0xfe80; // fe80::/10
            let local_nat64 = segments[..3] == [0x64, 0xff9b, 1]; // 64:ff9b:1::/48
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || unique_local
                || link_local
                || local_nat64)
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn granted_names_reach_only_public_addresses() {
        let ip = |text: &str| text.parse::<IpAddr>().unwrap();
        for public in [
            "93.184.216.34",
            "1.1.1.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::1",
        ] {
            assert!(admits("api.example.com", ip(public)), "{public}");
        }
        for local in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "224.0.0.251",
            "239.255.255.250",
            "240.0.0.1",
            "198.18.0.1",
            "ff02::1",
            "64:ff9b::7f00:1",
            "64:ff9b::a00:1",
            "64:ff9b:1::1",
            "2002:7f00:1::1",
            "2002:c0a8:101::1",
        ] {
            assert!(!admits("rebind.example.com", ip(local)), "{local}");
        }
        assert!(admits("localhost", ip("127.0.0.1")));
        assert!(admits("LocalHost", ip("::1")));
    }
}

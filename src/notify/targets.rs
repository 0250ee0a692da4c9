//! Where a webhook may connect: only to globally routable addresses (unless the deployment allows
//! private targets), checked on the addresses the connection really uses. Host names go through
//! [`GuardedResolver`], which resolves once and refuses the whole name if any address is not
//! global; IP-literal hosts never reach a resolver, so [`check_url_host`] checks them.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// How long one name resolution may take.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(3);

/// True when `ip` is a globally routable unicast address: not loopback, private, shared
/// (CGNAT), link-local, documentation, benchmarking, reserved, multicast or any other
/// special-purpose range of the IANA IPv4 and IPv6 special-purpose address registries. IPv6
/// addresses that carry an IPv4 address (v4-mapped, NAT64 `64:ff9b::/96`) are judged by it;
/// deprecated or tunnelling forms (v4-compatible `::/96`, 6to4, Teredo, site-local) never pass.
pub fn is_global(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_global_v4(v4),
        IpAddr::V6(v6) => is_global_v6(v6),
    }
}

fn in_v4(ip: Ipv4Addr, net: [u8; 4], len: u32) -> bool {
    let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
    u32::from(ip) & mask == u32::from(Ipv4Addr::from(net)) & mask
}

fn is_global_v4(ip: Ipv4Addr) -> bool {
    // 192.0.0.0/24 is special-purpose, but two anycast addresses in it are global.
    if ip == Ipv4Addr::new(192, 0, 0, 9) || ip == Ipv4Addr::new(192, 0, 0, 10) {
        return true;
    }
    const NOT_GLOBAL: [([u8; 4], u32); 16] = [
        ([0, 0, 0, 0], 8),       // "this network"
        ([10, 0, 0, 0], 8),      // private
        ([100, 64, 0, 0], 10),   // shared address space (CGNAT)
        ([127, 0, 0, 0], 8),     // loopback
        ([169, 254, 0, 0], 16),  // link-local (cloud metadata lives here)
        ([172, 16, 0, 0], 12),   // private
        ([192, 0, 0, 0], 24),    // IETF protocol assignments
        ([192, 0, 2, 0], 24),    // documentation (TEST-NET-1)
        ([192, 88, 99, 0], 24),  // 6to4 relay anycast (deprecated)
        ([192, 168, 0, 0], 16),  // private
        ([198, 18, 0, 0], 15),   // benchmarking
        ([198, 51, 100, 0], 24), // documentation (TEST-NET-2)
        ([203, 0, 113, 0], 24),  // documentation (TEST-NET-3)
        ([224, 0, 0, 0], 4),     // multicast
        ([240, 0, 0, 0], 4),     // reserved
        ([255, 255, 255, 255], 32),
    ];
    !NOT_GLOBAL.iter().any(|(net, len)| in_v4(ip, *net, *len))
}

fn in_v6(ip: Ipv6Addr, net: Ipv6Addr, len: u32) -> bool {
    let mask = if len == 0 {
        0
    } else {
        u128::MAX << (128 - len)
    };
    u128::from(ip) & mask == u128::from(net) & mask
}

const fn v6(a: u16, b: u16, c: u16, d: u16, last: u16) -> Ipv6Addr {
    Ipv6Addr::new(a, b, c, d, 0, 0, 0, last)
}

fn is_global_v6(ip: Ipv6Addr) -> bool {
    // Addresses that carry an IPv4 address and reach it: judged by that address.
    if in_v6(ip, Ipv6Addr::new(0, 0, 0, 0, 0, 0xffff, 0, 0), 96)
        || in_v6(ip, v6(0x64, 0xff9b, 0, 0, 0), 96)
    {
        return is_global_v4(Ipv4Addr::from(u128::from(ip) as u32));
    }
    // Only global unicast (2000::/3) is routable; everything outside it (::/96 including the
    // unspecified, loopback and v4-compatible addresses, 64:ff9b:1::/48 local NAT64, 100::/64
    // discard, 5f00::/16 SRv6, fc00::/7 unique local, fe80::/10 link-local, fec0::/10 site-local,
    // ff00::/8 multicast) is not.
    if !in_v6(ip, v6(0x2000, 0, 0, 0, 0), 3) {
        return false;
    }
    // Globally reachable exceptions inside 2001::/23 (IETF protocol assignments).
    const GLOBAL_IN_IETF: [(Ipv6Addr, u32); 7] = [
        (v6(0x2001, 1, 0, 0, 1), 128),    // Port Control Protocol anycast
        (v6(0x2001, 1, 0, 0, 2), 128),    // TURN anycast
        (v6(0x2001, 1, 0, 0, 3), 128),    // DNS-SD service registration anycast
        (v6(0x2001, 3, 0, 0, 0), 32),     // AMT
        (v6(0x2001, 4, 0x112, 0, 0), 48), // AS112-v6
        (v6(0x2001, 0x20, 0, 0, 0), 28),  // ORCHIDv2
        (v6(0x2001, 0x30, 0, 0, 0), 28),  // drone remote ID (DET)
    ];
    if GLOBAL_IN_IETF
        .iter()
        .any(|(net, len)| in_v6(ip, *net, *len))
    {
        return true;
    }
    const NOT_GLOBAL: [(Ipv6Addr, u32); 4] = [
        // IETF protocol assignments: Teredo 2001::/32, benchmarking 2001:2::/48, ORCHID.
        (v6(0x2001, 0, 0, 0, 0), 23),
        (v6(0x2001, 0xdb8, 0, 0, 0), 32), // documentation
        (v6(0x2002, 0, 0, 0, 0), 16),     // 6to4
        (v6(0x3fff, 0, 0, 0, 0), 20),     // documentation
    ];
    !NOT_GLOBAL.iter().any(|(net, len)| in_v6(ip, *net, *len))
}

/// Refuses a URL whose host is an IP literal that is not global (names are checked by the
/// resolver when connecting). `Err` carries the reason.
pub fn check_url_host(url: &reqwest::Url) -> Result<(), String> {
    let Some(host) = url.host_str() else {
        return Err("the URL has no host".to_owned());
    };
    // IPv6 literals come bracketed; the URL parser has already normalised IPv4 forms.
    match host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
    {
        Ok(ip) if !is_global(ip) => Err(format!("{ip} is not a public address")),
        _ => Ok(()),
    }
}

/// Resolves `host` once (bounded by a timeout); `Err` unless it has addresses and, when
/// `public_only`, every one of them is global.
pub async fn resolve_checked(
    host: &str,
    port: u16,
    public_only: bool,
) -> Result<Vec<SocketAddr>, String> {
    let lookup = tokio::net::lookup_host((host, port));
    let addrs: Vec<SocketAddr> = match tokio::time::timeout(RESOLVE_TIMEOUT, lookup).await {
        Ok(Ok(addrs)) => addrs.collect(),
        Ok(Err(e)) => return Err(format!("cannot resolve {host}: {e}")),
        Err(_) => return Err(format!("resolving {host} timed out")),
    };
    if addrs.is_empty() {
        return Err(format!("{host} has no address"));
    }
    if public_only {
        if let Some(bad) = addrs.iter().find(|a| !is_global(a.ip())) {
            return Err(format!(
                "{host} resolves to {}, not a public address",
                bad.ip()
            ));
        }
    }
    Ok(addrs)
}

/// The webhook client's resolver: the addresses it returns are the ones the client connects
/// to, so a name cannot be checked with one answer and connected with another.
#[derive(Debug, Clone, Copy)]
pub struct GuardedResolver {
    pub public_only: bool,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let public_only = self.public_only;
        Box::pin(async move {
            // The port is replaced by the URL's own when connecting.
            let addrs = resolve_checked(name.as_str(), 0, public_only)
                .await
                .map_err(|e| -> Box<dyn std::error::Error + Send + Sync> { e.into() })?;
            let addrs: Addrs = Box::new(addrs.into_iter());
            Ok(addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every special-purpose range of the IANA IPv4 and IPv6 registries (and the ranges that
    /// embed IPv4 addresses), with a public neighbour where one matters.
    #[test]
    fn only_globally_routable_addresses_pass() {
        let table: &[(&str, bool)] = &[
            // IPv4 special-purpose registry.
            ("0.0.0.0", false),
            ("0.1.2.3", false),
            ("10.0.0.1", false),
            ("10.255.255.255", false),
            ("100.63.255.255", true),
            ("100.64.0.1", false),
            ("100.127.255.255", false),
            ("100.128.0.0", true),
            ("127.0.0.1", false),
            ("127.255.255.254", false),
            ("169.254.169.254", false),
            ("172.15.255.255", true),
            ("172.16.0.1", false),
            ("172.31.255.255", false),
            ("172.32.0.0", true),
            ("192.0.0.1", false),
            ("192.0.0.8", false),
            ("192.0.0.170", false),
            ("192.0.0.9", true),
            ("192.0.0.10", true),
            ("192.0.2.1", false),
            ("192.31.196.1", true),
            ("192.52.193.1", true),
            ("192.88.99.1", false),
            ("192.168.1.1", false),
            ("192.175.48.1", true),
            ("198.17.255.255", true),
            ("198.18.0.1", false),
            ("198.19.255.255", false),
            ("198.20.0.0", true),
            ("198.51.100.7", false),
            ("203.0.113.9", false),
            ("224.0.0.1", false),
            ("239.255.255.255", false),
            ("240.0.0.1", false),
            ("255.255.255.255", false),
            ("1.1.1.1", true),
            ("8.8.8.8", true),
            ("93.184.215.14", true),
            // IPv6 special-purpose registry.
            ("::", false),
            ("::1", false),
            ("::127.0.0.1", false),
            ("::8.8.8.8", false),
            ("::ffff:127.0.0.1", false),
            ("::ffff:10.0.0.1", false),
            ("::ffff:169.254.169.254", false),
            ("::ffff:8.8.8.8", true),
            ("::ffff:0:8.8.8.8", false),
            ("64:ff9b::7f00:1", false),
            ("64:ff9b::a00:1", false),
            ("64:ff9b::808:808", true),
            ("64:ff9b:1::808:808", false),
            ("100::1", false),
            ("100:0:0:1::1", false),
            ("2001::1", false),
            ("2001:0:4136:e378:8000:63bf:3fff:fdd2", false),
            ("2001:0:7f00:1::", false),
            ("2001:1::1", true),
            ("2001:1::2", true),
            ("2001:1::3", true),
            ("2001:1::4", false),
            ("2001:2::1", false),
            ("2001:3::1", true),
            ("2001:4:112::1", true),
            ("2001:10::1", false),
            ("2001:20::1", true),
            ("2001:30::1", true),
            ("2001:db8::1", false),
            ("2002::1", false),
            ("2002:7f00:1::1", false),
            ("2002:808:808::1", false),
            ("2620:4f:8000::1", true),
            ("3fff::1", false),
            ("3fff:fff::1", false),
            ("3fff:1000::1", true),
            ("5f00::1", false),
            ("fc00::1", false),
            ("fd12:3456::1", false),
            ("fe80::1", false),
            ("febf::1", false),
            ("fec0::1", false),
            ("feff::1", false),
            ("ff02::1", false),
            ("ff0e::1", false),
            ("4000::1", false),
            ("2606:4700:4700::1111", true),
            ("2a00:1450:4001::1", true),
        ];
        for (text, global) in table {
            let ip: IpAddr = text.parse().expect("a valid address in the table");
            assert_eq!(is_global(ip), *global, "{text}");
        }
    }

    #[test]
    fn ip_literal_hosts_are_checked() {
        for (url, ok) in [
            ("http://127.0.0.1:8080/x", false),
            ("http://[::ffff:10.0.0.1]/x", false),
            ("http://[::127.0.0.1]/x", false),
            ("http://0x7f000001/x", false),
            ("http://8.8.8.8/x", true),
            ("https://example.com/x", true),
        ] {
            let parsed = reqwest::Url::parse(url).expect("url");
            assert_eq!(check_url_host(&parsed).is_ok(), ok, "{url}");
        }
    }
}

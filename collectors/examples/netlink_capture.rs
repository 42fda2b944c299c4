//! Captures raw netlink dump replies into files, for the parsers' byte fixtures
//! (`tests/fixtures/netlink/`). Run inside a throw-away network namespace:
//! `ip netns exec <ns> cargo run -q -p nodex-collectors --example netlink_capture -- <dir>`.

use nodex_collectors::netlink::{
    genl_family_request, Socket, GENL_ID_CTRL, NETLINK_GENERIC, NETLINK_ROUTE, RTM_GETLINK,
    RTM_GETQDISC, RTM_GETROUTE,
};

fn main() -> std::io::Result<()> {
    let dir = std::env::args().nth(1).unwrap_or_else(|| ".".into());
    let mut sock = Socket::open(NETLINK_ROUTE)?;
    for (name, kind, payload) in [
        ("link.bin", RTM_GETLINK, vec![0u8; 16]),
        ("route.bin", RTM_GETROUTE, vec![0u8; 12]),
        ("qdisc.bin", RTM_GETQDISC, vec![0u8; 20]),
    ] {
        let replies = sock.dump(kind, &payload, &[])?;
        std::fs::write(format!("{dir}/{name}"), replies.concat())?;
    }
    let mut genl = Socket::open(NETLINK_GENERIC)?;
    let (header, name) = genl_family_request("nlctrl");
    let replies = genl.request(GENL_ID_CTRL, &header, &[(2, &name)])?;
    std::fs::write(format!("{dir}/genl-nlctrl.bin"), replies.concat())?;
    Ok(())
}

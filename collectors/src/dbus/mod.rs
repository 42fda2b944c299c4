//! A small blocking D-Bus client for the systemd and logind collectors: the pure wire format
//! in [`wire`], the socket, authentication and method calls in [`client`].

pub mod client;
pub mod wire;

pub use client::{parse_address, Address, Connection, DbusError};
pub use wire::Value;

use crate::roots::Roots;

/// The system bus as godbus finds it: `DBUS_SYSTEM_BUS_ADDRESS` when set, else the standard
/// socket, taken below `--path.rootfs` (as `run/dbus/system_bus_socket`: `/var/run` is an
/// absolute symlink to `/run`, which would leave a rootfs mounted elsewhere).
pub fn system_bus_address(roots: &Roots) -> Result<Address, String> {
    match std::env::var("DBUS_SYSTEM_BUS_ADDRESS") {
        Ok(text) if !text.is_empty() => parse_address(&text),
        _ => Ok(Address::Path(roots.root("run/dbus/system_bus_socket"))),
    }
}

/// Checks a D-Bus timeout flag: zero would fail every scrape, so it stops start-up instead.
pub fn positive(timeout: std::time::Duration, flag: &str) -> Result<std::time::Duration, String> {
    if timeout.is_zero() {
        return Err(format!("--{flag} must be longer than 0"));
    }
    Ok(timeout)
}

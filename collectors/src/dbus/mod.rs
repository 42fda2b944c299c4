//! A small blocking D-Bus client for the systemd and logind collectors: the pure wire format
//! in [`wire`], the socket, authentication and method calls in [`client`].

pub mod client;
pub mod wire;

pub use client::{parse_address, Address, Connection, DbusError};
pub use wire::Value;

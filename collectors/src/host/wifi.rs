//! wifi: `node_wifi_*` from nl80211 over generic netlink (interfaces, the BSS the interface
//! is associated with, and its stations), as node_exporter's `mdlayher/wifi` path; or from
//! JSON files (`interfaces.json`, `<device>/bss.json`, `<device>/stationinfo.json`) when
//! `--collector.wifi.fixtures=<dir>` is set.
//!
//! Without the nl80211 family (no cfg80211 in the kernel, as in this Firecracker VM) the
//! collector reports no data (`node_scrape_collector_success 0`, logged at debug level), as
//! node_exporter 1.12's `ErrNoData` (1.5.0 reported success with no samples).
//!
//! 1.5 has no `node_wifi_station_{transmitted,received}_packets_total` (added upstream in
//! #3382).

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::collector::{Collector, CollectorInfo, Settings};
use crate::error::{CollectError, ParseError};
use crate::expfmt::MetricSink;
use crate::netlink::{self, c_string, parse_attrs, Attr, Socket};
use crate::options::Flag;
use crate::util::{u16_at, u32_at, u64_at};

/// `--collector.wifi.fixtures`.
pub const FIXTURES: Flag<String> = Flag::new(
    "collector.wifi.fixtures",
    "test fixtures to use for wifi collector metrics",
    "",
);

/// Registration of this collector.
pub const INFO: CollectorInfo = CollectorInfo {
    name: "wifi",
    default_enabled: false,
    sources: "generic netlink nl80211 (or --collector.wifi.fixtures JSON); no cfg80211 in Firecracker VMs: no data",
    flags: &[FIXTURES.spec],
    build,
};

fn build(settings: &Arc<Settings>) -> Result<Box<dyn Collector>, String> {
    let fixtures = settings.options.get(&FIXTURES);
    Ok(Box::new(WifiCollector {
        fixtures: (!fixtures.is_empty()).then(|| PathBuf::from(fixtures)),
    }))
}

struct WifiCollector {
    fixtures: Option<PathBuf>,
}

/// A wireless interface.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Interface {
    /// Interface index.
    pub index: u32,
    /// Name (empty for devices without a netdev, which are skipped).
    pub name: String,
    /// nl80211 interface type.
    pub kind: u32,
    /// Operating frequency in MHz.
    pub frequency: u32,
}

/// The BSS an interface belongs to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Bss {
    /// SSID.
    pub ssid: String,
    /// BSSID, formatted like Go's `net.HardwareAddr.String()`.
    pub bssid: String,
    /// `mdlayher/wifi`'s BSSStatus: 0 authenticated, 1 associated, 2 not associated, 3 IBSS.
    pub status: i64,
}

/// One station of an interface.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Station {
    /// MAC address (Go `net.HardwareAddr.String()` form).
    pub mac: String,
    /// Seconds connected.
    pub connected_seconds: f64,
    /// Seconds since the last activity.
    pub inactive_seconds: f64,
    /// Receive bitrate, bits/s.
    pub receive_bitrate: f64,
    /// Transmit bitrate, bits/s.
    pub transmit_bitrate: f64,
    /// Bytes received.
    pub received_bytes: f64,
    /// Bytes transmitted.
    pub transmitted_bytes: f64,
    /// Packets received.
    pub received_packets: f64,
    /// Packets transmitted.
    pub transmitted_packets: f64,
    /// Signal, dBm.
    pub signal: f64,
    /// Transmit retries.
    pub transmit_retries: f64,
    /// Transmit failures.
    pub transmit_failed: f64,
    /// Beacon losses.
    pub beacon_loss: f64,
}

/// Formats a MAC address as Go's `net.HardwareAddr.String()`.
pub fn mac_string(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// node_exporter's `bssStatusMode`.
pub fn status_mode(status: i64) -> &'static str {
    match status {
        0 | 1 => "client",
        3 => "ad-hoc",
        _ => "unknown",
    }
}

// ---- fixtures (Go encoding/json of mdlayher/wifi's types) ----

fn json(bytes: &[u8]) -> Result<serde_json::Value, ParseError> {
    serde_json::from_slice(bytes).map_err(|e| ParseError::new(e.to_string()))
}

fn field<'a>(
    obj: &'a serde_json::Map<String, serde_json::Value>,
    name: &str,
) -> Option<&'a serde_json::Value> {
    obj.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
        .filter(|v| !v.is_null())
}

fn number(obj: &serde_json::Map<String, serde_json::Value>, name: &str) -> Result<f64, ParseError> {
    match field(obj, name) {
        None => Ok(0.0),
        Some(v) => v
            .as_f64()
            .ok_or_else(|| ParseError::new(format!("invalid {name}: {v}"))),
    }
}

fn text(
    obj: &serde_json::Map<String, serde_json::Value>,
    name: &str,
) -> Result<String, ParseError> {
    match field(obj, name) {
        None => Ok(String::new()),
        Some(serde_json::Value::String(s)) => Ok(s.clone()),
        Some(v) => Err(ParseError::new(format!("invalid {name}: {v}"))),
    }
}

/// A `[]byte` field: Go encodes it as standard base64.
fn base64_field(
    obj: &serde_json::Map<String, serde_json::Value>,
    name: &str,
) -> Result<Vec<u8>, ParseError> {
    let s = text(obj, name)?;
    base64_decode(&s).ok_or_else(|| ParseError::new(format!("invalid base64 in {name}: {s:?}")))
}

fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut acc = 0u32;
    let mut bits = 0;
    for c in s.bytes().filter(|&c| c != b'=') {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Some(out)
}

fn object(
    v: &serde_json::Value,
) -> Result<&serde_json::Map<String, serde_json::Value>, ParseError> {
    v.as_object()
        .ok_or_else(|| ParseError::new("expected a JSON object"))
}

fn array(v: serde_json::Value) -> Result<Vec<serde_json::Value>, ParseError> {
    match v {
        serde_json::Value::Array(items) => Ok(items),
        serde_json::Value::Null => Ok(Vec::new()),
        _ => Err(ParseError::new("expected a JSON array")),
    }
}

/// Parses `interfaces.json`.
pub fn parse_interfaces_json(bytes: &[u8]) -> Result<Vec<Interface>, ParseError> {
    array(json(bytes)?)?
        .iter()
        .map(|item| {
            let o = object(item)?;
            Ok(Interface {
                index: number(o, "index")? as u32,
                name: text(o, "name")?,
                kind: number(o, "type")? as u32,
                frequency: number(o, "frequency")? as u32,
            })
        })
        .collect()
}

/// Parses `<device>/bss.json`.
pub fn parse_bss_json(bytes: &[u8]) -> Result<Bss, ParseError> {
    let v = json(bytes)?;
    let o = object(&v)?;
    Ok(Bss {
        ssid: text(o, "ssid")?,
        bssid: mac_string(&base64_field(o, "bssid")?),
        status: number(o, "status")? as i64,
    })
}

/// Parses `<device>/stationinfo.json` (durations are Go nanoseconds).
pub fn parse_stations_json(bytes: &[u8]) -> Result<Vec<Station>, ParseError> {
    array(json(bytes)?)?
        .iter()
        .map(|item| {
            let o = object(item)?;
            Ok(Station {
                mac: mac_string(&base64_field(o, "hardwareaddr")?),
                connected_seconds: number(o, "connected")? / 1e9,
                inactive_seconds: number(o, "inactive")? / 1e9,
                receive_bitrate: number(o, "receivebitrate")?,
                transmit_bitrate: number(o, "transmitbitrate")?,
                received_bytes: number(o, "receivedbytes")?,
                transmitted_bytes: number(o, "transmittedbytes")?,
                received_packets: number(o, "receivedpackets")?,
                transmitted_packets: number(o, "transmittedpackets")?,
                signal: number(o, "signal")?,
                transmit_retries: number(o, "transmitretries")?,
                transmit_failed: number(o, "transmitfailed")?,
                beacon_loss: number(o, "beaconloss")?,
            })
        })
        .collect()
}

// ---- nl80211 ----

const GENL_HDRLEN: usize = 4;
const NL80211_CMD_GET_INTERFACE: u8 = 5;
const NL80211_CMD_GET_STATION: u8 = 17;
const NL80211_CMD_GET_SCAN: u8 = 32;
const NL80211_ATTR_IFINDEX: u16 = 3;
const NL80211_ATTR_IFNAME: u16 = 4;
const NL80211_ATTR_IFTYPE: u16 = 5;
const NL80211_ATTR_MAC: u16 = 6;
const NL80211_ATTR_STA_INFO: u16 = 21;
const NL80211_ATTR_WIPHY_FREQ: u16 = 38;
const NL80211_ATTR_BSS: u16 = 47;
const NL80211_BSS_BSSID: u16 = 1;
const NL80211_BSS_INFORMATION_ELEMENTS: u16 = 6;
const NL80211_BSS_STATUS: u16 = 9;

fn genl_attrs(payload: &[u8]) -> Result<Vec<Attr<'_>>, ParseError> {
    if payload.len() < GENL_HDRLEN {
        return Err(ParseError::new("short generic netlink message"));
    }
    parse_attrs(&payload[GENL_HDRLEN..])
}

/// Parses one `NL80211_CMD_NEW_INTERFACE` payload.
pub fn parse_interface(payload: &[u8]) -> Result<Interface, ParseError> {
    let mut ifi = Interface::default();
    for a in genl_attrs(payload)? {
        match a.kind {
            NL80211_ATTR_IFINDEX => ifi.index = u32_at(a.value, 0)?,
            NL80211_ATTR_IFNAME => ifi.name = c_string(a.value),
            NL80211_ATTR_IFTYPE => ifi.kind = u32_at(a.value, 0)?,
            NL80211_ATTR_WIPHY_FREQ => ifi.frequency = u32_at(a.value, 0)?,
            _ => {}
        }
    }
    Ok(ifi)
}

/// The SSID in a run of 802.11 information elements (id 0), as mdlayher/wifi's `parseIEs`
/// and `BSS.parseAttributes`: every element is checked (a malformed one anywhere is an
/// error) and the last SSID element wins.
pub fn parse_ssid(mut ies: &[u8]) -> Result<String, ParseError> {
    let mut ssid = String::new();
    while !ies.is_empty() {
        let [id, len, rest @ ..] = ies else {
            return Err(ParseError::new("truncated information element"));
        };
        let len = *len as usize;
        let data = rest
            .get(..len)
            .ok_or_else(|| ParseError::new("information element length past the end"))?;
        if *id == 0 {
            ssid = decode_ssid(data);
        }
        ies = &rest[len..];
    }
    Ok(ssid)
}

/// mdlayher/wifi's `decodeSSID`: `utf8.DecodeRune` in a loop, so every byte of an invalid
/// sequence becomes one U+FFFD (`String::from_utf8_lossy` replaces a whole truncated
/// sequence with one).
pub fn decode_ssid(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        out.push_str(chunk.valid());
        out.extend(std::iter::repeat_n('\u{fffd}', chunk.invalid().len()));
    }
    out
}

/// The BSS of one `NL80211_CMD_NEW_SCAN_RESULTS` payload, if it carries a status (the one the
/// interface is authenticated/associated with or has joined).
pub fn parse_scan_result(payload: &[u8]) -> Result<Option<Bss>, ParseError> {
    for a in genl_attrs(payload)? {
        if a.kind != NL80211_ATTR_BSS {
            continue;
        }
        let nested = parse_attrs(a.value)?;
        let Some(status) = nested.iter().find(|n| n.kind == NL80211_BSS_STATUS) else {
            continue;
        };
        // mdlayher/wifi casts the kernel value (`BSSStatus(nlenc.Uint32(...))`), so the
        // kernel's NL80211_BSS_STATUS_IBSS_JOINED (2) is its BSSStatusNotAssociated (2) and
        // node_exporter's mode "unknown", not "ad-hoc" (its BSSStatusIBSSJoined is 3).
        let status = i64::from(u32_at(status.value, 0)?);
        let mut bss = Bss {
            status,
            ..Bss::default()
        };
        for n in &nested {
            match n.kind {
                NL80211_BSS_BSSID => bss.bssid = mac_string(n.value),
                NL80211_BSS_INFORMATION_ELEMENTS => bss.ssid = parse_ssid(n.value)?,
                _ => {}
            }
        }
        return Ok(Some(bss));
    }
    Ok(None)
}

fn rate_bits(value: &[u8]) -> Result<f64, ParseError> {
    const BITRATE: u16 = 1;
    const BITRATE32: u16 = 5;
    let attrs = parse_attrs(value)?;
    let rate = match attrs.iter().find(|a| a.kind == BITRATE32) {
        Some(a) => f64::from(u32_at(a.value, 0)?),
        None => match attrs.iter().find(|a| a.kind == BITRATE) {
            Some(a) => f64::from(u16_at(a.value, 0)?),
            None => 0.0,
        },
    };
    Ok(rate * 100.0 * 1000.0)
}

/// Parses one `NL80211_CMD_NEW_STATION` payload.
pub fn parse_station(payload: &[u8]) -> Result<Station, ParseError> {
    let mut st = Station::default();
    let (mut rx64, mut tx64) = (None, None);
    for a in genl_attrs(payload)? {
        match a.kind {
            NL80211_ATTR_MAC => st.mac = mac_string(a.value),
            NL80211_ATTR_STA_INFO => {
                for n in parse_attrs(a.value)? {
                    let v = n.value;
                    match n.kind {
                        1 => st.inactive_seconds = f64::from(u32_at(v, 0)?) / 1000.0,
                        2 => st.received_bytes = f64::from(u32_at(v, 0)?),
                        3 => st.transmitted_bytes = f64::from(u32_at(v, 0)?),
                        7 => {
                            st.signal = f64::from(
                                *v.first().ok_or_else(|| ParseError::new("empty signal"))? as i8,
                            )
                        }
                        8 => st.transmit_bitrate = rate_bits(v)?,
                        9 => st.received_packets = f64::from(u32_at(v, 0)?),
                        10 => st.transmitted_packets = f64::from(u32_at(v, 0)?),
                        11 => st.transmit_retries = f64::from(u32_at(v, 0)?),
                        12 => st.transmit_failed = f64::from(u32_at(v, 0)?),
                        14 => st.receive_bitrate = rate_bits(v)?,
                        16 => st.connected_seconds = f64::from(u32_at(v, 0)?),
                        18 => st.beacon_loss = f64::from(u32_at(v, 0)?),
                        23 => rx64 = Some(u64_at(v, 0)?),
                        24 => tx64 = Some(u64_at(v, 0)?),
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    if let Some(v) = rx64 {
        st.received_bytes = v as f64;
    }
    if let Some(v) = tx64 {
        st.transmitted_bytes = v as f64;
    }
    Ok(st)
}

struct Nl80211 {
    sock: Socket,
    family: u16,
}

fn genl_header(cmd: u8) -> [u8; GENL_HDRLEN] {
    [cmd, 1, 0, 0]
}

impl Nl80211 {
    /// Connects and resolves the nl80211 family; `NotFound` when the kernel has none.
    fn open() -> io::Result<Self> {
        let mut sock = Socket::open(netlink::NETLINK_GENERIC)?;
        let family = netlink::genl_family(&mut sock, "nl80211")?;
        Ok(Nl80211 { sock, family })
    }

    fn dump(&mut self, cmd: u8, ifindex: Option<u32>) -> io::Result<Vec<Vec<u8>>> {
        let index;
        let attrs: &[(u16, &[u8])] = match ifindex {
            Some(i) => {
                index = i.to_ne_bytes();
                &[(NL80211_ATTR_IFINDEX, &index)]
            }
            None => &[],
        };
        let replies = self.sock.dump(self.family, &genl_header(cmd), attrs)?;
        Ok(netlink::payloads_of(&replies, self.family)
            .map_err(invalid)?
            .into_iter()
            .map(<[u8]>::to_vec)
            .collect())
    }
}

fn invalid(e: ParseError) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

/// Where the collector reads from: the kernel, or a fixture directory.
enum Source<'a> {
    Kernel(Nl80211),
    Fixtures(&'a Path),
}

/// "Not found" results are skipped, as `os.ErrNotExist` in node_exporter.
type Lookup<T> = Result<Option<T>, CollectError>;

impl Source<'_> {
    fn interfaces(&mut self) -> Result<Vec<Interface>, CollectError> {
        match self {
            Source::Kernel(nl) => {
                let payloads = nl.dump(NL80211_CMD_GET_INTERFACE, None).map_err(|e| {
                    CollectError::Other(format!("failed to retrieve wifi interfaces: {e}"))
                })?;
                payloads
                    .iter()
                    .map(|p| parse_interface(p))
                    .collect::<Result<_, _>>()
                    .map_err(|e| {
                        CollectError::Other(format!("failed to retrieve wifi interfaces: {e}"))
                    })
            }
            Source::Fixtures(dir) => {
                crate::util::parse_file(&dir.join("interfaces.json"), parse_interfaces_json)
            }
        }
    }

    fn bss(&mut self, ifi: &Interface) -> Lookup<Bss> {
        let err = |e: String| {
            CollectError::Other(format!(
                "failed to retrieve BSS for device {}: {e}",
                ifi.name
            ))
        };
        match self {
            Source::Kernel(nl) => {
                let payloads = nl
                    .dump(NL80211_CMD_GET_SCAN, Some(ifi.index))
                    .map_err(|e| err(e.to_string()))?;
                for p in &payloads {
                    if let Some(bss) = parse_scan_result(p).map_err(|e| err(e.to_string()))? {
                        return Ok(Some(bss));
                    }
                }
                Ok(None)
            }
            Source::Fixtures(dir) => {
                fixture_file(&dir.join(&ifi.name).join("bss.json"), parse_bss_json)
                    .map_err(|e| err(e.to_string()))
            }
        }
    }

    fn stations(&mut self, ifi: &Interface) -> Lookup<Vec<Station>> {
        let err = |e: String| {
            CollectError::Other(format!(
                "failed to retrieve station info for device {:?}: {e}",
                ifi.name
            ))
        };
        match self {
            Source::Kernel(nl) => {
                let payloads = nl
                    .dump(NL80211_CMD_GET_STATION, Some(ifi.index))
                    .map_err(|e| err(e.to_string()))?;
                if payloads.is_empty() {
                    return Ok(None);
                }
                payloads
                    .iter()
                    .map(|p| parse_station(p))
                    .collect::<Result<Vec<_>, _>>()
                    .map(Some)
                    .map_err(|e| err(e.to_string()))
            }
            Source::Fixtures(dir) => fixture_file(
                &dir.join(&ifi.name).join("stationinfo.json"),
                parse_stations_json,
            )
            .map_err(|e| err(e.to_string())),
        }
    }
}

/// Reads and parses a fixture file; a missing file is `None`.
fn fixture_file<T>(
    path: &Path,
    parse: fn(&[u8]) -> Result<T, ParseError>,
) -> Result<Option<T>, CollectError> {
    match std::fs::read(path) {
        Ok(bytes) => parse(&bytes)
            .map(Some)
            .map_err(|e| CollectError::parse(path, e)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(CollectError::io(path, e)),
    }
}

const STATION_LABELS: [&str; 2] = ["device", "mac_address"];

impl Collector for WifiCollector {
    fn collect(&self, sink: &mut MetricSink) -> Result<(), CollectError> {
        let mut source = match &self.fixtures {
            Some(dir) => Source::Fixtures(dir),
            None => match Nl80211::open() {
                Ok(nl) => Source::Kernel(nl),
                Err(e) if matches!(e.kind(), io::ErrorKind::NotFound) => {
                    return Err(CollectError::NoData(
                        "wifi collector metrics are not available for this system".into(),
                    ))
                }
                Err(e) if matches!(e.kind(), io::ErrorKind::PermissionDenied) => {
                    return Err(CollectError::NoData(
                        "wifi collector got permission denied when accessing metrics".into(),
                    ))
                }
                Err(e) => {
                    return Err(CollectError::Other(format!(
                        "failed to access wifi data: {e}"
                    )))
                }
            },
        };
        for ifi in source.interfaces()? {
            if ifi.name.is_empty() {
                continue;
            }
            sink.gauge(
                "node_wifi_interface_frequency_hertz",
                "The current frequency a WiFi interface is operating at, in hertz.",
            );
            sink.sample(
                &[("device", &ifi.name)],
                f64::from(ifi.frequency) * 1000.0 * 1000.0,
            );
            if let Some(bss) = source.bss(&ifi)? {
                sink.gauge(
                    "node_wifi_station_info",
                    "Labeled WiFi interface station information as provided by the operating system.",
                );
                sink.sample(
                    &[
                        ("device", &ifi.name),
                        ("bssid", &bss.bssid),
                        ("ssid", &bss.ssid),
                        ("mode", status_mode(bss.status)),
                    ],
                    1.0,
                );
            }
            for st in source.stations(&ifi)?.unwrap_or_default() {
                emit_station(&ifi.name, &st, sink);
            }
        }
        Ok(())
    }
}

/// Writes one station's families.
pub fn emit_station(device: &str, st: &Station, sink: &mut MetricSink) {
    let labels = [
        (STATION_LABELS[0], device),
        (STATION_LABELS[1], st.mac.as_str()),
    ];
    type Field = fn(&Station) -> f64;
    let families: [(&str, &str, bool, Field); 12] = [
        (
            "node_wifi_station_connected_seconds_total",
            "The total number of seconds a station has been connected to an access point.",
            true,
            |s| s.connected_seconds,
        ),
        (
            "node_wifi_station_inactive_seconds",
            "The number of seconds since any wireless activity has occurred on a station.",
            false,
            |s| s.inactive_seconds,
        ),
        (
            "node_wifi_station_receive_bits_per_second",
            "The current WiFi receive bitrate of a station, in bits per second.",
            false,
            |s| s.receive_bitrate,
        ),
        (
            "node_wifi_station_transmit_bits_per_second",
            "The current WiFi transmit bitrate of a station, in bits per second.",
            false,
            |s| s.transmit_bitrate,
        ),
        (
            "node_wifi_station_receive_bytes_total",
            "The total number of bytes received by a WiFi station.",
            true,
            |s| s.received_bytes,
        ),
        (
            "node_wifi_station_transmit_bytes_total",
            "The total number of bytes transmitted by a WiFi station.",
            true,
            |s| s.transmitted_bytes,
        ),
        (
            "node_wifi_station_signal_dbm",
            "The current WiFi signal strength, in decibel-milliwatts (dBm).",
            false,
            |s| s.signal,
        ),
        (
            "node_wifi_station_transmit_retries_total",
            "The total number of times a station has had to retry while sending a packet.",
            true,
            |s| s.transmit_retries,
        ),
        (
            "node_wifi_station_transmit_failed_total",
            "The total number of times a station has failed to send a packet.",
            true,
            |s| s.transmit_failed,
        ),
        (
            "node_wifi_station_beacon_loss_total",
            "The total number of times a station has detected a beacon loss.",
            true,
            |s| s.beacon_loss,
        ),
        (
            "node_wifi_station_transmitted_packets_total",
            "The total number of packets transmitted by a station.",
            true,
            |s| s.transmitted_packets,
        ),
        (
            "node_wifi_station_received_packets_total",
            "The total number of packets received by a station.",
            true,
            |s| s.received_packets,
        ),
    ];
    for (name, help, counter, value) in families {
        if counter {
            sink.counter(name, help);
        } else {
            sink.gauge(name, help);
        }
        sink.sample(&labels, value(st));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attr(kind: u16, value: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&((4 + value.len()) as u16).to_ne_bytes());
        out.extend_from_slice(&kind.to_ne_bytes());
        out.extend_from_slice(value);
        out.resize((out.len() + 3) & !3, 0);
        out
    }

    fn genl(attrs: &[Vec<u8>]) -> Vec<u8> {
        let mut out = vec![7, 1, 0, 0];
        for a in attrs {
            out.extend_from_slice(a);
        }
        out
    }

    #[test]
    fn interface_message() {
        let p = genl(&[
            attr(NL80211_ATTR_IFINDEX, &3u32.to_ne_bytes()),
            attr(NL80211_ATTR_IFNAME, b"wlan0\0"),
            attr(NL80211_ATTR_IFTYPE, &2u32.to_ne_bytes()),
            attr(NL80211_ATTR_WIPHY_FREQ, &2412u32.to_ne_bytes()),
        ]);
        let ifi = parse_interface(&p).unwrap();
        assert_eq!(
            (ifi.index, ifi.name.as_str(), ifi.kind, ifi.frequency),
            (3, "wlan0", 2, 2412)
        );
        assert!(parse_interface(&p[..2]).is_err());
        assert!(parse_interface(&p[..9]).is_err());
    }

    #[test]
    fn scan_and_ssid() {
        let ies = [0u8, 7, b'E', b'x', b'a', b'm', b'p', b'l', b'e', 1, 1, 0x82];
        let bss = attr(
            NL80211_ATTR_BSS,
            &[
                attr(NL80211_BSS_BSSID, &[0, 0x11, 0x22, 0x33, 0x44, 0x55]),
                attr(NL80211_BSS_INFORMATION_ELEMENTS, &ies),
                attr(NL80211_BSS_STATUS, &1u32.to_ne_bytes()),
            ]
            .concat(),
        );
        let got = parse_scan_result(&genl(&[bss])).unwrap().unwrap();
        assert_eq!(got.ssid, "Example");
        assert_eq!(got.bssid, "00:11:22:33:44:55");
        assert_eq!(status_mode(got.status), "client");
        let unassociated = attr(NL80211_ATTR_BSS, &attr(NL80211_BSS_BSSID, &[1; 6]));
        assert_eq!(parse_scan_result(&genl(&[unassociated])).unwrap(), None);
        assert!(parse_ssid(&[0, 9, 1]).is_err());
        // mdlayher/wifi: every IE checked, the last SSID wins, invalid UTF-8 per byte.
        assert!(parse_ssid(&[0, 1, b'a', 5, 9, 1]).is_err());
        assert_eq!(parse_ssid(&[0, 1, b'a', 0, 1, b'b']).unwrap(), "b");
        assert_eq!(decode_ssid(b"x\xe2\x82y"), "x\u{fffd}\u{fffd}y");
        let ibss = attr(
            NL80211_ATTR_BSS,
            &attr(NL80211_BSS_STATUS, &2u32.to_ne_bytes()),
        );
        let got = parse_scan_result(&genl(&[ibss])).unwrap().unwrap();
        assert_eq!(
            status_mode(got.status),
            "unknown",
            "kernel IBSS_JOINED cast as Go"
        );
        assert!(parse_ssid(&[0]).is_err());
        assert_eq!(parse_ssid(&[]).unwrap(), "");
    }

    #[test]
    fn station_message() {
        let rate = attr(5, &1640u32.to_ne_bytes());
        let info = [
            attr(1, &400u32.to_ne_bytes()),
            attr(2, &10u32.to_ne_bytes()),
            attr(7, &[(-52i8) as u8]),
            attr(8, &rate),
            attr(14, &attr(1, &1280u16.to_ne_bytes())),
            attr(16, &30u32.to_ne_bytes()),
            attr(18, &1u32.to_ne_bytes()),
            attr(23, &(1u64 << 33).to_ne_bytes()),
        ]
        .concat();
        let p = genl(&[
            attr(NL80211_ATTR_MAC, &[0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff]),
            attr(NL80211_ATTR_STA_INFO, &info),
        ]);
        let st = parse_station(&p).unwrap();
        assert_eq!(st.mac, "aa:bb:cc:dd:ee:ff");
        assert_eq!(st.inactive_seconds, 0.4);
        assert_eq!(st.signal, -52.0);
        assert_eq!(st.transmit_bitrate, 164e6);
        assert_eq!(st.receive_bitrate, 128e6);
        assert_eq!(st.connected_seconds, 30.0);
        assert_eq!(
            st.received_bytes,
            (1u64 << 33) as f64,
            "64-bit counter wins"
        );
        let mut short = p.clone();
        short.truncate(p.len() - 6);
        assert!(parse_station(&short).is_err());
    }

    #[test]
    fn missing_interfaces_file_fails_missing_station_files_are_skipped() {
        let build = |dir: &str| {
            let mut options = crate::options::Options::default();
            options.set(&FIXTURES, dir);
            let settings = Arc::new(Settings::new(crate::roots::Roots::default(), options));
            (INFO.build)(&settings).unwrap()
        };
        let mut sink = MetricSink::new();
        assert!(build("/nonexistent/nodex/wifi").collect(&mut sink).is_err());
        // A missing per-device file means "not found" (skipped); the golden covers wlan1, which
        // has neither bss.json nor stationinfo.json.
        assert_eq!(
            fixture_file(Path::new("/nonexistent/nodex/bss.json"), parse_bss_json).unwrap(),
            None
        );
    }

    #[test]
    fn fixtures_json() {
        let ifis =
            parse_interfaces_json(br#"[{"name":"wlan0","type":2,"frequency":2412},{"type":10}]"#)
                .unwrap();
        assert_eq!(ifis[0].frequency, 2412);
        assert_eq!(ifis[1].name, "");
        let bss = parse_bss_json(br#"{"ssid":"Example","bssid":"ABEiM0RV","status":1}"#).unwrap();
        assert_eq!(bss.bssid, "00:11:22:33:44:55");
        let st = parse_stations_json(
            br#"[{"hardwareaddr":"qrvM3e7/","connected":30000000000,"signal":-52}]"#,
        )
        .unwrap();
        assert_eq!(st[0].mac, "aa:bb:cc:dd:ee:ff");
        assert_eq!(st[0].connected_seconds, 30.0);
        assert!(parse_interfaces_json(b"").is_err());
        assert!(parse_bss_json(b"[]").is_err());
        assert!(parse_bss_json(br#"{"bssid":"!!"}"#).is_err());
        assert!(parse_stations_json(br#"[{"signal":"x"}]"#).is_err());
    }
}

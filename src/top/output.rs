//! Columns, sorting, filtering and the plain-text table of `nodex top`.

use std::cmp::Ordering;

use super::model::{Node, Row};

/// A column of the view; every one can be sorted on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Column {
    /// Namespace.
    Namespace,
    /// Pod.
    Pod,
    /// Container (or runtime name).
    Container,
    /// CPU cores used.
    Cpu,
    /// CPU request.
    CpuRequest,
    /// CPU limit.
    CpuLimit,
    /// CPU as % of request.
    CpuRequestPercent,
    /// CPU as % of limit.
    CpuLimitPercent,
    /// Throttled share.
    Throttled,
    /// Working set.
    Memory,
    /// Memory limit.
    MemoryLimit,
    /// Working set as % of limit.
    MemoryPercent,
    /// OOM kills.
    Oom,
    /// Processes.
    Pids,
    /// Network receive rate.
    Rx,
    /// Network transmit rate.
    Tx,
    /// Block I/O rate.
    Io,
    /// Log write rate.
    Log,
    /// Restarts.
    Restarts,
}

/// Every column, in display order.
pub const COLUMNS: [Column; 19] = [
    Column::Namespace,
    Column::Pod,
    Column::Container,
    Column::Cpu,
    Column::CpuRequest,
    Column::CpuLimit,
    Column::CpuRequestPercent,
    Column::CpuLimitPercent,
    Column::Throttled,
    Column::Memory,
    Column::MemoryLimit,
    Column::MemoryPercent,
    Column::Oom,
    Column::Pids,
    Column::Rx,
    Column::Tx,
    Column::Io,
    Column::Log,
    Column::Restarts,
];

impl Column {
    /// The `--sort-by` name.
    pub fn key(self) -> &'static str {
        match self {
            Column::Namespace => "namespace",
            Column::Pod => "pod",
            Column::Container => "container",
            Column::Cpu => "cpu",
            Column::CpuRequest => "cpu-request",
            Column::CpuLimit => "cpu-limit",
            Column::CpuRequestPercent => "cpu-request-percent",
            Column::CpuLimitPercent => "cpu-limit-percent",
            Column::Throttled => "throttled",
            Column::Memory => "memory",
            Column::MemoryLimit => "memory-limit",
            Column::MemoryPercent => "memory-percent",
            Column::Oom => "oom",
            Column::Pids => "pids",
            Column::Rx => "rx",
            Column::Tx => "tx",
            Column::Io => "io",
            Column::Log => "log",
            Column::Restarts => "restarts",
        }
    }

    /// The header.
    pub fn title(self) -> &'static str {
        match self {
            Column::Namespace => "NAMESPACE",
            Column::Pod => "POD",
            Column::Container => "CONTAINER",
            Column::Cpu => "CPU",
            Column::CpuRequest => "CPU-REQ",
            Column::CpuLimit => "CPU-LIM",
            Column::CpuRequestPercent => "%REQ",
            Column::CpuLimitPercent => "%LIM",
            Column::Throttled => "THROT",
            Column::Memory => "MEM",
            Column::MemoryLimit => "MEM-LIM",
            Column::MemoryPercent => "%MEM",
            Column::Oom => "OOM",
            Column::Pids => "PIDS",
            Column::Rx => "RX/s",
            Column::Tx => "TX/s",
            Column::Io => "IO/s",
            Column::Log => "LOG/s",
            Column::Restarts => "RESTARTS",
        }
    }

    /// Parses a `--sort-by` name.
    pub fn from_key(key: &str) -> Option<Column> {
        COLUMNS.into_iter().find(|c| c.key() == key)
    }

    fn text(self, r: &Row) -> Option<&str> {
        match self {
            Column::Namespace => Some(&r.namespace),
            Column::Pod => Some(&r.pod),
            Column::Container => Some(&r.container),
            _ => None,
        }
    }

    fn number(self, r: &Row) -> Option<f64> {
        match self {
            Column::Namespace | Column::Pod | Column::Container => None,
            Column::Cpu => r.cpu_cores,
            Column::CpuRequest => r.cpu_request_millis,
            Column::CpuLimit => r.cpu_limit_millis,
            Column::CpuRequestPercent => r.cpu_request_percent,
            Column::CpuLimitPercent => r.cpu_limit_percent,
            Column::Throttled => r.throttled_percent,
            Column::Memory => r.memory_working_set_bytes,
            Column::MemoryLimit => r.memory_limit_bytes,
            Column::MemoryPercent => r.memory_limit_percent,
            Column::Oom => r.oom_kills,
            Column::Pids => r.pids,
            Column::Rx => r.network_rx_bytes_per_second,
            Column::Tx => r.network_tx_bytes_per_second,
            Column::Io => r.block_io_bytes_per_second,
            Column::Log => r.log_write_bytes_per_second,
            Column::Restarts => r.restarts.map(|n| n as f64),
        }
    }

    /// The cell as shown.
    pub fn cell(self, r: &Row) -> String {
        if let Some(t) = self.text(r) {
            return if t.is_empty() { "-".into() } else { t.into() };
        }
        let Some(v) = self.number(r) else {
            return "-".into();
        };
        match self {
            Column::Cpu => format!("{v:.3}"),
            Column::CpuRequest | Column::CpuLimit => format!("{v:.0}m"),
            Column::CpuRequestPercent
            | Column::CpuLimitPercent
            | Column::Throttled
            | Column::MemoryPercent => format!("{v:.0}%"),
            Column::Memory
            | Column::MemoryLimit
            | Column::Rx
            | Column::Tx
            | Column::Io
            | Column::Log => bytes(v),
            _ => format!("{v:.0}"),
        }
    }

    /// Text columns sort A→Z, numbers largest first (missing values last).
    pub fn compare(self, a: &Row, b: &Row) -> Ordering {
        if let (Some(x), Some(y)) = (self.text(a), self.text(b)) {
            return x.cmp(y);
        }
        match (self.number(a), self.number(b)) {
            (Some(x), Some(y)) => y.total_cmp(&x),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => Ordering::Equal,
        }
    }
}

/// Bytes in binary units, as `kubectl top` prints memory (`Mi`).
pub fn bytes(v: f64) -> String {
    const UNITS: [&str; 5] = ["", "Ki", "Mi", "Gi", "Ti"];
    let mut v = v;
    let mut i = 0;
    while v >= 1024.0 && i + 1 < UNITS.len() {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}{}", UNITS[i])
    }
}

/// Sorts rows by `column` (ties by namespace, pod, container), reversed if asked.
pub fn sort(rows: &mut [Row], column: Column, reverse: bool) {
    rows.sort_by(|a, b| {
        let o = column.compare(a, b).then_with(|| {
            (&a.namespace, &a.pod, &a.container).cmp(&(&b.namespace, &b.pod, &b.container))
        });
        if reverse {
            o.reverse()
        } else {
            o
        }
    });
}

/// Whether a row matches a filter: a substring of its namespace, pod or container (a
/// `namespace/` prefix restricts to that namespace).
pub fn matches(r: &Row, filter: &str) -> bool {
    if filter.is_empty() {
        return true;
    }
    if let Some((ns, rest)) = filter.split_once('/') {
        return r.namespace == ns && (r.pod.contains(rest) || r.container.contains(rest));
    }
    r.namespace.contains(filter) || r.pod.contains(filter) || r.container.contains(filter)
}

/// The node line, like `kubectl top node`.
pub fn node_line(n: &Node) -> String {
    let f = |v: Option<f64>, p: usize| v.map_or("-".to_string(), |v| format!("{v:.p$}"));
    format!(
        "NODE  CPU {} cores ({}% of {} CPUs)  MEMORY {} ({}% of {})",
        f(n.cpu_cores, 3),
        f(n.cpu_percent, 0),
        f(n.cpu_count, 0),
        n.memory_working_set_bytes.map_or("-".into(), bytes),
        f(n.memory_percent, 0),
        n.memory_bytes.map_or("-".into(), bytes),
    )
}

/// The plain table: a node line, a header and one line per row, columns padded.
pub fn table(node: &Node, rows: &[Row]) -> String {
    let mut cells: Vec<Vec<String>> = vec![COLUMNS.iter().map(|c| c.title().to_string()).collect()];
    cells.extend(
        rows.iter()
            .map(|r| COLUMNS.iter().map(|c| c.cell(r)).collect()),
    );
    let widths: Vec<usize> = (0..COLUMNS.len())
        .map(|i| cells.iter().map(|l| l[i].len()).max().unwrap_or(0))
        .collect();
    let mut out = node_line(node);
    out.push('\n');
    for line in cells {
        let mut text = String::new();
        for (i, cell) in line.iter().enumerate() {
            text.push_str(&format!("{cell:<w$}  ", w = widths[i]));
        }
        out.push_str(text.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(pod: &str, container: &str, cpu: Option<f64>) -> Row {
        Row {
            namespace: "ns".into(),
            pod: pod.into(),
            container: container.into(),
            cpu_cores: cpu,
            ..Row::default()
        }
    }

    #[test]
    fn sorts_numbers_descending_with_missing_last() {
        let mut rows = vec![
            row("a", "x", None),
            row("b", "y", Some(0.1)),
            row("c", "z", Some(2.0)),
        ];
        sort(&mut rows, Column::Cpu, false);
        let order: Vec<&str> = rows.iter().map(|r| r.pod.as_str()).collect();
        assert_eq!(order, ["c", "b", "a"]);
        sort(&mut rows, Column::Container, false);
        assert_eq!(rows[0].container, "x");
        sort(&mut rows, Column::Container, true);
        assert_eq!(rows[0].container, "z");
    }

    #[test]
    fn every_column_has_a_unique_key() {
        for c in COLUMNS {
            assert_eq!(Column::from_key(c.key()), Some(c));
        }
        assert_eq!(Column::from_key("bogus"), None);
    }

    #[test]
    fn filters_and_cells() {
        let r = row("web-0", "app", Some(0.25));
        assert!(matches(&r, "web"));
        assert!(matches(&r, "ns/app"));
        assert!(!matches(&r, "other/app"));
        assert!(!matches(&r, "db"));
        assert_eq!(Column::Cpu.cell(&r), "0.250");
        assert_eq!(Column::Memory.cell(&r), "-");
        assert_eq!(bytes(64.0 * 1024.0 * 1024.0), "64.0Mi");
        assert_eq!(bytes(512.0), "512");
        let t = table(&Node::default(), &[r]);
        assert!(
            t.lines().nth(1).is_some_and(|l| l.starts_with("NAMESPACE")),
            "{t}"
        );
        assert!(t.lines().nth(2).is_some_and(|l| l.contains("web-0")), "{t}");
    }

    #[test]
    fn log_column_sorts_and_shows_bytes_per_second() {
        let mut rows = vec![
            row("a", "x", None),
            row("b", "y", None),
            row("c", "z", None),
        ];
        rows[0].log_write_bytes_per_second = Some(10.0);
        rows[2].log_write_bytes_per_second = Some(3.0 * 1024.0 * 1024.0);
        assert_eq!(Column::from_key("log"), Some(Column::Log));
        sort(&mut rows, Column::Log, false);
        let order: Vec<&str> = rows.iter().map(|r| r.pod.as_str()).collect();
        assert_eq!(order, ["c", "a", "b"]);
        assert_eq!(Column::Log.cell(&rows[0]), "3.0Mi");
        assert_eq!(Column::Log.cell(&rows[2]), "-");
        let t = table(&Node::default(), &rows);
        assert!(t.lines().nth(1).is_some_and(|l| l.contains("LOG/s")), "{t}");
    }
}

//! Small I/O and parsing helpers shared by collectors. I/O helpers attach the path to errors;
//! parsing helpers are pure.
//!
//! Over 500 lines only with its unit tests (488 lines of code before them).

use crate::roots::JoinExt;
use std::fs;
use std::path::{Path, PathBuf};

use crate::error::{CollectError, ParseError};
use crate::fdcache;
use crate::hash::FastMap;

/// Reads a whole file. Unlike `fs::read` it does not stat the file first: procfs and sysfs
/// report sizes of 0 or 4096 that say nothing about the content.
/// procfs and sysfs files are read through descriptors kept between scrapes ([`fdcache`]).
pub fn read(path: &Path) -> Result<Vec<u8>, CollectError> {
    read_bytes(path).map_err(|e| CollectError::io(path, e))
}

/// `std::fs::read` for procfs and sysfs: no `stat` for a size hint, and the descriptor kept
/// between scrapes ([`fdcache`]). The file is read into a buffer the thread keeps and copied
/// out at its size: read into a fresh vector, every file of 4 KiB or more (netstat, snmp,
/// vmstat...) was a `malloc` and a `realloc` that copied it.
pub fn read_bytes(path: impl AsRef<Path>) -> std::io::Result<Vec<u8>> {
    with_thread_buffer(|buf| fdcache::read_into(path.as_ref(), buf, false).map(|()| buf.to_vec()))
}

/// Reads a one-value attribute (sysfs, or a procfs sysctl) with a single `read`: such files
/// hand their whole value, at most a page, to the first read. A full page means there may be
/// more, and the rest is read too.
pub fn read_attribute(path: &Path) -> std::io::Result<String> {
    let mut text = String::new();
    append_attribute(path, &mut text)?;
    Ok(text)
}

/// Like [`read_attribute`], appending the text (invalid UTF-8 replaced) to `out`: readers of
/// many attributes keep them in one buffer instead of one `String` each.
pub fn append_attribute(path: &Path, out: &mut String) -> std::io::Result<()> {
    thread_local! {
        // One page per worker thread, reused: zeroing a fresh page per attribute showed up in
        // profiles as a tenth of the scrape's user time.
        static PAGE: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(Vec::with_capacity(4096));
    }
    PAGE.with(|page| {
        let mut buf = page.borrow_mut();
        let read = fdcache::read_into(path, &mut buf, true);
        if read.is_ok() {
            out.push_str(&String::from_utf8_lossy(&buf));
        }
        buf.truncate(0);
        buf.shrink_to(4096);
        read
    })
}

/// Reads a whole file as text, replacing invalid UTF-8.
pub fn read_text(path: &Path) -> Result<String, CollectError> {
    read(path).map(|b| String::from_utf8_lossy(&b).into_owned())
}

/// Reads a one-value sysfs/procfs attribute and trims surrounding white space.
pub fn read_trimmed(path: &Path) -> Result<String, CollectError> {
    read_text(path).map(|s| s.trim().to_string())
}

/// Reads an attribute, returning `None` if it is absent or unreadable (optional sysfs files).
pub fn read_optional(path: &Path) -> Option<String> {
    read(path)
        .ok()
        .map(|b| String::from_utf8_lossy(&b).trim().to_string())
}

/// Reads an attribute and parses it as an integer-or-float number.
pub fn read_number(path: &Path) -> Result<f64, CollectError> {
    let text = read_trimmed(path)?;
    parse_f64(&text).map_err(|e| CollectError::parse(path, e))
}

/// Reads an optional numeric attribute (absent, unreadable or unparsable → `None`).
pub fn read_optional_number(path: &Path) -> Option<f64> {
    read_optional(path).and_then(|s| parse_f64(&s).ok())
}

/// Sorted names of the entries of a directory. A missing directory is [`CollectError::Missing`].
pub fn list_dir(path: &Path) -> Result<Vec<String>, CollectError> {
    use std::os::unix::fs::OpenOptionsExt;
    let dir = match fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY)
        .open(path)
    {
        Ok(d) => d,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(CollectError::Missing(path.to_path_buf()))
        }
        Err(e) => return Err(CollectError::io(path, e)),
    };
    let mut names = Vec::new();
    read_dir_names(&dir, |name| {
        names.push(match std::str::from_utf8(name) {
            Ok(name) => name.to_owned(),
            Err(_) => String::from_utf8_lossy(name).into_owned(),
        });
    });
    names.sort();
    Ok(names)
}

/// Calls `each` with the name of every entry of the open directory `dir` but `.` and `..`,
/// read with `getdents64` into a buffer the thread keeps: `fs::read_dir`'s `opendir` allocated
/// a 32 KiB buffer per directory (~1,000 instructions in malloc and free, a dozen directories a
/// scrape) and every entry an `Arc`'d copy of its name. A read error ends the listing, as
/// `read_dir`'s entries that failed were skipped.
fn read_dir_names(dir: &fs::File, mut each: impl FnMut(&[u8])) {
    use std::os::fd::AsRawFd;
    thread_local! {
        static BUF: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    BUF.with(|buf| {
        let mut buf = buf.borrow_mut();
        if buf.len() < 16 * 1024 {
            buf.resize(16 * 1024, 0);
        }
        loop {
            // SAFETY: the kernel writes at most `buf.len()` bytes into `buf`, which is
            // initialised, and returns how many.
            let n = unsafe {
                libc::syscall(
                    libc::SYS_getdents64,
                    dir.as_raw_fd(),
                    buf.as_mut_ptr(),
                    buf.len(),
                )
            };
            let Ok(n) = usize::try_from(n) else {
                return;
            };
            if n == 0 {
                return;
            }
            // `struct linux_dirent64`: inode (8 bytes), offset (8), record length (2), type
            // (1), then the NUL-terminated name.
            let mut records = buf.get(..n).unwrap_or_default();
            while records.len() > 19 {
                let len = usize::from(u16::from_ne_bytes([records[16], records[17]]));
                let Some(record) = records.get(19..len) else {
                    return;
                };
                let name = record.split(|&b| b == 0).next().unwrap_or_default();
                if name != b"." && name != b".." {
                    each(name);
                }
                records = &records[len..];
            }
        }
    });
}

/// A directory entry's name as a `String` in one allocation when it is UTF-8, lossily
/// converted otherwise.
pub fn file_name(entry: &fs::DirEntry) -> String {
    entry
        .file_name()
        .into_string()
        .unwrap_or_else(|name| name.to_string_lossy().into_owned())
}

/// Like [`list_dir`] but returns full paths.
pub fn list_dir_paths(path: &Path) -> Result<Vec<PathBuf>, CollectError> {
    Ok(list_dir(path)?
        .into_iter()
        .map(|n| path.join_exact(n))
        .collect())
}

/// Reads a file and runs a pure parser on it, attaching the path to parse errors. The bytes
/// are read into a buffer the thread keeps for the next file: procfs files are larger than
/// malloc's per-thread cache, and allocating and freeing one buffer per file (about 40 per
/// scrape) went through the slow paths of glibc's allocator.
pub fn parse_file<T>(
    path: &Path,
    parse: impl FnOnce(&[u8]) -> Result<T, ParseError>,
) -> Result<T, CollectError> {
    with_thread_buffer(|buf| match fdcache::read_into(path, buf, false) {
        Ok(()) => parse(buf).map_err(|e| CollectError::parse(path, e)),
        Err(e) => Err(CollectError::io(path, e)),
    })
}

/// Runs `f` with an empty buffer the thread keeps for the next call (a stack of them, so that
/// `f` may itself ask for one); buffers grown past 256 KiB (a huge mountstats) are freed.
pub fn with_thread_buffer<R>(f: impl FnOnce(&mut Vec<u8>) -> R) -> R {
    thread_local! {
        static BUFFERS: std::cell::RefCell<Vec<Vec<u8>>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    const KEEP_UP_TO: usize = 256 * 1024;
    let mut buf = BUFFERS.with(|b| b.borrow_mut().pop()).unwrap_or_default();
    buf.clear();
    let result = f(&mut buf);
    if buf.capacity() <= KEEP_UP_TO {
        BUFFERS.with(|b| {
            let mut buffers = b.borrow_mut();
            if buffers.len() < 4 {
                buffers.push(buf);
            }
        });
    }
    result
}

/// Parses a decimal integer or float (as `strconv.ParseFloat` would accept for our inputs).
pub fn parse_f64(s: &str) -> Result<f64, ParseError> {
    let s = s.trim_ascii();
    // Most kernel counters are plain integers, which parse several times faster as one; the
    // nearest f64 to an integer is the same either way.
    if let Ok(n) = s.parse::<u64>() {
        return Ok(n as f64);
    }
    s.parse::<f64>()
        .ok()
        .filter(|_| !s.is_empty())
        .ok_or_else(|| ParseError::new(format!("invalid number {s:?}")))
}

/// Checks that `s` is a number as [`parse_f64`] reads it, without converting it: a field a
/// collector drops is only validated (node_exporter parses every value before filtering), and
/// up to 19 digits, what kernel counters are, always parse.
pub fn check_f64(s: &str) -> Result<(), ParseError> {
    let b = s.as_bytes();
    if !b.is_empty() && b.len() <= 19 && b.iter().all(u8::is_ascii_digit) {
        return Ok(());
    }
    parse_f64(s).map(|_| ())
}

/// Parses an unsigned 64-bit integer.
pub fn parse_u64(s: &str) -> Result<u64, ParseError> {
    s.trim()
        .parse::<u64>()
        .map_err(|_| ParseError::new(format!("invalid unsigned integer {s:?}")))
}

/// Parses a signed 64-bit integer.
pub fn parse_i64(s: &str) -> Result<i64, ParseError> {
    s.trim()
        .parse::<i64>()
        .map_err(|_| ParseError::new(format!("invalid integer {s:?}")))
}

/// The lines of `text` exactly as [`str::lines`] gives them (split at `\n`, a `\r` before it
/// removed, no empty line after a final `\n`), found by the `memchr` crate: `str::lines`
/// searches with a `CharSearcher` whose set-up cost ~190 instructions per line of the short
/// lines of procfs files, 4% of a host scrape, and a byte loop four instructions per byte.
pub fn lines(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = text;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        match memchr::memchr(b'\n', rest.as_bytes()) {
            Some(i) => {
                let line = &rest[..i];
                rest = &rest[i + 1..];
                Some(line.strip_suffix('\r').unwrap_or(line))
            }
            None => Some(std::mem::take(&mut rest)),
        }
    })
}

/// Text of a byte slice, invalid UTF-8 replaced.
pub fn lossy(bytes: &[u8]) -> std::borrow::Cow<'_, str> {
    // `from_utf8` checks ASCII a word at a time, where `from_utf8_lossy` walks the chunks byte
    // by byte: kernel files are valid UTF-8, and this was 2% of a host scrape's instructions.
    match std::str::from_utf8(bytes) {
        Ok(text) => std::borrow::Cow::Borrowed(text),
        Err(_) => String::from_utf8_lossy(bytes),
    }
}

/// Makes an arbitrary string a valid metric-name fragment: every character outside
/// `[a-zA-Z0-9_]` becomes `_` (as node_exporter's `SanitizeMetricName`).
pub fn sanitize_metric_name(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == ':' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Parses an unsigned integer as Go's `strconv.ParseUint(s, 0, 64)` (procfs' `ValueParser`):
/// a `0x`, `0o` or `0b` prefix, or a bare leading `0` (octal), selects the base.
pub fn parse_u64_prefixed(s: &str) -> Result<u64, ParseError> {
    let err = || ParseError::new(format!("invalid unsigned integer {s:?}"));
    // Plain decimal (what the kernel writes) needs no lower-cased copy.
    if !s.is_empty()
        && s.bytes().all(|b| b.is_ascii_digit())
        && (s.len() == 1 || !s.starts_with('0'))
    {
        return s.parse::<u64>().map_err(|_| err());
    }
    let lower = s.to_ascii_lowercase();
    let (digits, radix) = if let Some(rest) = lower.strip_prefix("0x") {
        (rest, 16)
    } else if let Some(rest) = lower.strip_prefix("0o") {
        (rest, 8)
    } else if let Some(rest) = lower.strip_prefix("0b") {
        (rest, 2)
    } else if lower.len() > 1 && lower.starts_with('0') {
        (&lower[1..], 8)
    } else {
        (lower.as_str(), 10)
    };
    if digits.is_empty() || digits.starts_with(['+', '-']) {
        return Err(err());
    }
    u64::from_str_radix(digits, radix).map_err(|_| err())
}

/// Parses a signed integer as Go's `strconv.ParseInt(s, 0, 64)`: an optional sign, then the
/// prefixes of [`parse_u64_prefixed`].
pub fn parse_i64_prefixed(s: &str) -> Result<i64, ParseError> {
    let err = || ParseError::new(format!("invalid integer {s:?}"));
    let (negative, magnitude) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let value = i128::from(parse_u64_prefixed(magnitude).map_err(|_| err())?);
    let value = if negative { -value } else { value };
    i64::try_from(value).map_err(|_| err())
}

/// Read errors meaning the host does not have the subsystem: `ENOENT`, which node_exporter's
/// collectors test with `os.IsNotExist` / `errors.Is(err, fs.ErrNotExist)`.
pub const MISSING: &[std::io::ErrorKind] = &[std::io::ErrorKind::NotFound];

/// [`MISSING`], and `EACCES` where node_exporter maps `os.ErrPermission` to `ErrNoData` too
/// (watchdog, nvmesubsystem, rapl: `energy_uj` is root-only since Linux 5.10).
pub const MISSING_OR_DENIED: &[std::io::ErrorKind] = &[
    std::io::ErrorKind::NotFound,
    std::io::ErrorKind::PermissionDenied,
];

/// A fixed-size array at `offset` of `buf`, or an error naming the shortfall.
pub fn array<const N: usize>(buf: &[u8], offset: usize) -> Result<[u8; N], ParseError> {
    buf.get(offset..offset + N)
        .and_then(|s| s.try_into().ok())
        .ok_or_else(|| {
            ParseError::new(format!(
                "need {N} bytes at offset {offset}, have {}",
                buf.len()
            ))
        })
}

/// A native-endian u16 at `offset`.
pub fn u16_at(buf: &[u8], offset: usize) -> Result<u16, ParseError> {
    array(buf, offset).map(u16::from_ne_bytes)
}

/// A native-endian u32 at `offset`.
pub fn u32_at(buf: &[u8], offset: usize) -> Result<u32, ParseError> {
    array(buf, offset).map(u32::from_ne_bytes)
}

/// A native-endian u64 at `offset`.
pub fn u64_at(buf: &[u8], offset: usize) -> Result<u64, ParseError> {
    array(buf, offset).map(u64::from_ne_bytes)
}

/// For `map_err`: turns a read error of one of `kinds` into [`CollectError::NoData`] (naming the
/// path and the error), as node_exporter's collectors return `ErrNoData` for them; other errors
/// pass through. The one place an I/O error becomes "no data"; for an `Option` see
/// [`IfPresent`](crate::error::IfPresent).
pub fn no_data_if(kinds: &'static [std::io::ErrorKind]) -> impl Fn(CollectError) -> CollectError {
    move |err| match err {
        CollectError::Io { ref source, .. } if kinds.contains(&source.kind()) => {
            CollectError::NoData(err.to_string())
        }
        other => other,
    }
}

/// Remembers, per field name of a file such as `/proc/net/netstat` or `/proc/vmstat`, whether the
/// field filter keeps it and the metric name and help it is exported under. Those files have
/// hundreds of fields and few are kept, so each name is matched and formatted once per process
/// instead of once per scrape. Field names come from the kernel, so the table stays small.
///
/// The kernel prints the same fields in the same order on every read, so the table also
/// remembers which field came at each position: a field is found by comparing it with the one
/// at its position last time, and looked up by hash only when that differs.
pub struct FieldNames {
    filter: Option<regex::Regex>,
    table: std::sync::Mutex<FieldTable>,
}

/// Fields seen so far: their names and export decisions, an index by name, and the field at
/// each position of the last read.
#[derive(Default)]
struct FieldTable {
    fields: Vec<(String, Option<(String, String)>)>,
    by_name: FastMap<String, usize>,
    by_position: Vec<usize>,
}

impl FieldNames {
    /// A cache over `filter` (`None` keeps every field).
    pub fn new(filter: Option<regex::Regex>) -> Self {
        FieldNames {
            filter,
            table: Default::default(),
        }
    }

    /// Locks the cache for one file's fields (one lock per scrape, not per field).
    pub fn lock(&self) -> FieldNamesLock<'_> {
        FieldNamesLock {
            filter: self.filter.as_ref(),
            table: self.table.lock().unwrap_or_else(|p| p.into_inner()),
        }
    }
}

/// A locked [`FieldNames`].
pub struct FieldNamesLock<'a> {
    filter: Option<&'a regex::Regex>,
    table: std::sync::MutexGuard<'a, FieldTable>,
}

impl FieldNamesLock<'_> {
    /// Calls `emit(metric, help)` when the key that is `parts` joined (`["TcpExt", "_",
    /// "SyncookiesSent"]`), the file's field number `position`, passes the filter; `name(key)`
    /// gives the metric name and help the first time the key is seen. The key is compared piece
    /// by piece with the field seen at `position` last time and joined only when that differs.
    pub fn with_parts(
        &mut self,
        position: usize,
        parts: &[&str],
        name: impl FnOnce(&str) -> (String, String),
        emit: impl FnOnce(&str, &str),
    ) {
        if let Some((metric, help)) = self
            .kept_parts(position, parts, name)
            .and_then(|index| self.named(index))
        {
            emit(metric, help);
        }
    }

    /// The table index of the field [`with_parts`](Self::with_parts) would emit, `None` when
    /// the filter drops it: for collectors that check a whole file before emitting.
    pub fn kept_parts(
        &mut self,
        position: usize,
        parts: &[&str],
        name: impl FnOnce(&str) -> (String, String),
    ) -> Option<usize> {
        let table = &mut *self.table;
        let index = match table.by_position.get(position) {
            Some(&i) if is_joined(&table.fields[i].0, parts) => i,
            _ => {
                let key = parts.concat();
                let i = match table.by_name.get(&key) {
                    Some(&i) => i,
                    None => {
                        let keep = self.filter.is_none_or(|r| r.is_match(&key));
                        let named = keep.then(|| name(&key));
                        table.fields.push((key.clone(), named));
                        table.by_name.insert(key, table.fields.len() - 1);
                        table.fields.len() - 1
                    }
                };
                if position < table.by_position.len() {
                    table.by_position[position] = i;
                } else if position == table.by_position.len() {
                    table.by_position.push(i);
                }
                i
            }
        };
        table.fields[index].1.is_some().then_some(index)
    }

    /// The metric name and help of kept field `index`, as [`kept_parts`](Self::kept_parts)
    /// returned it.
    pub fn named(&self, index: usize) -> Option<(&str, &str)> {
        let (_, named) = self.table.fields.get(index)?;
        named
            .as_ref()
            .map(|(metric, help)| (metric.as_str(), help.as_str()))
    }
}

/// The field name at each position of a `name value` file's last read (`/proc/vmstat`,
/// `/proc/net/snmp6`) and what a collector decided for it (its name-cache index when kept).
/// The kernel prints the same fields every read, so a line that starts with last read's name
/// at its position, then ASCII whitespace, is that field, and its name need not be split out.
#[derive(Default)]
pub struct KnownLines(Vec<(String, Option<usize>)>);

impl KnownLines {
    /// When `line` starts with the name read at `position` last time, then ASCII whitespace:
    /// that name, its decision and the rest of the line (its value columns).
    pub fn get<'a, 'l>(
        &'a self,
        position: usize,
        line: &'l str,
    ) -> Option<(&'a str, Option<usize>, &'l str)> {
        let (name, index) = self.0.get(position)?;
        let follows = line.as_bytes().get(name.len())?;
        (follows.is_ascii_whitespace() && line.starts_with(name.as_str()))
            .then(|| (name.as_str(), *index, &line[name.len()..]))
    }

    /// Records `name` and its decision at `position`, forgetting the positions after it.
    pub fn set(&mut self, position: usize, name: &str, index: Option<usize>) {
        self.0.truncate(position);
        self.0.push((name.to_string(), index));
    }
}

/// Whether `key` is `parts` joined.
fn is_joined(key: &str, parts: &[&str]) -> bool {
    let mut rest = key.as_bytes();
    for part in parts {
        match rest.strip_prefix(part.as_bytes()) {
            Some(r) => rest = r,
            None => return false,
        }
    }
    rest.is_empty()
}

#[cfg(test)]
mod tests {
    /// `lines` splits as `str::lines` on the cases its documentation lists, and more.
    #[test]
    fn lines_match_str_lines() {
        for text in [
            "",
            "\n",
            "\n\n",
            "a",
            "a\n",
            "a\nb",
            "a\r\nb\r\n",
            "a\r\r\nb\r",
            "\r\n",
            "\ra\n\nb \n  c\r",
            "é\nü\r\n",
        ] {
            let ours: Vec<&str> = super::lines(text).collect();
            let std: Vec<&str> = text.lines().collect();
            assert_eq!(ours, std, "{text:?}");
        }
    }
    use super::*;

    /// The `getdents64` listing gives what `fs::read_dir` gives, past one buffer's worth of
    /// entries and with long names.
    #[test]
    fn list_dir_matches_read_dir() {
        let dir = std::env::temp_dir().join(format!("nodex-list-dir-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        for i in 0..700 {
            fs::write(
                dir.join(format!("entry-{i:04}-{}", "x".repeat(i % 200))),
                b"",
            )
            .unwrap();
        }
        fs::create_dir_all(dir.join("sub")).unwrap();
        let mut expected: Vec<String> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        expected.sort();
        assert_eq!(list_dir(&dir).unwrap(), expected);
        assert!(matches!(
            list_dir(&dir.join("absent")),
            Err(CollectError::Missing(_))
        ));
        assert!(list_dir(&dir.join("sub/..").join("entry-0000-")).is_err());
        fs::remove_dir_all(&dir).unwrap();
        assert!(!list_dir(Path::new("/proc/self/fdinfo")).unwrap().is_empty());
    }

    #[test]
    fn numbers() {
        assert_eq!(parse_f64(" 12 ").unwrap(), 12.0);
        assert_eq!(parse_f64("-1.5").unwrap(), -1.5);
        assert_eq!(parse_f64(" 42\n").unwrap(), 42.0);
        assert_eq!(
            parse_f64("18446744073709551615").unwrap(),
            18446744073709551615.0
        );
        assert_eq!(
            parse_f64("18446744073709551616").unwrap(),
            18446744073709551616.0
        );
        assert!(parse_f64("").is_err());
        assert!(parse_f64("abc").is_err());
        assert_eq!(parse_u64("18446744073709551615").unwrap(), u64::MAX);
        assert!(parse_u64("-1").is_err());
        assert_eq!(parse_i64("-3").unwrap(), -3);
    }

    #[test]
    fn field_names_filter_once_and_remember() {
        let names = FieldNames::new(Some(regex::Regex::new("^pg").unwrap()));
        let mut out = Vec::new();
        let mut named = 0;
        // The same order twice, then fields moved, added and removed (a kernel update).
        let reads: [&[&str]; 4] = [
            &["pgfault", "nr_free"],
            &["pgfault", "nr_free"],
            &["nr_free", "pgmajfault", "pgfault"],
            &["pgfault"],
        ];
        for read in reads {
            let mut locked = names.lock();
            for (position, key) in read.iter().enumerate() {
                let index = locked.kept_parts(position, &[key], |k| {
                    named += 1;
                    (format!("m_{k}"), format!("h {k}"))
                });
                if let Some((m, h)) = index.and_then(|i| locked.named(i)) {
                    out.push(format!("{m}|{h}"));
                }
            }
        }
        let expected = [
            "m_pgfault|h pgfault",
            "m_pgfault|h pgfault",
            "m_pgmajfault|h pgmajfault",
            "m_pgfault|h pgfault",
            "m_pgfault|h pgfault",
        ];
        assert_eq!(out, expected);
        assert_eq!(named, 2, "each kept field is named once");
    }

    #[test]
    fn sanitizes() {
        assert_eq!(sanitize_metric_name("in0-input.x"), "in0_input_x");
    }

    #[test]
    fn missing_dir_is_no_data() {
        let err = list_dir(Path::new("/nonexistent/nodex/test")).unwrap_err();
        assert!(err.is_no_data());
    }

    #[test]
    fn prefixed_integers() {
        assert_eq!(parse_u64_prefixed("0x1F").unwrap(), 31);
        assert_eq!(parse_u64_prefixed("010").unwrap(), 8);
        assert_eq!(parse_u64_prefixed("0").unwrap(), 0);
        assert_eq!(parse_u64_prefixed("0b101").unwrap(), 5);
        assert_eq!(parse_u64_prefixed("0xffffffffffffffff").unwrap(), u64::MAX);
        assert!(parse_u64_prefixed("").is_err());
        assert!(parse_u64_prefixed("0x").is_err());
        assert!(parse_u64_prefixed("-1").is_err());
        assert!(parse_u64_prefixed("09").is_err());
        assert_eq!(parse_i64_prefixed("-0x10").unwrap(), -16);
        assert_eq!(parse_i64_prefixed("+7").unwrap(), 7);
        assert!(parse_i64_prefixed("9223372036854775808").is_err());
        assert_eq!(
            parse_i64_prefixed("-9223372036854775808").unwrap(),
            i64::MIN
        );
    }

    #[test]
    fn missing_files_are_no_data() {
        let err = read(Path::new("/nonexistent/nodex/file")).unwrap_err();
        let err = no_data_if(MISSING)(err);
        assert!(err.is_no_data(), "{err}");
        assert!(err.to_string().contains("/nonexistent/nodex/file"), "{err}");
        let denied =
            || CollectError::io(Path::new("/x"), std::io::ErrorKind::PermissionDenied.into());
        assert!(!no_data_if(MISSING)(denied()).is_no_data());
        assert!(no_data_if(MISSING_OR_DENIED)(denied()).is_no_data());
        let parse = CollectError::parse(Path::new("/x"), ParseError::new("bad"));
        assert!(!no_data_if(MISSING_OR_DENIED)(parse).is_no_data());
    }
}

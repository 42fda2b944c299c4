//! Counting log lines and bytes per stream from appended chunks of a log file (pure: the caller
//! feeds the bytes; a line may span any number of chunks and only a bounded part of it is kept).
//!
//! - CRI format, written by containerd and CRI-O for the kubelet
//!   (`pkg/kubelet/kuberuntime/logs/logs.go`, kubernetes/kubernetes, `parseCRILog`):
//!   `<RFC3339Nano> <stream> <tag> <message>\n`, `tag` `F` for a full line or `P` for a
//!   partial one (a long line is split into `P` entries ended by an `F` entry).
//! - Docker's json-file (`daemon/logger/jsonfilelog/jsonlog`, moby/moby):
//!   `{"log":"<message>","stream":"stdout","time":"<RFC3339Nano>"}\n`, the message ending in
//!   `\n` for a full line; Docker splits lines over 16 KiB into entries without `\n`.
//!   The `stream` key follows the message; quotes inside the message are escaped, so
//!   `"stream":"` near the end of an entry is the key.
//!
//! A line is counted when its entry is full; bytes are the file bytes of every entry.

/// The two streams a container writes.
pub const STREAMS: [&str; 2] = ["stdout", "stderr"];

/// How the file's entries are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// CRI `<time> <stream> <P|F> <message>`.
    Cri,
    /// Docker json-file.
    DockerJson,
}

/// Bytes of an entry's start (CRI) or end (Docker) kept to find its stream.
const KEEP: usize = 96;

/// Per-stream totals and the state of the entry being read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counter {
    /// Full lines per stream (index of [`STREAMS`]).
    pub lines: [u64; 2],
    /// File bytes per stream.
    pub bytes: [u64; 2],
    /// Entries whose stream could not be told (garbage), with their bytes.
    pub unknown: u64,
    head: Vec<u8>,
    tail: Vec<u8>,
    len: u64,
}

impl Counter {
    /// Feeds the next bytes of the file.
    pub fn feed(&mut self, format: Format, mut chunk: &[u8]) {
        while !chunk.is_empty() {
            let end = chunk.iter().position(|&b| b == b'\n');
            let part = &chunk[..end.map_or(chunk.len(), |i| i + 1)];
            self.len += part.len() as u64;
            if self.head.len() < KEEP {
                let n = (KEEP - self.head.len()).min(part.len());
                self.head.extend_from_slice(&part[..n]);
            }
            if part.len() >= KEEP {
                self.tail.clear();
                self.tail.extend_from_slice(&part[part.len() - KEEP..]);
            } else {
                self.tail.extend_from_slice(part);
                if self.tail.len() > KEEP {
                    self.tail.drain(..self.tail.len() - KEEP);
                }
            }
            chunk = &chunk[part.len()..];
            if end.is_some() {
                self.finish(format);
            }
        }
    }

    /// Forgets the entry being read (its file was truncated); totals stay.
    pub fn drop_partial(&mut self) {
        self.head.clear();
        self.tail.clear();
        self.len = 0;
    }

    fn finish(&mut self, format: Format) {
        let found = match format {
            Format::Cri => cri(&self.head),
            Format::DockerJson => docker(&self.tail),
        };
        match found {
            Some((stream, full)) => {
                self.bytes[stream] += self.len;
                self.lines[stream] += u64::from(full);
            }
            None => self.unknown += 1,
        }
        self.head.clear();
        self.tail.clear();
        self.len = 0;
    }
}

fn stream_index(s: &[u8]) -> Option<usize> {
    STREAMS.iter().position(|n| n.as_bytes() == s)
}

/// The stream and full-line flag of a CRI entry from its first bytes.
fn cri(head: &[u8]) -> Option<(usize, bool)> {
    let mut fields = head.splitn(4, |&b| b == b' ');
    let _time = fields.next()?;
    let stream = stream_index(fields.next()?)?;
    let tag = fields.next()?;
    // Tags are `:`-separated (`P`, `F`, reserved extensions); the first is the partial flag.
    let full = match tag.split(|&b| b == b':').next()? {
        b"F" => true,
        b"P" => false,
        _ => return None,
    };
    fields.next()?;
    Some((stream, full))
}

/// The stream and full-line flag of a json-file entry from its last bytes.
fn docker(tail: &[u8]) -> Option<(usize, bool)> {
    const KEY: &[u8] = b"\",\"stream\":\"";
    let at = tail.windows(KEY.len()).rposition(|w| w == KEY)?;
    let rest = &tail[at + KEY.len()..];
    let end = rest.iter().position(|&b| b == b'"')?;
    let stream = stream_index(&rest[..end])?;
    Some((stream, tail[..at].ends_with(b"\\n")))
}

#[cfg(test)]
mod tests {
    use super::*;

    // Lines as containerd writes them (format from parseCRILog's tests in kubernetes).
    const CRI: &[u8] = b"2016-10-06T00:17:09.669794202Z stdout F log content 1\n\
2016-10-06T00:17:09.669794203Z stderr F log content 2\n\
2016-10-06T00:17:10.113242941Z stderr P partial \n\
2016-10-06T00:17:10.113242941Z stderr F rest\n";

    const DOCKER: &[u8] = br#"{"log":"hello\n","stream":"stdout","time":"2026-12-01T22:00:00.1Z"}
{"log":"say \"stream\":\"stderr\"\n","stream":"stdout","time":"2026-12-01T22:00:00.2Z"}
{"log":"oops\n","stream":"stderr","time":"2026-12-01T22:00:00.3Z"}
{"log":"part","stream":"stderr","time":"2026-12-01T22:00:00.4Z"}
"#;

    fn lens(text: &[u8]) -> Vec<u64> {
        text.split_inclusive(|&b| b == b'\n')
            .map(|l| l.len() as u64)
            .collect()
    }

    #[test]
    fn cri_lines_in_any_chunking() {
        let l = lens(CRI);
        for size in [1, 2, 7, 64, CRI.len()] {
            let mut c = Counter::default();
            for chunk in CRI.chunks(size) {
                c.feed(Format::Cri, chunk);
            }
            assert_eq!(c.lines, [1, 2], "chunk {size}");
            assert_eq!(c.bytes, [l[0], l[1] + l[2] + l[3]], "chunk {size}");
            assert_eq!(c.unknown, 0);
        }
    }

    #[test]
    fn docker_lines_in_any_chunking() {
        let l = lens(DOCKER);
        for size in [1, 3, 50, DOCKER.len()] {
            let mut c = Counter::default();
            for chunk in DOCKER.chunks(size) {
                c.feed(Format::DockerJson, chunk);
            }
            assert_eq!(c.lines, [2, 1], "chunk {size}");
            assert_eq!(c.bytes, [l[0] + l[1], l[2] + l[3]], "chunk {size}");
        }
    }

    #[test]
    fn long_lines_and_garbage_stay_bounded() {
        let mut c = Counter::default();
        c.feed(Format::Cri, b"2026-12-01T00:00:00Z stdout F ");
        for _ in 0..1000 {
            c.feed(Format::Cri, &[b'x'; 10_000]);
        }
        assert!(c.head.len() <= KEEP && c.tail.len() <= KEEP);
        assert_eq!(c.lines, [0, 0], "no newline yet");
        c.feed(Format::Cri, b"\ngarbage\n\n");
        assert_eq!(c.lines, [1, 0]);
        assert_eq!(c.bytes[0], 30 + 10_000_000 + 1);
        assert_eq!(c.unknown, 2);
        let mut d = Counter::default();
        d.feed(Format::DockerJson, b"{\"log\":\"x\"}\nnot json\n");
        assert_eq!((d.lines, d.unknown), ([0, 0], 2));
    }
}

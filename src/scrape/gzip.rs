//! Gzip of scrape bodies, on more than one core when the body is large (thousands of
//! containers: ~15 MB at 1000, where compressing it on the rendering thread was the longest
//! serial step of a scrape). The body is cut into chunks of [`CHUNK`] bytes, each deflated on
//! its own and ended by a sync flush (an empty stored block, so it ends on a byte boundary);
//! the chunks' deflate output is concatenated into one deflate stream that an empty final
//! block closes, in one gzip member (RFC 1952) whose CRC-32 combines the chunks'. This is how
//! pigz compresses in parallel; any inflater reads the result as one stream. The first chunk
//! is deflated on the calling thread as it is written (64 KiB at a time, as flate2's encoder
//! did), so a body of one chunk or less (a host scrape) starts no thread and is not held whole;
//! on one CPU the whole body is streamed that way.
//!
//! flate2 does the deflating; it has no parallel encoder, so the chunking is written here.

use std::collections::VecDeque;
use std::io::{self, Write};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Mutex};

use flate2::{Compress, Compression, Crc, FlushCompress, Status};

/// Bytes per independently deflated chunk: large enough that losing the dictionary at a
/// boundary costs nothing measurable, small enough that a host scrape (~150 KB) is one chunk.
pub const CHUNK: usize = 512 * 1024;

/// Bytes deflated at a time while the calling thread streams the body's start.
const STAGE: usize = 64 * 1024;

/// Compressing threads started for a body of more than one chunk.
const WORKERS: usize = 2;

/// Chunks handed to the workers and not yet written out, at most: bounds the memory held.
const IN_FLIGHT: usize = 4;

/// The gzip header flate2's `GzEncoder` writes: deflate, no flags, no mtime, OS unknown.
const HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];

/// A final fixed-Huffman block holding only its end-of-block code.
const FINAL_BLOCK: [u8; 2] = [0x03, 0x00];

/// A chunk's deflate output and the CRC of its input.
type Deflated = io::Result<(Vec<u8>, Crc)>;

/// A chunk for a worker and where its result goes.
type Task = (Vec<u8>, SyncSender<Deflated>);

/// A writer that gzips what it is given into `out`. The first chunk (on one CPU, the whole
/// body) is deflated on the calling thread as it comes, [`STAGE`] bytes at a time, so a host
/// scrape holds no more than it did through flate2's encoder; once the body outgrows the first
/// chunk, further chunks go to two workers on the runtime's blocking threads.
/// [`ParallelGzip::finish`] writes the end of the stream.
pub struct ParallelGzip<W: Write> {
    out: W,
    /// Bytes not yet deflated: at most [`STAGE`] while streaming, a chunk after.
    buf: Vec<u8>,
    /// Whether the calling thread still deflates as bytes come (`inline` holds the stream).
    streaming: bool,
    /// The streaming path's deflate output before it is written.
    scratch: Vec<u8>,
    crc: Crc,
    header_written: bool,
    tasks: Option<SyncSender<Task>>,
    /// Results of the chunks handed out, in body order.
    pending: VecDeque<Receiver<Deflated>>,
    /// The compressor of the calling thread: the streamed start, then the last chunk.
    inline: Compress,
    /// Whether chunks go to worker threads ([`parallel`]).
    threads: bool,
}

impl<W: Write> ParallelGzip<W> {
    /// A writer into `out`, buffering in `buf` (an
    /// earlier scrape's, returned by [`ParallelGzip::finish`]: a fresh chunk buffer per scrape
    /// was an `mmap` and its page faults).
    pub fn new(out: W, mut buf: Vec<u8>) -> Self {
        buf.clear();
        ParallelGzip {
            out,
            buf,
            streaming: true,
            scratch: Vec::new(),
            crc: Crc::new(),
            header_written: false,
            tasks: None,
            pending: VecDeque::new(),
            inline: fast(),
            threads: parallel(),
        }
    }

    /// The same writer deflating every chunk on the calling thread, as on one CPU.
    #[cfg(test)]
    fn without_threads(mut self) -> Self {
        self.threads = false;
        self
    }

    /// Deflates what is buffered, writes every chunk in order and the gzip trailer; returns
    /// the buffer for the next body.
    pub fn finish(mut self) -> io::Result<Vec<u8>> {
        if self.streaming {
            self.stream_out(FlushCompress::Sync)?;
        } else {
            let last = std::mem::take(&mut self.buf);
            let deflated = deflate_chunk(&mut self.inline, &last);
            self.buf = last;
            while !self.pending.is_empty() {
                self.write_front()?;
            }
            self.write_deflated(deflated)?;
        }
        self.write_header()?;
        self.out.write_all(&FINAL_BLOCK)?;
        self.out.write_all(&self.crc.sum().to_le_bytes())?;
        self.out.write_all(&self.crc.amount().to_le_bytes())?;
        self.out.flush()?;
        self.buf.clear();
        Ok(std::mem::take(&mut self.buf))
    }

    /// Deflates the staged bytes into the stream of `inline` and writes what it gives; a sync
    /// flush ends the streamed start on a byte boundary, where the chunks can follow.
    fn stream_out(&mut self, flush: FlushCompress) -> io::Result<()> {
        self.scratch.clear();
        deflate_into(&mut self.inline, &self.buf, &mut self.scratch, flush)?;
        self.crc.update(&self.buf);
        self.buf.clear();
        self.write_header()?;
        self.out.write_all(&self.scratch)
    }

    fn write_header(&mut self) -> io::Result<()> {
        if !self.header_written {
            self.out.write_all(&HEADER)?;
            self.header_written = true;
        }
        Ok(())
    }

    fn hand_out(&mut self) -> io::Result<()> {
        let chunk = std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK));
        let tasks = match &self.tasks {
            Some(tasks) => tasks,
            None => self.tasks.insert(spawn_workers()),
        };
        let (reply, result) = sync_channel(1);
        tasks
            .send((chunk, reply))
            .map_err(|_| io::Error::other("gzip workers stopped"))?;
        self.pending.push_back(result);
        while self.pending.len() > IN_FLIGHT {
            self.write_front()?;
        }
        Ok(())
    }

    /// Waits for the oldest chunk handed out and writes it.
    fn write_front(&mut self) -> io::Result<()> {
        let Some(result) = self.pending.pop_front() else {
            return Ok(());
        };
        let deflated = result
            .recv()
            .unwrap_or_else(|_| Err(io::Error::other("gzip worker stopped")));
        self.write_deflated(deflated)
    }

    fn write_deflated(&mut self, deflated: Deflated) -> io::Result<()> {
        let (bytes, crc) = deflated?;
        self.write_header()?;
        self.out.write_all(&bytes)?;
        self.crc.combine(&crc);
        Ok(())
    }
}

impl<W: Write> Write for ParallelGzip<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let mut rest = data;
        while !rest.is_empty() {
            if self.streaming {
                // The streamed start ends at the first chunk's end when chunks go to threads.
                // Bytes streamed so far: those the CRC has taken and those staged.
                let streamed = self.crc.amount() as usize + self.buf.len();
                let chunk_left = if self.threads {
                    CHUNK - streamed
                } else {
                    usize::MAX
                };
                let take = (STAGE - self.buf.len()).min(chunk_left).min(rest.len());
                self.buf.extend_from_slice(&rest[..take]);
                rest = &rest[take..];
                if self.threads && take == chunk_left {
                    self.stream_out(FlushCompress::Sync)?;
                    self.streaming = false;
                    self.buf.reserve_exact(CHUNK);
                } else if self.buf.len() == STAGE {
                    self.stream_out(FlushCompress::None)?;
                }
                continue;
            }
            let take = (CHUNK - self.buf.len()).min(rest.len());
            self.buf.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
            if self.buf.len() == CHUNK {
                self.hand_out()?;
            }
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A raw deflate compressor at the level of every scrape body.
fn fast() -> Compress {
    Compress::new(Compression::fast(), false)
}

/// Whether this process may run on more than one CPU (decided once: `available_parallelism`
/// reads cgroup files on every call).
fn parallel() -> bool {
    static PARALLEL: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *PARALLEL.get_or_init(|| std::thread::available_parallelism().is_ok_and(|n| n.get() > 1))
}

/// Starts the workers; they stop when the returned sender is dropped.
fn spawn_workers() -> SyncSender<Task> {
    let (tasks, queue) = sync_channel::<Task>(IN_FLIGHT);
    let queue = Arc::new(Mutex::new(queue));
    for _ in 0..WORKERS {
        let queue = Arc::clone(&queue);
        let work = move || {
            let mut compress = fast();
            loop {
                let task = queue.lock().unwrap_or_else(|p| p.into_inner()).recv();
                let Ok((chunk, reply)) = task else {
                    return;
                };
                // The writer may have gone (an error); its result is then not wanted.
                let _ = reply.send(deflate_chunk(&mut compress, &chunk));
            }
        };
        // The runtime's blocking threads, which the collectors ran on and which are idle
        // now; a thread of its own outside a runtime (tests).
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => drop(runtime.spawn_blocking(work)),
            Err(_) => drop(std::thread::spawn(work)),
        }
    }
    tasks
}

/// Deflates `input` as a fresh raw deflate stream ended by a sync flush (not final), with
/// the CRC-32 of `input`.
fn deflate_chunk(compress: &mut Compress, input: &[u8]) -> Deflated {
    compress.reset();
    let mut out = Vec::with_capacity(input.len() / 4 + 64);
    deflate_into(compress, input, &mut out, FlushCompress::Sync)?;
    let mut crc = Crc::new();
    crc.update(input);
    Ok((out, crc))
}

/// Feeds all of `input` to `compress`, appending its output to `out`; with a sync flush, until
/// the flush is complete.
fn deflate_into(
    compress: &mut Compress,
    input: &[u8],
    out: &mut Vec<u8>,
    flush: FlushCompress,
) -> io::Result<()> {
    let start = compress.total_in();
    loop {
        let consumed = (compress.total_in() - start) as usize;
        if out.capacity() - out.len() < 1024 {
            out.reserve(out.capacity().max(4096));
        }
        let status = compress
            .compress_vec(&input[consumed..], out, flush)
            .map_err(io::Error::other)?;
        let all_in = (compress.total_in() - start) as usize == input.len();
        // A sync flush is complete once the output was not filled.
        if all_in
            && (flush == FlushCompress::None
                || out.len() < out.capacity()
                || status == Status::BufError)
        {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    /// Text like a scrape's: repetitive lines with varying numbers.
    fn body(len: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(len + 100);
        let mut i: u64 = 0;
        while out.len() < len {
            i = i
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let line = format!(
                "container_memory_rss{{id=\"/kubepods/pod{}\",name=\"\"}} {}\n",
                i % 977,
                i >> 20
            );
            out.extend_from_slice(line.as_bytes());
        }
        out.truncate(len);
        out
    }

    fn gzip(input: &[u8]) -> Vec<u8> {
        gzip_with(input, true)
    }

    fn gzip_with(input: &[u8], threads: bool) -> Vec<u8> {
        let mut out = Vec::new();
        {
            let mut w = ParallelGzip::new(&mut out, Vec::new());
            if !threads {
                w = w.without_threads();
            }
            // Uneven writes, as the renderer's lines are.
            for piece in input.chunks(777) {
                w.write_all(piece).expect("write");
            }
            w.finish().expect("finish");
        }
        out
    }

    #[test]
    fn round_trips_through_flate2_for_every_size_around_chunk_bounds() {
        for (len, threads) in [0, 1, 1000, CHUNK - 1, CHUNK, CHUNK + 1, 7 * CHUNK + 13]
            .into_iter()
            .flat_map(|len| [(len, true), (len, false)])
        {
            let input = body(len);
            let gz = gzip_with(&input, threads);
            assert_eq!(gz[..10], HEADER, "header at {len}");
            let mut back = Vec::new();
            // Not the multi-member decoder: the body must be one gzip member.
            flate2::read::GzDecoder::new(&gz[..])
                .read_to_end(&mut back)
                .expect("inflate");
            assert_eq!(back, input, "{len} bytes round trip");
            let trailer = &gz[gz.len() - 8..];
            assert_eq!(trailer[4..], (len as u32).to_le_bytes(), "ISIZE at {len}");
        }
    }

    #[test]
    fn gnu_gzip_reads_a_many_chunk_body() {
        let Ok(mut child) = std::process::Command::new("gzip")
            .arg("-dc")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
        else {
            panic!(
                "gzip (Debian's gzip package) is needed to check the stream with another reader"
            );
        };
        let input = body(5 * CHUNK + 99);
        let gz = gzip(&input);
        let mut stdin = child.stdin.take().expect("stdin");
        let writer = std::thread::spawn(move || stdin.write_all(&gz));
        let out = child.wait_with_output().expect("gzip -dc");
        writer.join().expect("writer").expect("write to gzip");
        assert!(out.status.success(), "gzip -dc failed: {:?}", out.status);
        assert_eq!(out.stdout, input);
    }

    #[test]
    fn compresses_about_as_well_as_one_stream() {
        let input = body(6 * CHUNK);
        let ours = gzip(&input).len();
        let mut one = flate2::write::GzEncoder::new(Vec::new(), Compression::fast());
        one.write_all(&input).expect("write");
        let one = one.finish().expect("finish").len();
        assert!(
            ours <= one + one / 50,
            "{ours} bytes against {one} in one stream"
        );
    }
}

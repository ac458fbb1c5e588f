//! `omew write --frame-metadata FILE`: one JSON object per line, line i for frame i.
//!
//! The file is read one line at a time, each line at most [`MAX_LINE_BYTES`] long, so
//! input without newlines (`/dev/zero`, a binary file given by mistake) is an error
//! naming the line, never an unbounded allocation. A UTF-8 byte order mark at the start
//! of the file is skipped; `\r\n` line endings are accepted. Fewer lines than frames is
//! allowed (the remaining frames have no metadata); more lines than frames written is
//! an error once every frame has been written ([`FrameMetadataFile::check_no_more`]).

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

/// The longest line accepted, in bytes (without its line ending): 1 MiB. Per-frame
/// metadata is a few hundred bytes; a longer line is almost surely not metadata.
pub(crate) const MAX_LINE_BYTES: usize = 1 << 20;

/// The UTF-8 byte order mark some editors put at the start of a file.
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// What is wrong with a `--frame-metadata` file; each names the file and the line (the
/// OS or JSON error is the `source`, printed after it by `{:#}`).
#[derive(Debug, thiserror::Error)]
pub(crate) enum FrameMetaError {
    /// The file cannot be opened.
    #[error("--frame-metadata {}: cannot open", .path.display())]
    Open {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Reading failed.
    #[error("--frame-metadata {} line {line}: read error", .path.display())]
    Read {
        path: PathBuf,
        line: u64,
        #[source]
        source: std::io::Error,
    },
    /// A line is longer than [`MAX_LINE_BYTES`].
    #[error(
        "--frame-metadata {} line {line} is longer than the limit of {limit} bytes \
         (one JSON object per line is expected)", .path.display()
    )]
    LineTooLong {
        path: PathBuf,
        line: u64,
        limit: usize,
    },
    /// A line is not JSON.
    #[error("--frame-metadata {} line {line} is not JSON", .path.display())]
    Json {
        path: PathBuf,
        line: u64,
        #[source]
        source: serde_json::Error,
    },
    /// A line is JSON but not an object.
    #[error("--frame-metadata {} line {line}: expected a JSON object, got {got}", .path.display())]
    NotObject {
        path: PathBuf,
        line: u64,
        got: &'static str,
    },
    /// More lines than frames written.
    #[error(
        "--frame-metadata {} has more lines than the {frames} frames written: line {line} \
         belongs to no frame (the frames were written; this line and any after it were not \
         used)", .path.display()
    )]
    Extra {
        path: PathBuf,
        line: u64,
        frames: u64,
    },
}

/// A `--frame-metadata` file being read, one line per frame.
pub(crate) struct FrameMetadataFile {
    reader: Box<dyn BufRead>,
    path: PathBuf,
    /// Lines read so far (the number of the last line read).
    line: u64,
    ended: bool,
    buf: Vec<u8>,
}

impl FrameMetadataFile {
    /// Open `path` (a regular file, a FIFO or a device: it is only read forward).
    pub(crate) fn open(path: &Path) -> Result<Self, FrameMetaError> {
        let file = File::open(path).map_err(|source| FrameMetaError::Open {
            path: path.to_owned(),
            source,
        })?;
        Ok(Self::from_reader(Box::new(BufReader::new(file)), path))
    }

    /// Read lines from `reader`; `path` names it in errors.
    pub(crate) fn from_reader(reader: Box<dyn BufRead>, path: &Path) -> Self {
        Self {
            reader,
            path: path.to_owned(),
            line: 0,
            ended: false,
            buf: Vec::new(),
        }
    }

    /// Read the next line into `buf`, without its line ending (and, on line 1, without
    /// a byte order mark); `false` at the end of the file.
    fn next_line(&mut self) -> Result<bool, FrameMetaError> {
        if self.ended {
            return Ok(false);
        }
        self.buf.clear();
        let line = self.line + 1;
        // One byte more than the limit: a line of exactly the limit, then its newline.
        let limit = MAX_LINE_BYTES as u64 + 1;
        let got = (&mut self.reader)
            .take(limit)
            .read_until(b'\n', &mut self.buf)
            .map_err(|source| FrameMetaError::Read {
                path: self.path.clone(),
                line,
                source,
            })?;
        if got == 0 {
            self.ended = true;
            return Ok(false);
        }
        self.line = line;
        if self.buf.last() == Some(&b'\n') {
            self.buf.pop();
            if self.buf.last() == Some(&b'\r') {
                self.buf.pop();
            }
        }
        if self.buf.len() > MAX_LINE_BYTES {
            self.ended = true;
            return Err(FrameMetaError::LineTooLong {
                path: self.path.clone(),
                line,
                limit: MAX_LINE_BYTES,
            });
        }
        if line == 1 && self.buf.starts_with(BOM) {
            self.buf.drain(..BOM.len());
        }
        Ok(true)
    }

    /// The metadata of the next frame: `None` once the file has no more lines.
    pub(crate) fn next_object(&mut self) -> Result<Option<Map<String, Value>>, FrameMetaError> {
        if !self.next_line()? {
            return Ok(None);
        }
        let (path, line) = (self.path.clone(), self.line);
        if self.buf.iter().all(u8::is_ascii_whitespace) {
            return Err(FrameMetaError::NotObject {
                path,
                line,
                got: "an empty line",
            });
        }
        match serde_json::from_slice::<Value>(&self.buf) {
            Ok(Value::Object(m)) => Ok(Some(m)),
            Ok(other) => Err(FrameMetaError::NotObject {
                path,
                line,
                got: json_kind(&other),
            }),
            Err(source) => Err(FrameMetaError::Json { path, line, source }),
        }
    }

    /// After the last frame (`frames` were written): an error if the file holds
    /// another line.
    pub(crate) fn check_no_more(&mut self, frames: u64) -> Result<(), FrameMetaError> {
        if !self.next_line()? {
            return Ok(());
        }
        Err(FrameMetaError::Extra {
            path: self.path.clone(),
            line: self.line,
            frames,
        })
    }
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn file(bytes: Vec<u8>) -> FrameMetadataFile {
        FrameMetadataFile::from_reader(
            Box::new(std::io::Cursor::new(bytes)),
            Path::new("meta.jsonl"),
        )
    }

    /// An error and its sources, as `anyhow`'s `{:#}` prints them.
    fn chain(e: &FrameMetaError) -> String {
        let mut out = e.to_string();
        let mut source = std::error::Error::source(e);
        while let Some(s) = source {
            out.push_str(&format!(": {s}"));
            source = s.source();
        }
        out
    }

    /// Read `n` frames' metadata, then check for extra lines: the values read, or the
    /// first error's message.
    fn check(bytes: &[u8], n: usize) -> Result<Vec<Option<Value>>, String> {
        let mut f = file(bytes.to_vec());
        let mut out = Vec::new();
        for _ in 0..n {
            out.push(f.next_object().map_err(|e| chain(&e))?.map(Value::Object));
        }
        f.check_no_more(n as u64).map_err(|e| chain(&e))?;
        Ok(out)
    }

    #[test]
    fn lines_bom_crlf_and_missing_lines() {
        let a = Some(serde_json::json!({"a": 1}));
        assert_eq!(check(b"{\"a\": 1}\n", 1), Ok(vec![a.clone()]));
        assert_eq!(check(b"{\"a\": 1}", 1), Ok(vec![a.clone()]));
        assert_eq!(check(b"\xEF\xBB\xBF{\"a\": 1}\r\n", 1), Ok(vec![a.clone()]));
        assert_eq!(check(b"{\"a\": 1}\n", 2), Ok(vec![a, None]));
        assert_eq!(check(b"", 1), Ok(vec![None]));
    }

    #[test]
    fn bad_lines_are_errors_naming_the_line() {
        let cases: [(&[u8], usize, &str); 8] = [
            (
                b"{}\n[1]\n",
                2,
                "line 2: expected a JSON object, got an array",
            ),
            (
                b"{}\n\n{}\n",
                3,
                "line 2: expected a JSON object, got an empty line",
            ),
            (b"{}\n{\"a\":\n", 2, "line 2 is not JSON: EOF"),
            (b"{}\n\xff\xfe\n", 2, "line 2 is not JSON"),
            (b"\xEF\xBB\xBF{}\n\xEF\xBB\xBF{}\n", 2, "line 2 is not JSON"),
            (
                b"{}\n{}\n",
                1,
                "more lines than the 1 frames written: line 2 belongs",
            ),
            (b"{}\n\n", 1, "line 2 belongs to no frame"),
            (b"7", 1, "line 1: expected a JSON object, got a number"),
        ];
        for (bytes, n, want) in cases {
            let e = check(bytes, n).unwrap_err();
            assert!(e.contains(want), "{bytes:?}: {e}\nexpected: {want}");
            assert!(e.contains("meta.jsonl"), "{e}");
        }
    }

    #[test]
    fn a_line_over_the_limit_is_refused_without_reading_on() {
        let mut exact = vec![b' '; MAX_LINE_BYTES - 2];
        exact.splice(0..0, *b"{}");
        exact.push(b'\n');
        assert!(check(&exact, 1).is_ok(), "a line of exactly the limit");
        let mut long = vec![b' '; MAX_LINE_BYTES + 1];
        long.splice(0..0, *b"{}");
        let e = check(&long, 1).unwrap_err();
        assert!(
            e.contains("line 1 is longer than the limit of 1048576 bytes"),
            "{e}"
        );
        // An endless line without newline: only the limit is read.
        let mut f = FrameMetadataFile::from_reader(
            Box::new(BufReader::new(std::io::repeat(0))),
            Path::new("/dev/zero"),
        );
        let e = f.next_object().unwrap_err().to_string();
        assert!(e.contains("/dev/zero line 1 is longer"), "{e}");
        assert!(
            f.next_object().unwrap().is_none(),
            "no reading on after that"
        );
    }
}

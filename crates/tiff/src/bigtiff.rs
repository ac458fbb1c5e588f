//! A minimal sequential BigTIFF writer: one single-strip grayscale IFD per plane,
//! appended as planes arrive, with an `ImageDescription` on the first IFD that can be
//! replaced later.
//!
//! File layout:
//!
//! ```text
//! header (16 bytes) | description slot A | slot B | strip 0 | IFD 0 | strip 1 | IFD 1 | ...
//!                                                            [final OME-XML, appended last]
//! ```
//!
//! Each IFD is written after its strip and linked into the chain only once complete
//! (the previous `next` field, or the header, is patched last), so at every moment the
//! file on disk is a valid TIFF whose pages are all whole. The provisional description
//! alternates between the two fixed slots; the final one is appended at the end. In both
//! cases the new text is written first and IFD 0's entry (count and offset, 16 adjacent
//! bytes) repointed after it, so a reader sees the old or the new description, never a
//! torn one.

use std::fs::{File, OpenOptions};
use std::io::{self, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use tiff::encoder::compression::{CompressionAlgorithm, Deflate, Lzw};
use tiff::tags::{
    CompressionMethod, PhotometricInterpretation, PlanarConfiguration, ResolutionUnit,
    SampleFormat, Tag, Type,
};

use ome_writers_backend::start_writeback;

use crate::plan::Codec;

/// What every page of a file looks like.
#[derive(Clone, Debug)]
pub(crate) struct PageFormat {
    pub(crate) width: u32,
    pub(crate) height: u32,
    pub(crate) bits: u16,
    pub(crate) sample_format: SampleFormat,
    pub(crate) codec: Codec,
    /// X and Y resolution in pixels per centimetre, as rationals.
    pub(crate) resolution: Option<[(u32, u32); 2]>,
}

impl PageFormat {
    fn compression(&self) -> CompressionMethod {
        match self.codec {
            Codec::None => CompressionMethod::None,
            Codec::Lzw => CompressionMethod::LZW,
            Codec::Deflate(_) => CompressionMethod::Deflate,
        }
    }

    /// The strip bytes of a plane: the plane itself, or its compressed form in `out`.
    pub(crate) fn encode<'a>(&self, plane: &'a [u8], out: &'a mut Vec<u8>) -> io::Result<&'a [u8]> {
        match self.codec {
            Codec::None => Ok(plane),
            Codec::Lzw => {
                out.clear();
                Lzw.write_to(out, plane)?;
                Ok(out)
            }
            Codec::Deflate(level) => {
                out.clear();
                Deflate::with_level(level).write_to(out, plane)?;
                Ok(out)
            }
        }
    }
}

/// Bytes of an IFD entry in BigTIFF.
const ENTRY: u64 = 20;
/// Byte-order mark of the files we write: the machine's own, so frames are copied as is.
const MAGIC: [u8; 2] = if cfg!(target_endian = "big") {
    *b"MM"
} else {
    *b"II"
};

/// Builds one IFD (entries must come in tag order) in a reused buffer.
struct IfdBuilder<'a> {
    buf: &'a mut Vec<u8>,
    entries: u64,
}

impl<'a> IfdBuilder<'a> {
    fn new(buf: &'a mut Vec<u8>) -> Self {
        buf.clear();
        buf.extend_from_slice(&0u64.to_ne_bytes()); // entry count, set by `finish`
        Self { buf, entries: 0 }
    }

    /// Add an entry whose value (at most 8 bytes) is stored inline; returns its index.
    fn entry(&mut self, tag: Tag, ty: Type, count: u64, value: &[u8]) -> u64 {
        let mut v = [0u8; 8];
        v[..value.len()].copy_from_slice(value);
        self.buf.extend_from_slice(&tag.to_u16().to_ne_bytes());
        self.buf.extend_from_slice(&ty.to_u16().to_ne_bytes());
        self.buf.extend_from_slice(&count.to_ne_bytes());
        self.buf.extend_from_slice(&v);
        self.entries += 1;
        self.entries - 1
    }

    /// Set the count and add the (empty) link to the next IFD; returns the count.
    fn finish(self) -> u64 {
        self.buf[..8].copy_from_slice(&self.entries.to_ne_bytes());
        self.buf.extend_from_slice(&0u64.to_ne_bytes());
        self.entries
    }
}

/// One BigTIFF file being written.
#[derive(Debug)]
pub(crate) struct TiffWriter {
    path: PathBuf,
    file: Option<File>,
    /// Current end of file: where the next bytes go.
    end: u64,
    /// Offset of the 8-byte field that will hold the next IFD's offset.
    link: u64,
    /// IFDs written.
    pages: u64,
    /// Offsets of the two provisional description slots.
    slots: [u64; 2],
    /// Bytes per slot (text plus its NUL must fit).
    slot_cap: u64,
    /// The slot IFD 0 currently points at, if any.
    active_slot: Option<usize>,
    /// Offset of IFD 0's `ImageDescription` entry.
    desc_entry: Option<u64>,
    /// Written since the last sync.
    dirty: bool,
    /// Bytes before this offset have had their writeback started.
    written_back: u64,
    /// The file's identity (device, inode) when it was opened, if the platform has one.
    id: Option<(u64, u64)>,
}

/// A file's identity: (device, inode) on Unix.
#[cfg(unix)]
#[allow(clippy::unnecessary_wraps)] // `None` on other platforms
fn file_id(meta: &std::fs::Metadata) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    Some((meta.dev(), meta.ino()))
}

/// A file's identity: none known on this platform.
#[cfg(not(unix))]
fn file_id(_meta: &std::fs::Metadata) -> Option<(u64, u64)> {
    None
}

/// The error of a file that is no longer at its path.
fn vanished() -> io::Error {
    io::Error::new(
        io::ErrorKind::NotFound,
        "was removed or replaced during the acquisition",
    )
}

/// Start the writeback of a file's finished pages once this many bytes wait for it.
const WRITEBACK_BYTES: u64 = 8 << 20;

fn round8(n: u64) -> u64 {
    n.div_ceil(8) * 8
}

impl TiffWriter {
    /// Create the file (it must not exist): header and empty description slots of
    /// `slot_cap` bytes each. It becomes a readable TIFF with its first page.
    pub(crate) fn create(path: &Path, slot_cap: u64) -> io::Result<Self> {
        let mut file = OpenOptions::new().write(true).create_new(true).open(path)?;
        let cap = round8(slot_cap.max(8));
        let mut head = Vec::with_capacity(16);
        head.extend_from_slice(&MAGIC);
        head.extend_from_slice(&43u16.to_ne_bytes());
        head.extend_from_slice(&8u16.to_ne_bytes());
        head.extend_from_slice(&0u16.to_ne_bytes());
        head.extend_from_slice(&0u64.to_ne_bytes());
        file.write_all(&head)?;
        // The slots stay zero until used (`set_len` makes them sparse where possible).
        let end = 16 + 2 * cap;
        file.set_len(end)?;
        let id = file_id(&file.metadata()?);
        Ok(Self {
            path: path.to_owned(),
            file: Some(file),
            end,
            link: 8,
            pages: 0,
            slots: [16, 16 + cap],
            slot_cap: cap,
            active_slot: None,
            desc_entry: None,
            dirty: true,
            written_back: 0,
            id,
        })
    }

    /// Reopen a file this writer left behind (a writer that was killed, or a finished
    /// file): walk the chain of IFDs, find IFD 0's description and the two slots, and
    /// carry on appending after the end of the file. Returns the writer and IFD 0's
    /// description (NULs stripped), if any. Refuses files this module did not write
    /// (other byte order, classic TIFF, IFDs that leave the file).
    pub(crate) fn reopen(path: &Path) -> io::Result<(Self, Option<Vec<u8>>)> {
        use std::io::Read;
        let bad = |what: String| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("not a BigTIFF written by ome-writers: {what}"),
            )
        };
        let mut file = OpenOptions::new().read(true).write(true).open(path)?;
        let meta = file.metadata()?;
        let (len, id) = (meta.len(), file_id(&meta));
        let read_at = |file: &mut File, at: u64, n: u64| -> io::Result<Vec<u8>> {
            if at.checked_add(n).is_none_or(|e| e > len) {
                return Err(bad(format!(
                    "{n} bytes at {at} run past the end ({len} bytes)"
                )));
            }
            let mut buf = vec![0u8; n as usize];
            file.seek(SeekFrom::Start(at))?;
            file.read_exact(&mut buf)?;
            Ok(buf)
        };
        let u64_at = |b: &[u8], i: usize| -> u64 {
            let mut v = [0u8; 8];
            v.copy_from_slice(&b[i..i + 8]);
            u64::from_ne_bytes(v)
        };
        let u16_at = |b: &[u8], i: usize| u16::from_ne_bytes([b[i], b[i + 1]]);
        let head = read_at(&mut file, 0, 16)?;
        if head[..2] != MAGIC || u16_at(&head, 2) != 43 || u16_at(&head, 4) != 8 {
            return Err(bad(
                "header is not a BigTIFF of this machine's byte order".to_owned()
            ));
        }
        let mut next = u64_at(&head, 8);
        let mut link = 8;
        let mut pages = 0u64;
        let mut desc_entry = None;
        let mut description = None;
        let mut first_strip = None;
        let mut previous = 0u64;
        while next != 0 {
            // IFDs are appended one after the other: a link backwards is a loop.
            if next <= previous || next % 8 != 0 {
                return Err(bad(format!("IFD {pages} at offset {next} is out of order")));
            }
            previous = next;
            let count = u64_at(&read_at(&mut file, next, 8)?, 0);
            if count == 0 || count > 64 {
                return Err(bad(format!("IFD {pages} has {count} entries")));
            }
            let body = read_at(&mut file, next + 8, count * ENTRY + 8)?;
            for i in 0..count as usize {
                let e = &body[i * ENTRY as usize..(i + 1) * ENTRY as usize];
                let tag = u16_at(e, 0);
                if pages == 0 && tag == Tag::ImageDescription.to_u16() {
                    desc_entry = Some(next + 8 + i as u64 * ENTRY);
                    let (n, at) = (u64_at(e, 4), u64_at(e, 12));
                    let mut text = if n <= 8 {
                        e[12..12 + n as usize].to_vec()
                    } else {
                        read_at(&mut file, at, n)?
                    };
                    while text.last() == Some(&0) {
                        text.pop();
                    }
                    description = Some((text, at));
                }
                if pages == 0 && tag == Tag::StripOffsets.to_u16() {
                    first_strip = Some(u64_at(e, 12));
                }
            }
            link = next + 8 + count * ENTRY;
            next = u64_at(&body, body.len() - 8);
            pages += 1;
        }
        // Layout: header | slot A | slot B | strip 0 | ...: the slots split what lies
        // between the header and the first strip (or, with no page yet, the end).
        let slots_end = first_strip.unwrap_or(len).max(16);
        let cap = ((slots_end - 16) / 2) / 8 * 8;
        let slots = [16, 16 + cap];
        let active_slot = description
            .as_ref()
            .and_then(|(_, at)| slots.iter().position(|s| s == at));
        Ok((
            Self {
                path: path.to_owned(),
                file: Some(file),
                end: len,
                link,
                pages,
                slots,
                slot_cap: cap,
                active_slot,
                desc_entry,
                dirty: false,
                written_back: len - len % 4096,
                id,
            },
            description.map(|(text, _)| text),
        ))
    }

    /// The file's path.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// IFDs written so far.
    pub(crate) fn pages(&self) -> u64 {
        self.pages
    }

    /// Whether something was written since the last sync.
    pub(crate) fn is_dirty(&self) -> bool {
        self.dirty
    }

    /// Whether the file handle is open.
    pub(crate) fn is_open(&self) -> bool {
        self.file.is_some()
    }

    /// Whether the file at the path is still the one this writer opened (neither
    /// unlinked nor replaced by another file).
    pub(crate) fn is_in_place(&self) -> bool {
        match std::fs::metadata(&self.path) {
            Ok(meta) => self.id.is_none() || file_id(&meta) == self.id,
            Err(_) => false,
        }
    }

    /// Close the handle (it reopens on the next write). Nothing is lost: every write
    /// has already been handed to the OS.
    pub(crate) fn close(&mut self) {
        self.file = None;
    }

    fn handle(&mut self) -> io::Result<&mut File> {
        if self.file.is_none() {
            let file = OpenOptions::new().write(true).open(&self.path)?;
            // Reopened by path: it must still be our file, never a stranger put there.
            if self.id.is_some() && file_id(&file.metadata()?) != self.id {
                return Err(vanished());
            }
            self.file = Some(file);
        }
        // Just set when it was `None`.
        self.file
            .as_mut()
            .ok_or_else(|| io::Error::other("file handle unavailable"))
    }

    fn write_at(&mut self, offset: u64, bytes: &[u8]) -> io::Result<()> {
        let file = self.handle()?;
        file.seek(SeekFrom::Start(offset))?;
        file.write_all(bytes)?;
        self.dirty = true;
        Ok(())
    }

    /// Append at the end, after padding to a multiple of 8; returns where it went.
    fn append(&mut self, bytes: &[u8]) -> io::Result<u64> {
        let at = round8(self.end);
        let pad = (at - self.end) as usize;
        if pad > 0 {
            let end = self.end;
            self.write_at(end, &[0u8; 8][..pad])?;
        }
        self.write_at(at, bytes)?;
        self.end = at + bytes.len() as u64;
        Ok(at)
    }

    /// Append one page: its strip (`strip`, already encoded as `format` says) then its
    /// IFD, then link it into the chain. The first page carries `description` (only
    /// used when `pages() == 0`). `ifd` is a scratch buffer.
    pub(crate) fn write_page(
        &mut self,
        format: &PageFormat,
        strip: &[u8],
        description: Option<&[u8]>,
        ifd: &mut Vec<u8>,
    ) -> io::Result<()> {
        let strip_at = self.append(strip)?;
        let desc = match description {
            Some(text) if self.pages == 0 => Some(self.store_description(text, 0)?),
            _ => None,
        };
        let desc_slot = desc.and_then(|(_, _, slot)| slot);
        let mut b = IfdBuilder::new(ifd);
        let short = |v: u16| v.to_ne_bytes();
        let long = |v: u32| v.to_ne_bytes();
        b.entry(Tag::NewSubfileType, Type::LONG, 1, &long(0));
        b.entry(Tag::ImageWidth, Type::LONG, 1, &long(format.width));
        b.entry(Tag::ImageLength, Type::LONG, 1, &long(format.height));
        b.entry(Tag::BitsPerSample, Type::SHORT, 1, &short(format.bits));
        b.entry(
            Tag::Compression,
            Type::SHORT,
            1,
            &short(format.compression().to_u16()),
        );
        b.entry(
            Tag::PhotometricInterpretation,
            Type::SHORT,
            1,
            &short(PhotometricInterpretation::BlackIsZero.to_u16()),
        );
        let desc_index = desc.map(|(count, at, _)| {
            b.entry(Tag::ImageDescription, Type::ASCII, count, &at.to_ne_bytes())
        });
        b.entry(Tag::StripOffsets, Type::LONG8, 1, &strip_at.to_ne_bytes());
        b.entry(Tag::SamplesPerPixel, Type::SHORT, 1, &short(1));
        b.entry(Tag::RowsPerStrip, Type::LONG, 1, &long(format.height));
        b.entry(
            Tag::StripByteCounts,
            Type::LONG8,
            1,
            &(strip.len() as u64).to_ne_bytes(),
        );
        if let Some(res) = format.resolution {
            for (tag, (num, den)) in [(Tag::XResolution, res[0]), (Tag::YResolution, res[1])] {
                let mut r = [0u8; 8];
                r[..4].copy_from_slice(&num.to_ne_bytes());
                r[4..].copy_from_slice(&den.to_ne_bytes());
                b.entry(tag, Type::RATIONAL, 1, &r);
            }
        }
        b.entry(
            Tag::PlanarConfiguration,
            Type::SHORT,
            1,
            &short(PlanarConfiguration::Chunky.to_u16()),
        );
        if format.resolution.is_some() {
            b.entry(
                Tag::ResolutionUnit,
                Type::SHORT,
                1,
                &short(ResolutionUnit::Centimeter.to_u16()),
            );
        }
        b.entry(
            Tag::SampleFormat,
            Type::SHORT,
            1,
            &short(format.sample_format.to_u16()),
        );
        let entries = b.finish();
        let ifd_at = self.append(ifd)?;
        // Link last: until here the new page is invisible to readers.
        let link = self.link;
        self.write_at(link, &ifd_at.to_ne_bytes())?;
        self.link = ifd_at + 8 + entries * ENTRY;
        if let Some(i) = desc_index {
            self.desc_entry = Some(ifd_at + 8 + i * ENTRY);
            self.active_slot = desc_slot;
        }
        self.pages += 1;
        // Everything before the new IFD is final (the next page only rewrites this
        // IFD's link): its writeback starts now rather than at the next sync, so the
        // sync at a durability point or at finish finds little left to write.
        let done = ifd_at - ifd_at % 4096;
        if done >= self.written_back + WRITEBACK_BYTES {
            let from = self.written_back;
            start_writeback(self.handle()?, from, Some(done - from));
            self.written_back = done;
        }
        Ok(())
    }

    /// Write `text` + NUL into slot `slot` (or, if it does not fit, at the end of the
    /// file); returns the ASCII count and offset for the entry, and the slot used. The
    /// caller marks the slot active once the entry points at it. Text of fewer than 8
    /// bytes gets extra NULs: a BigTIFF value of 8 bytes or less would be stored in the
    /// entry itself, which the slots do not do.
    fn store_description(
        &mut self,
        text: &[u8],
        slot: usize,
    ) -> io::Result<(u64, u64, Option<usize>)> {
        let nuls = 9usize.saturating_sub(text.len()).max(1);
        let count = (text.len() + nuls) as u64;
        if count <= self.slot_cap {
            let at = self.slots[slot];
            self.write_at(at, text)?;
            self.write_at(at + text.len() as u64, &[0u8; 9][..nuls])?;
            Ok((count, at, Some(slot)))
        } else {
            let at = self.append(text)?;
            let end = self.end;
            self.write_at(end, &[0u8; 9][..nuls])?;
            self.end += nuls as u64;
            Ok((count, at, None))
        }
    }

    fn repoint_description(&mut self, count: u64, at: u64) -> io::Result<()> {
        let Some(entry) = self.desc_entry else {
            return Err(io::Error::other("the file has no first page yet"));
        };
        let mut field = [0u8; 16];
        field[..8].copy_from_slice(&count.to_ne_bytes());
        field[8..].copy_from_slice(&at.to_ne_bytes());
        self.write_at(entry + 4, &field)
    }

    /// Replace the provisional description (the file must have a page). The text goes
    /// to the slot not in use, then the entry is repointed.
    pub(crate) fn set_provisional(&mut self, text: &[u8]) -> io::Result<()> {
        let slot = match self.active_slot {
            Some(0) => 1,
            _ => 0,
        };
        let (count, at, used) = self.store_description(text, slot)?;
        self.repoint_description(count, at)?;
        // Only now: until the entry is repointed the old slot must stay untouched.
        self.active_slot = used;
        Ok(())
    }

    /// Append the final description at the end of the file and repoint the entry to
    /// it, making both durable in that order.
    pub(crate) fn set_final(&mut self, text: &[u8]) -> io::Result<()> {
        let nuls = 9usize.saturating_sub(text.len()).max(1);
        let at = self.append(text)?;
        let end = self.end;
        self.write_at(end, &[0u8; 9][..nuls])?;
        self.end += nuls as u64;
        self.sync()?;
        self.repoint_description((text.len() + nuls) as u64, at)?;
        self.active_slot = None;
        self.sync()
    }

    /// Make everything written durable (no-op if nothing was written since).
    pub(crate) fn sync(&mut self) -> io::Result<()> {
        if self.dirty {
            self.handle()?.sync_data()?;
            self.dirty = false;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn format(codec: Codec) -> PageFormat {
        PageFormat {
            width: 3,
            height: 2,
            bits: 16,
            sample_format: SampleFormat::Uint,
            codec,
            resolution: Some([(20000, 1), (10000, 1)]),
        }
    }

    fn read_all(path: &Path) -> (Vec<Vec<u16>>, String) {
        use tiff::decoder::{Decoder, DecodingResult};
        let mut d = Decoder::new(std::io::BufReader::new(File::open(path).unwrap())).unwrap();
        let desc = d.get_tag_ascii_string(Tag::ImageDescription).unwrap();
        let mut pages = Vec::new();
        loop {
            match d.read_image().unwrap() {
                DecodingResult::U16(v) => pages.push(v),
                other => panic!("unexpected {:?}", std::mem::discriminant(&other)),
            }
            if !d.more_images() {
                break;
            }
            d.next_image().unwrap();
        }
        (pages, desc)
    }

    #[test]
    fn pages_and_descriptions_read_back_with_every_codec() {
        for codec in [
            Codec::None,
            Codec::Lzw,
            Codec::Deflate(tiff::encoder::DeflateLevel::Fast),
        ] {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("a.tiff");
            let fmt = format(codec);
            let mut w = TiffWriter::create(&path, 64).unwrap();
            let (mut ifd, mut packed) = (Vec::new(), Vec::new());
            let planes: Vec<Vec<u16>> = (0..3u16)
                .map(|p| (0..6).map(|i| p * 10 + i).collect())
                .collect();
            for (i, plane) in planes.iter().enumerate() {
                let bytes: Vec<u8> = plane.iter().flat_map(|v| v.to_ne_bytes()).collect();
                let strip = fmt.encode(&bytes, &mut packed).unwrap();
                w.write_page(&fmt, strip, Some(b"first"), &mut ifd).unwrap();
                let (got, desc) = read_all(&path);
                assert_eq!(got, planes[..=i]);
                assert_eq!(desc, "first");
            }
            w.set_provisional(b"second").unwrap();
            assert_eq!(read_all(&path).1, "second");
            w.set_provisional(b"third, longer").unwrap();
            assert_eq!(read_all(&path).1, "third, longer");
            let long = "x".repeat(200);
            w.set_provisional(long.as_bytes()).unwrap();
            assert_eq!(read_all(&path).1, long);
            w.set_final(b"<final/>").unwrap();
            let (got, desc) = read_all(&path);
            assert_eq!((got, desc.as_str()), (planes.clone(), "<final/>"));
        }
    }
}

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
//! With a pyramid (`multiscale`) each page is `strip k | level strips and IFDs | IFD k`:
//! the reduced resolutions (`NewSubfileType` 1, outside the chain) come after the page's
//! strip and before its IFD, whose `SubIFDs` lists them; so the first strip still
//! follows the slots, and a page linked into the chain is whole with its levels.
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
use std::path::Path;

use tiff::encoder::compression::{CompressionAlgorithm, Deflate, Lzw};
use tiff::tags::{
    CompressionMethod, PhotometricInterpretation, PlanarConfiguration, ResolutionUnit,
    SampleFormat, Tag, Type,
};

use crate::plan::Codec;
use crate::sink::{PathFile, TiffSink};

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
    /// A reduced resolution (a SubIFD of a pyramid), not a plane of its own.
    pub(crate) reduced: bool,
    /// Tile width and length (multiples of 16) of a tiled page; `None`: one strip.
    pub(crate) tile: Option<(u32, u32)>,
}

impl PageFormat {
    /// The format of pyramid level `level` of these pages: width and height halved
    /// `level` times (rounded up).
    pub(crate) fn level(&self, level: u32) -> Self {
        let side = |n: u32| {
            u32::try_from(ome_writers_schema::Pyramid::side(u64::from(n), level)).unwrap_or(n)
        };
        let (width, height) = (side(self.width), side(self.height));
        Self {
            width,
            height,
            reduced: level > 0,
            tile: (level > 0).then(|| (level_tile(width), level_tile(height))),
            ..self.clone()
        }
    }
}

/// The largest tile side of a reduced resolution ([`PageFormat::level`]).
pub(crate) const LEVEL_TILE: u32 = 256;

/// The tile side for a level side of `n` pixels: [`LEVEL_TILE`], or `n` rounded up to
/// a multiple of 16 (TIFF's rule for tiles) when that is smaller, so a small level is
/// one tile with little padding.
fn level_tile(n: u32) -> u32 {
    n.div_ceil(16).saturating_mul(16).clamp(16, LEVEL_TILE)
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

/// Where a page's pixels are, as its IFD gives them: `count` strips or tiles whose
/// offsets and byte counts are the values themselves when `count` is 1, and otherwise
/// the offsets of two arrays of `count` LONG8s.
#[derive(Clone, Copy, Debug)]
struct DataEntries {
    count: u64,
    offsets: u64,
    counts: u64,
}

impl DataEntries {
    fn strip(at: u64, len: u64) -> Self {
        Self {
            count: 1,
            offsets: at,
            counts: len,
        }
    }
}

/// One reduced resolution of a page: its format (tiled or not), its pixel data (the
/// tiles one after the other, row by row, or the one strip) and each piece's bytes.
#[derive(Debug)]
pub(crate) struct LevelData<'a> {
    pub(crate) format: PageFormat,
    pub(crate) data: &'a [u8],
    pub(crate) pieces: &'a [u64],
}

/// The entries of one page's IFD, in tag order: its pixel `data` (a strip, or tiles
/// when `format.tile` says so), the description (count, offset) on the first page, the
/// `SubIFDs` (count, and the IFD's offset or that of the list of offsets) of a page
/// with reduced resolutions, which themselves are `NewSubfileType` 1 without
/// resolution tags. Returns the description entry's index.
fn page_entries(
    b: &mut IfdBuilder<'_>,
    format: &PageFormat,
    data: DataEntries,
    desc: Option<(u64, u64)>,
    sub: Option<(u64, u64)>,
) -> Option<u64> {
    let short = |v: u16| v.to_ne_bytes();
    let long = |v: u32| v.to_ne_bytes();
    let reduced = format.reduced;
    b.entry(
        Tag::NewSubfileType,
        Type::LONG,
        1,
        &long(u32::from(reduced)),
    );
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
    let desc_index = desc
        .map(|(count, at)| b.entry(Tag::ImageDescription, Type::ASCII, count, &at.to_ne_bytes()));
    let (offsets, counts) = (data.offsets.to_ne_bytes(), data.counts.to_ne_bytes());
    if format.tile.is_none() {
        b.entry(Tag::StripOffsets, Type::LONG8, data.count, &offsets);
    }
    b.entry(Tag::SamplesPerPixel, Type::SHORT, 1, &short(1));
    if format.tile.is_none() {
        b.entry(Tag::RowsPerStrip, Type::LONG, 1, &long(format.height));
        b.entry(Tag::StripByteCounts, Type::LONG8, data.count, &counts);
    }
    let resolution = format.resolution.filter(|_| !reduced);
    if let Some(res) = resolution {
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
    if resolution.is_some() {
        b.entry(
            Tag::ResolutionUnit,
            Type::SHORT,
            1,
            &short(ResolutionUnit::Centimeter.to_u16()),
        );
    }
    if let Some((tile_width, tile_length)) = format.tile {
        b.entry(Tag::TileWidth, Type::LONG, 1, &long(tile_width));
        b.entry(Tag::TileLength, Type::LONG, 1, &long(tile_length));
        b.entry(Tag::TileOffsets, Type::LONG8, data.count, &offsets);
        b.entry(Tag::TileByteCounts, Type::LONG8, data.count, &counts);
    }
    if let Some((count, at)) = sub {
        b.entry(Tag::SubIfd, Type::IFD8, count, &at.to_ne_bytes());
    }
    b.entry(
        Tag::SampleFormat,
        Type::SHORT,
        1,
        &short(format.sample_format.to_u16()),
    );
    desc_index
}

/// One BigTIFF being written to a medium `W`: a file by path ([`PathFile`], which
/// the backend closes and reopens) or any [`TiffSink`].
#[derive(Debug)]
pub(crate) struct TiffWriter<W: TiffSink = PathFile> {
    sink: W,
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
    /// Reopened with a torn tail: where the last whole page (or description) ends.
    torn_at: Option<u64>,
}

/// Start the writeback of a file's finished pages once this many bytes wait for it.
const WRITEBACK_BYTES: u64 = 8 << 20;

fn round8(n: u64) -> u64 {
    n.div_ceil(8) * 8
}

/// What [`TiffWriter::reopen`] found.
pub(crate) struct Reopened {
    pub(crate) writer: TiffWriter,
    /// IFD 0's description (NULs stripped) when it is whole; when it is torn, the text
    /// of each description slot that holds one (the provisional documents); empty
    /// before the first page.
    pub(crate) descriptions: Vec<Vec<u8>>,
}

fn not_ours(what: String) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("not a BigTIFF written by ome-writers: {what}"),
    )
}

/// `n` bytes at `at`, or `None` when they run past the end (`len`).
fn read_at(file: &mut File, len: u64, at: u64, n: u64) -> io::Result<Option<Vec<u8>>> {
    use std::io::Read;
    if at.checked_add(n).is_none_or(|e| e > len) {
        return Ok(None);
    }
    let mut buf = vec![0u8; n as usize];
    file.seek(SeekFrom::Start(at))?;
    file.read_exact(&mut buf)?;
    Ok(Some(buf))
}

fn u64_at(b: &[u8], i: usize) -> u64 {
    let mut v = [0u8; 8];
    if let Some(s) = b.get(i..i + 8) {
        v.copy_from_slice(s);
    }
    u64::from_ne_bytes(v)
}

fn u16_at(b: &[u8], i: usize) -> u16 {
    match b.get(i..i + 2) {
        Some(&[x, y]) => u16::from_ne_bytes([x, y]),
        _ => 0,
    }
}

/// IFD 0's description as found.
enum Description {
    /// Whole: the text (NULs stripped) and its offset.
    Whole(Vec<u8>, u64),
    /// Its text runs past the end of the file.
    Torn,
}

/// The chain of IFDs as far as it is whole.
struct Chain {
    pages: u64,
    /// Offset of the last whole IFD's `next` field (the header's with no page).
    link: u64,
    desc_entry: Option<u64>,
    description: Option<Description>,
    first_strip: Option<u64>,
    /// End of the last byte a whole page (or IFD 0's whole description) uses.
    whole_end: u64,
    /// The chain goes on past the end of the file: an IFD or its strip is cut.
    torn: bool,
}

/// What one IFD's entries say (the ones reopening needs).
#[derive(Default)]
struct IfdInfo {
    strip: Option<(u64, u64)>,
    /// Index of the `ImageDescription` entry, its count and offset.
    description: Option<(usize, u64, u64)>,
}

fn ifd_info(body: &[u8], count: usize) -> IfdInfo {
    let mut info = IfdInfo::default();
    let mut strip = (None, None);
    for (i, e) in body.chunks_exact(ENTRY as usize).take(count).enumerate() {
        let tag = u16_at(e, 0);
        if tag == Tag::ImageDescription.to_u16() {
            info.description = Some((i, u64_at(e, 4), u64_at(e, 12)));
        } else if tag == Tag::StripOffsets.to_u16() {
            strip.0 = Some(u64_at(e, 12));
        } else if tag == Tag::StripByteCounts.to_u16() {
            strip.1 = Some(u64_at(e, 12));
        }
    }
    if let (Some(at), Some(n)) = strip {
        info.strip = Some((at, n));
    }
    info
}

/// IFD 0's description: inline, whole at its offset, or torn.
fn read_description(
    file: &mut File,
    len: u64,
    entry: &[u8],
    n: u64,
    at: u64,
) -> io::Result<Description> {
    let mut text = if n <= 8 {
        entry.get(12..12 + n as usize).unwrap_or_default().to_vec()
    } else {
        match read_at(file, len, at, n)? {
            Some(t) => t,
            None => return Ok(Description::Torn),
        }
    };
    while text.last() == Some(&0) {
        text.pop();
    }
    Ok(Description::Whole(text, at))
}

/// Walk the IFDs from `next` (the header's link) while they and their strips lie
/// whole inside the file.
fn walk_chain(file: &mut File, len: u64, mut next: u64) -> io::Result<Chain> {
    let mut c = Chain {
        pages: 0,
        link: 8,
        desc_entry: None,
        description: None,
        first_strip: None,
        whole_end: 16,
        torn: false,
    };
    let mut previous = 0u64;
    while next != 0 {
        // IFDs are appended one after the other: a link backwards is a loop.
        if next <= previous || !next.is_multiple_of(8) {
            return Err(not_ours(format!(
                "IFD {} at offset {next} is out of order",
                c.pages
            )));
        }
        previous = next;
        // Past the end, or a zeroed block a crash left: the chain is torn here.
        let count = match read_at(file, len, next, 8)? {
            Some(b) => u64_at(&b, 0),
            None => 0,
        };
        if count > 64 {
            return Err(not_ours(format!("IFD {} has {count} entries", c.pages)));
        }
        // `next` may be anything a crafted file says: past the end is a torn chain.
        let Some(body_at) = next.checked_add(8) else {
            c.torn = true;
            break;
        };
        let body = match read_at(file, len, body_at, count * ENTRY + 8)? {
            Some(body) if count > 0 => body,
            _ => {
                c.torn = true;
                break;
            }
        };
        let info = ifd_info(&body, count as usize);
        let strip_end = info.strip.and_then(|(at, n)| at.checked_add(n));
        if strip_end.is_none_or(|e| e > len) {
            c.torn = true;
            break;
        }
        let ifd_end = next + 8 + count * ENTRY;
        c.whole_end = c.whole_end.max(ifd_end + 8).max(strip_end.unwrap_or(0));
        if c.pages == 0 {
            c.first_strip = info.strip.map(|(at, _)| at);
            if let Some((i, n, at)) = info.description {
                let e = body.get(i * ENTRY as usize..(i + 1) * ENTRY as usize);
                let d = read_description(file, len, e.unwrap_or_default(), n, at)?;
                match &d {
                    // Text of 8 bytes or less sits in the entry itself.
                    Description::Whole(..) if n <= 8 => {}
                    Description::Whole(_, at) => {
                        c.whole_end = c.whole_end.max(at.saturating_add(n));
                    }
                    // Its text is cut: the tail goes, the slots still hold one.
                    Description::Torn => c.torn = true,
                }
                c.desc_entry = Some(next + 8 + i as u64 * ENTRY);
                c.description = Some(d);
            }
        }
        c.link = ifd_end;
        next = u64_at(&body, body.len() - 8);
        c.pages += 1;
    }
    Ok(c)
}

/// The texts the two description slots hold (NUL-terminated, non-empty).
fn slot_texts(file: &mut File, len: u64, slots: [u64; 2], cap: u64) -> io::Result<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    for at in slots {
        let n = cap.min(len.saturating_sub(at));
        if let Some(mut text) = read_at(file, len, at, n)? {
            if let Some(nul) = text.iter().position(|&b| b == 0) {
                text.truncate(nul);
            }
            if !text.is_empty() {
                out.push(text);
            }
        }
    }
    Ok(out)
}

/// The header of an empty BigTIFF in this machine's byte order.
fn header() -> Vec<u8> {
    let mut head = Vec::with_capacity(16);
    head.extend_from_slice(&MAGIC);
    head.extend_from_slice(&43u16.to_ne_bytes());
    head.extend_from_slice(&8u16.to_ne_bytes());
    head.extend_from_slice(&0u16.to_ne_bytes());
    head.extend_from_slice(&0u64.to_ne_bytes());
    head
}

impl<W: TiffSink> TiffWriter<W> {
    /// Start a BigTIFF at the start of `sink`: header and zeroed description slots of
    /// `slot_cap` bytes each. It becomes a readable TIFF with its first page.
    pub(crate) fn new(mut sink: W, slot_cap: u64) -> io::Result<Self> {
        use std::io::Read;
        let cap = round8(slot_cap.max(8));
        sink.seek(SeekFrom::Start(0))?;
        sink.write_all(&header())?;
        io::copy(&mut io::repeat(0).take(2 * cap), &mut sink)?;
        Ok(Self::started(sink, cap))
    }

    /// A writer over a sink that holds the header and `2 * cap` bytes of slots.
    fn started(sink: W, cap: u64) -> Self {
        Self {
            sink,
            end: 16 + 2 * cap,
            link: 8,
            pages: 0,
            slots: [16, 16 + cap],
            slot_cap: cap,
            active_slot: None,
            desc_entry: None,
            dirty: true,
            written_back: 0,
            torn_at: None,
        }
    }

    /// The sink, once the writer is done with it.
    pub(crate) fn into_inner(self) -> W {
        self.sink
    }
}

impl TiffWriter<PathFile> {
    /// Create the file (it must not exist): header and empty description slots of
    /// `slot_cap` bytes each. It becomes a readable TIFF with its first page.
    pub(crate) fn create(path: &Path, slot_cap: u64) -> io::Result<Self> {
        let mut file = OpenOptions::new().write(true).create_new(true).open(path)?;
        let cap = round8(slot_cap.max(8));
        file.write_all(&header())?;
        // The slots stay zero until used (`set_len` makes them sparse where possible).
        file.set_len(16 + 2 * cap)?;
        Ok(Self::started(PathFile::new(path, file)?, cap))
    }

    /// Reopen a file this writer left behind (a writer that was killed, or a finished
    /// file): walk the chain of IFDs, find IFD 0's description and the two slots, and
    /// carry on appending after the end of the file. A torn tail (a crash or a cut copy
    /// left an IFD, its strip or its description partly past the end) is found here and
    /// removed by [`cut_torn_tail`](Self::cut_torn_tail). Refuses files this module did
    /// not write (other byte order, classic TIFF, IFDs out of order).
    pub(crate) fn reopen(path: &Path) -> io::Result<Reopened> {
        let mut file = OpenOptions::new().read(true).write(true).open(path)?;
        let len = file.metadata()?.len();
        let head = read_at(&mut file, len, 0, 16)?
            .ok_or_else(|| not_ours(format!("{len} bytes is shorter than a BigTIFF header")))?;
        if head[..2] != MAGIC || u16_at(&head, 2) != 43 || u16_at(&head, 4) != 8 {
            return Err(not_ours(
                "header is not a BigTIFF of this machine's byte order".to_owned(),
            ));
        }
        let chain = walk_chain(&mut file, len, u64_at(&head, 8))?;
        // Layout: header | slot A | slot B | strip 0 | ...: the slots split what lies
        // between the header and the first strip (or, with no page yet, the end).
        let slots_end = chain.first_strip.unwrap_or(len).clamp(16, len.max(16));
        let cap = ((slots_end - 16) / 2) / 8 * 8;
        let slots = [16, 16 + cap];
        let descriptions = match &chain.description {
            Some(Description::Whole(text, _)) => vec![text.clone()],
            Some(Description::Torn) => slot_texts(&mut file, len, slots, cap)?,
            None => Vec::new(),
        };
        let active_slot = match &chain.description {
            Some(Description::Whole(_, at)) => slots.iter().position(|s| s == at),
            _ => None,
        };
        let torn_at = chain
            .torn
            .then_some(chain.whole_end.max(16 + 2 * cap).min(len));
        Ok(Reopened {
            writer: Self {
                sink: PathFile::new(path, file)?,
                end: len,
                link: chain.link,
                pages: chain.pages,
                slots,
                slot_cap: cap,
                active_slot,
                desc_entry: chain.desc_entry,
                dirty: false,
                written_back: len - len % 4096,
                torn_at,
            },
            descriptions,
        })
    }

    /// Bytes past the last whole page that [`cut_torn_tail`](Self::cut_torn_tail)
    /// removes (0 when the file is not torn).
    pub(crate) fn torn_bytes(&self) -> u64 {
        self.torn_at.map_or(0, |at| self.end.saturating_sub(at))
    }

    /// Cut a torn tail found by [`reopen`](Self::reopen): the last whole IFD ends the
    /// chain, the file is truncated after it, and both are made durable.
    pub(crate) fn cut_torn_tail(&mut self) -> io::Result<()> {
        let Some(at) = self.torn_at else {
            return Ok(());
        };
        let link = self.link;
        self.write_at(link, &0u64.to_ne_bytes())?;
        self.sink.handle()?.set_len(at)?;
        self.end = at;
        self.written_back = self.written_back.min(at - at % 4096);
        self.torn_at = None;
        self.sync()
    }

    /// The file's path.
    pub(crate) fn path(&self) -> &Path {
        self.sink.path()
    }

    /// Whether the file handle is open.
    pub(crate) fn is_open(&self) -> bool {
        self.sink.is_open()
    }

    /// Whether the file at the path is still the one this writer opened (neither
    /// unlinked nor replaced by another file).
    pub(crate) fn is_in_place(&self) -> bool {
        self.sink.is_in_place()
    }

    /// Close the handle (it reopens on the next write). Nothing is lost: every write
    /// has already been handed to the OS.
    pub(crate) fn close(&mut self) {
        self.sink.close();
    }
}

impl<W: TiffSink> TiffWriter<W> {
    /// IFDs written so far.
    pub(crate) fn pages(&self) -> u64 {
        self.pages
    }

    /// Whether something was written since the last sync.
    pub(crate) fn is_dirty(&self) -> bool {
        self.dirty
    }

    fn write_at(&mut self, offset: u64, bytes: &[u8]) -> io::Result<()> {
        self.sink.seek(SeekFrom::Start(offset))?;
        self.sink.write_all(bytes)?;
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
    /// used when `pages() == 0`). `ifd` is a scratch buffer. Returns the strip's offset.
    #[cfg(test)]
    pub(crate) fn write_page(
        &mut self,
        format: &PageFormat,
        strip: &[u8],
        description: Option<&[u8]>,
        ifd: &mut Vec<u8>,
    ) -> io::Result<u64> {
        self.write_page_with_levels(format, strip, description, ifd, &[])
    }

    /// [`write_page`](Self::write_page) with the plane's reduced resolutions: each
    /// `(format, strip)` of `levels` is written after the page's strip, strip then IFD
    /// (`NewSubfileType` 1, not in the chain), and the page's IFD lists them in its
    /// `SubIFDs` (the pyramid layout of OME-TIFF that Bio-Formats and tifffile read).
    /// Everything is before the page's IFD, so a page is whole with its levels.
    pub(crate) fn write_page_with_levels(
        &mut self,
        format: &PageFormat,
        strip: &[u8],
        description: Option<&[u8]>,
        ifd: &mut Vec<u8>,
        levels: &[LevelData<'_>],
    ) -> io::Result<u64> {
        // The page's strip first: the first page's strip must follow the description
        // slots (reopening finds the slots between the header and it).
        let strip_at = self.append(strip)?;
        let mut sub_ifds = Vec::with_capacity(levels.len());
        for level in levels {
            let at = self.append(level.data)?;
            let data = self.append_pieces(at, level.pieces)?;
            let mut b = IfdBuilder::new(ifd);
            page_entries(&mut b, &level.format, data, None, None);
            b.finish();
            sub_ifds.push(self.append(ifd)?);
        }
        let sub = match sub_ifds.as_slice() {
            [] => None,
            [one] => Some((1, *one)),
            many => {
                let bytes: Vec<u8> = many.iter().flat_map(|o| o.to_ne_bytes()).collect();
                Some((many.len() as u64, self.append(&bytes)?))
            }
        };
        let desc = match description {
            Some(text) if self.pages == 0 => Some(self.store_description(text, 0)?),
            _ => None,
        };
        let desc_slot = desc.and_then(|(_, _, slot)| slot);
        let mut b = IfdBuilder::new(ifd);
        let desc_index = page_entries(
            &mut b,
            format,
            DataEntries::strip(strip_at, strip.len() as u64),
            desc.map(|(count, at, _)| (count, at)),
            sub,
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
            self.sink.start_writeback(from, done - from);
            self.written_back = done;
        }
        Ok(strip_at)
    }

    /// The IFD values of pieces of `pieces` bytes each, written one after the other
    /// from `at`: the values themselves for one piece, else the two arrays, appended.
    fn append_pieces(&mut self, at: u64, pieces: &[u64]) -> io::Result<DataEntries> {
        if let [len] = pieces {
            return Ok(DataEntries::strip(at, *len));
        }
        let mut offsets = Vec::with_capacity(pieces.len() * 8);
        let mut next = at;
        for len in pieces {
            offsets.extend_from_slice(&next.to_ne_bytes());
            next += len;
        }
        let counts: Vec<u8> = pieces.iter().flat_map(|n| n.to_ne_bytes()).collect();
        Ok(DataEntries {
            count: pieces.len() as u64,
            offsets: self.append(&offsets)?,
            counts: self.append(&counts)?,
        })
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

    /// Whether a description of `len` bytes (its NULs included) fits a slot.
    pub(crate) fn fits_slot(&self, len: u64) -> bool {
        len <= self.slot_cap
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
            self.sink.sync()?;
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
            reduced: false,
            tile: None,
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

    #[test]
    fn an_in_memory_writer_reads_back_like_a_file() {
        use tiff::decoder::{Decoder, DecodingResult};
        let fmt = format(Codec::Lzw);
        let mut w = TiffWriter::new(io::Cursor::new(Vec::new()), 64).unwrap();
        let (mut ifd, mut packed) = (Vec::new(), Vec::new());
        for p in 0..3u8 {
            let plane = [p; 12];
            let strip = fmt.encode(&plane, &mut packed).unwrap();
            w.write_page(&fmt, strip, Some(b"first"), &mut ifd).unwrap();
        }
        w.set_provisional(b"second").unwrap();
        w.set_final(b"<final/>").unwrap();
        let bytes = w.into_inner().into_inner();
        let mut d = Decoder::new(io::Cursor::new(bytes)).unwrap();
        assert_eq!(
            d.get_tag_ascii_string(Tag::ImageDescription).unwrap(),
            "<final/>"
        );
        for p in 0..3u8 {
            let DecodingResult::U16(v) = d.read_image().unwrap() else {
                panic!("not 16-bit");
            };
            assert_eq!(v, vec![u16::from_ne_bytes([p, p]); 6]);
            if p < 2 {
                d.next_image().unwrap();
            }
        }
        assert!(!d.more_images());
    }

    #[test]
    fn reopening_any_cut_or_flipped_file_never_panics() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.tiff");
        let fmt = format(Codec::None);
        let mut w = TiffWriter::create(&path, 64).unwrap();
        let mut ifd = Vec::new();
        for p in 0..3u8 {
            w.write_page(&fmt, &[p; 12], Some(b"provisional text"), &mut ifd)
                .unwrap();
        }
        w.set_final(b"<final/>").unwrap();
        let good = std::fs::read(&path).unwrap();
        let damaged = dir.path().join("b.tiff");
        let mut whole_pages = Vec::new();
        for cut in 0..=good.len() {
            std::fs::write(&damaged, &good[..cut]).unwrap();
            if let Ok(r) = TiffWriter::reopen(&damaged) {
                whole_pages.push(r.writer.pages());
            }
        }
        // Pages only ever appear whole, in order, as the cut moves on.
        assert!(whole_pages.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(whole_pages.last(), Some(&3));
        for at in 0..good.len() {
            for byte in [0u8, 0xff, 0x09] {
                let mut bytes = good.clone();
                bytes[at] = byte;
                std::fs::write(&damaged, &bytes).unwrap();
                let _ = TiffWriter::reopen(&damaged);
            }
        }
    }
}

//! Rules on where the output goes and on the names inside a dataset (docs/schema.md,
//! "Paths and names"). The output is exactly the path named: `root_path` with its OME
//! suffix replaced by `format.suffix` (or, for several TIFF files, the folder named by
//! the stem). Every name a dataset creates is one path component that the filesystems
//! we target accept, and no two files or groups of one dataset resolve to the same path,
//! even on a case-insensitive filesystem (names equal ignoring ASCII case collide).
//! Checked on the finished [`Schema`], before anything is written.

use std::collections::HashMap;

use crate::error::SchemaError;
use crate::options::{Container, MultiFileMetadata};
use crate::schema::{Schema, ome_stem_suffix};
use crate::settings::FormatSpec;

/// The longest file or directory name, in bytes, that ext4, XFS, APFS and NTFS accept.
pub const MAX_NAME_BYTES: usize = 255;

/// Bytes of the temporary sibling (`.{name}.tmp`) a file replaced atomically needs.
const TEMP_NAME_BYTES: usize = ".".len() + ".tmp".len();

/// Zarr group names the layout itself uses next to the image groups.
const RESERVED_GROUPS: [&str; 2] = ["OME", "zarr.json"];

/// Every path and naming rule, for a validated schema.
pub(crate) fn check_paths(schema: &Schema) -> Result<(), SchemaError> {
    if let Some(url) = schema.output_url() {
        if let FormatSpec::OmeZarr(f) = &schema.settings().format {
            check_suffix(&f.suffix, Container::OmeZarr)?;
        }
        check_output(url.key(), url.key())?;
        return check_zarr_groups(schema);
    }
    let Some(output) = schema.output_path() else {
        // omero_local: the staged fileset's names follow its container.
        let zarr = schema
            .omero_options()
            .is_some_and(|o| o.container == Container::OmeZarr);
        return if zarr {
            check_zarr_groups(schema)
        } else {
            Ok(())
        };
    };
    let root = schema.settings().root_path.trim();
    check_root_path(root)?;
    let (container, suffix) = match &schema.settings().format {
        FormatSpec::OmeZarr(f) => (Container::OmeZarr, f.suffix.as_str()),
        FormatSpec::OmeTiff(f) => (Container::OmeTiff, f.suffix.as_str()),
        FormatSpec::Scratch(f) => {
            check_scratch_root(root)?;
            check_scratch_suffix(&f.suffix)?;
            return check_output(root, &output.to_string_lossy());
        }
        _ => return Ok(()),
    };
    check_format_agrees(root, container)?;
    check_suffix(suffix, container)?;
    check_output(root, &output.to_string_lossy())?;
    match container {
        Container::OmeZarr => check_zarr_groups(schema),
        Container::OmeTiff => check_tiff_files(schema, root),
    }
}

/// The last component of a path written with `/` (or, on Windows, `\`) separators.
fn last_component(path: &str) -> &str {
    path.rsplit(std::path::is_separator).next().unwrap_or(path)
}

/// `s3`, `gs`, `https`, ... for `scheme://...`; a single letter is a Windows drive.
fn url_scheme(root: &str) -> Option<&str> {
    let (scheme, _) = root.split_once("://")?;
    let mut chars = scheme.chars();
    let first = chars.next()?;
    let valid = scheme.len() >= 2
        && first.is_ascii_alphabetic()
        && chars.all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
    valid.then_some(scheme)
}

/// A local path that names a dataset: no NUL, no URL, and a last component that is a
/// name (not empty, `.` or `..`: `.`, `..`, `/` and `out/` name directories).
pub(crate) fn check_root_path(root: &str) -> Result<(), SchemaError> {
    let bad = |reason: String| SchemaError::invalid("root_path", format!("{root:?}"), reason);
    if root.contains('\0') {
        return Err(bad(
            "contains a NUL byte, which no filesystem accepts".into()
        ));
    }
    if let Some(scheme) = url_scheme(root) {
        return Err(bad(format!(
            "is a URL ({scheme}://): the only object storage is s3:// (OME-Zarr); give \
             an s3:// address or a local path (an OMERO address is omero://<kind>/<id> \
             with format omero_local)"
        )));
    }
    if matches!(last_component(root), "" | "." | "..") {
        return Err(bad(
            "names a directory, not a dataset: end it with the dataset's name, e.g. \
             out/run.ome.zarr"
                .into(),
        ));
    }
    Ok(())
}

/// A `root_path` ending in `.zarr` is written as OME-Zarr, one ending in `.tif`/`.tiff`
/// as OME-TIFF; a format saying otherwise is a contradiction, not a choice.
fn check_format_agrees(root: &str, container: Container) -> Result<(), SchemaError> {
    let (_, suffix) = ome_stem_suffix(root);
    match Container::of_extension(suffix) {
        Some(named) if named != container => Err(SchemaError::invalid(
            "format",
            format!("{:?}", container.as_str()),
            format!(
                "writes {} but root_path {root:?} ends in {suffix}, an {} name: change \
                 format or root_path so that they agree",
                container.title(),
                named.title()
            ),
        )),
        _ => Ok(()),
    }
}

/// `format.suffix` is an extension of one file name: `.` and at least one more
/// character, no separator or NUL, not made of dots only, and the container's own
/// extension (`.zarr`; `.tif` or `.tiff`). Python accepts any string (it writes `""`
/// for a format object when `root_path` has no OME suffix); we refuse what would write
/// somewhere the user never named.
fn check_suffix(suffix: &str, container: Container) -> Result<(), SchemaError> {
    let bad = |reason: &str| SchemaError::invalid("format.suffix", format!("{suffix:?}"), reason);
    if !suffix.starts_with('.') || suffix.len() < 2 {
        return Err(bad(
            "must start with '.' and name an extension (e.g. .ome.zarr, .ome.tiff)",
        ));
    }
    if suffix.contains(['/', '\\', '\0']) {
        return Err(bad(
            "must not contain '/', '\\' or NUL: it ends one file name",
        ));
    }
    if suffix.chars().all(|c| c == '.') {
        return Err(bad("is made of dots only; name an extension"));
    }
    if suffix.len() > MAX_NAME_BYTES {
        return Err(bad("is longer than a file name may be (255 bytes)"));
    }
    match (container, Container::of_extension(suffix)) {
        (Container::OmeZarr, Some(Container::OmeZarr))
        | (Container::OmeTiff, Some(Container::OmeTiff)) => Ok(()),
        (Container::OmeZarr, _) => Err(bad("an OME-Zarr suffix must end in .zarr")),
        (Container::OmeTiff, _) => Err(bad("an OME-TIFF suffix must end in .tif or .tiff")),
    }
}

/// A scratch directory named like an OME-Zarr or OME-TIFF would pass for one: refused.
fn check_scratch_root(root: &str) -> Result<(), SchemaError> {
    let (_, suffix) = ome_stem_suffix(root);
    match Container::of_extension(suffix) {
        Some(named) => Err(SchemaError::invalid(
            "root_path",
            format!("{root:?}"),
            format!(
                "ends in {suffix}, an {} name, but the scratch format writes a directory \
                 of raw arrays: name it otherwise, or choose that format",
                named.title()
            ),
        )),
        None => Ok(()),
    }
}

/// The scratch format's `suffix` names nothing (Python ignores it too); it is still
/// held to what a file extension may be, so that no later use of it can be dangerous:
/// empty, or `.` and more, no separator or NUL, at most 255 bytes.
fn check_scratch_suffix(suffix: &str) -> Result<(), SchemaError> {
    let bad = |reason: &str| SchemaError::invalid("format.suffix", format!("{suffix:?}"), reason);
    if suffix.is_empty() {
        return Ok(());
    }
    if !suffix.starts_with('.') || suffix.chars().all(|c| c == '.') {
        return Err(bad("must be empty or start with '.' and name an extension"));
    }
    if suffix.contains(['/', '\\', '\0']) {
        return Err(bad("must not contain '/', '\\' or NUL"));
    }
    if suffix.len() > MAX_NAME_BYTES {
        return Err(bad("is longer than a file name may be (255 bytes)"));
    }
    Ok(())
}

/// Bytes the backends add to the output's name for the files they keep beside it
/// (`.NAME.omew-lock`, `.NAME.omew-replaced` during an overwrite).
pub const OUTPUT_SIBLING_BYTES: usize = 15;

/// The resolved output's last component is a name, and no component is longer than a
/// filesystem allows (the last one leaving room for the files kept beside it).
fn check_output(root: &str, output: &str) -> Result<(), SchemaError> {
    let bad = |reason: String| {
        SchemaError::invalid(
            "root_path",
            format!("{root:?}"),
            format!("resolves to {output:?}, which {reason}"),
        )
    };
    if matches!(last_component(output), "" | "." | "..") {
        return Err(bad("names a directory, not a dataset".into()));
    }
    if let Some(long) = output
        .split(std::path::is_separator)
        .find(|c| c.len() > MAX_NAME_BYTES)
    {
        return Err(bad(format!(
            "has a component of {} bytes (at most {MAX_NAME_BYTES})",
            long.len()
        )));
    }
    let name = last_component(output).len();
    if name + OUTPUT_SIBLING_BYTES > MAX_NAME_BYTES {
        return Err(bad(format!(
            "has a name of {name} bytes; at most {} (the lock file beside it, \
             .NAME.omew-lock, must fit too)",
            MAX_NAME_BYTES - OUTPUT_SIBLING_BYTES
        )));
    }
    Ok(())
}

/// The file name of position `p` in a multi-file OME-TIFF dataset whose folder is named
/// `stem` (what the TIFF backend writes: `run_p000.ome.tiff`, `run_p001.ome.tiff`, ...).
pub fn tiff_position_file_name(stem: &str, p: usize, suffix: &str) -> String {
    format!("{stem}_p{p:03}{suffix}")
}

/// The companion OME-XML file of a multi-file dataset named `stem`: `companion_file`
/// itself, or `{stem}.companion.ome` when it is empty or the default `companion.ome`.
pub fn tiff_companion_file_name(stem: &str, companion_file: &str) -> String {
    if companion_file.is_empty() || companion_file == "companion.ome" {
        format!("{stem}.companion.ome")
    } else {
        companion_file.to_owned()
    }
}

/// Position files are numbered, so they never collide with each other; they must fit
/// a file name, and the companion file must be a plain file name unlike any of them.
fn check_tiff_files(schema: &Schema, root: &str) -> Result<(), SchemaError> {
    let (Some(layout), Some(output)) = (schema.tiff_layout(), schema.output_path()) else {
        return Ok(());
    };
    if !layout.multi_file {
        return Ok(());
    }
    let output = output.to_string_lossy();
    let stem = last_component(&output);
    let n = schema.positions().len();
    let last = tiff_position_file_name(stem, n.saturating_sub(1), &layout.suffix);
    if last.len() > MAX_NAME_BYTES {
        return Err(SchemaError::invalid(
            "root_path",
            format!("{root:?}"),
            format!(
                "the position file {last:?} would be {} bytes long (at most {MAX_NAME_BYTES})",
                last.len()
            ),
        ));
    }
    if layout.metadata != MultiFileMetadata::Companion {
        return Ok(());
    }
    let name = tiff_companion_file_name(stem, &layout.companion_file);
    let bad = |reason: String| {
        SchemaError::invalid(
            "format.companion_file",
            format!("{:?}", layout.companion_file),
            reason,
        )
    };
    if name.contains(['/', '\\', '\0']) || name == "." || name == ".." {
        return Err(bad(
            "must be a plain file name (it lives beside the TIFF files): no '/', '\\' \
             or NUL, not . or .."
                .into(),
        ));
    }
    if name.len() + TEMP_NAME_BYTES > MAX_NAME_BYTES {
        return Err(bad(format!(
            "is {} bytes long; at most {} (it is written through a temporary .{{name}}.tmp)",
            name.len(),
            MAX_NAME_BYTES - TEMP_NAME_BYTES
        )));
    }
    if let Some(p) = (0..n)
        .find(|&p| tiff_position_file_name(stem, p, &layout.suffix).eq_ignore_ascii_case(&name))
    {
        return Err(bad(format!(
            "is the file of position {p} (names equal ignoring ASCII case collide on \
             case-insensitive filesystems)"
        )));
    }
    Ok(())
}

/// The image group of every position in an OME-Zarr dataset (what the zarr backend
/// writes): `""` (the root) for a single position; the position name, or
/// `{name}_{grid_row}_{grid_column}`, for several (bioformats2raw layout);
/// `{row}/{column}/{field}` in a plate. Fields are named after their positions
/// (`A/1/fov0`, as Python ome-writers does) when every position name is ASCII
/// alphanumeric (NGFF's rule for paths) and no two in one well are equal ignoring ASCII
/// case; otherwise every well's fields are numbered `0, 1, ...` in acquisition order.
pub fn zarr_image_groups(schema: &Schema) -> Vec<String> {
    let positions = schema.positions();
    if schema.plate().is_some() {
        type Well<'a> = (Option<&'a str>, Option<&'a str>);
        let mut names: HashMap<Well<'_>, Vec<&str>> = HashMap::new();
        for p in positions {
            names
                .entry((p.plate_row.as_deref(), p.plate_column.as_deref()))
                .or_default()
                .push(p.name.as_str());
        }
        // One rule for the whole plate, so every well has the same layout.
        let named = names.values().all(|v| fields_can_be_named(v));
        let mut per_well: HashMap<Well<'_>, usize> = HashMap::new();
        positions
            .iter()
            .map(|p| {
                let key = (p.plate_row.as_deref(), p.plate_column.as_deref());
                let index = per_well.entry(key).or_insert(0);
                let field = if named {
                    p.name.clone()
                } else {
                    index.to_string()
                };
                *index += 1;
                format!(
                    "{}/{}/{field}",
                    p.plate_row.as_deref().unwrap_or_default(),
                    p.plate_column.as_deref().unwrap_or_default(),
                )
            })
            .collect()
    } else if positions.len() > 1 {
        positions
            .iter()
            .map(|p| match (p.grid_row, p.grid_column) {
                (Some(r), Some(c)) => format!("{}_{r}_{c}", p.name),
                _ => p.name.clone(),
            })
            .collect()
    } else {
        vec![String::new()]
    }
}

/// Whether a well's fields can be named after its positions: every name non-empty
/// ASCII alphanumeric, no two equal ignoring ASCII case.
fn fields_can_be_named(names: &[&str]) -> bool {
    let valid = names
        .iter()
        .all(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_alphanumeric()));
    let mut lower: Vec<String> = names.iter().map(|n| n.to_ascii_lowercase()).collect();
    lower.sort_unstable();
    let distinct = lower.windows(2).all(|w| w.first() != w.get(1));
    valid && distinct
}

/// Why `group` cannot be one image group (one directory) of a dataset without a plate.
fn bad_group_name(group: &str) -> Option<String> {
    if group.contains(['/', '\\']) {
        Some("has '/' or '\\', but it becomes one directory name".into())
    } else if group.contains('\0') {
        Some("contains a NUL byte, which no filesystem accepts".into())
    } else if group == "." || group == ".." {
        Some("is . or .., which name directories that exist already".into())
    } else if group.starts_with("__") {
        Some("starts with __, which zarr v3 reserves".into())
    } else if let Some(r) = RESERVED_GROUPS
        .iter()
        .find(|r| r.eq_ignore_ascii_case(group))
    {
        Some(format!(
            "is {r:?} ignoring case, which the dataset's own metadata uses"
        ))
    } else if group.len() > MAX_NAME_BYTES {
        Some(format!(
            "is {} bytes long (a directory name has at most {MAX_NAME_BYTES})",
            group.len()
        ))
    } else {
        None
    }
}

/// Image groups are valid directory names and pairwise distinct ignoring ASCII case.
fn check_zarr_groups(schema: &Schema) -> Result<(), SchemaError> {
    if let Some(plate) = schema.plate() {
        return check_plate_names(&plate.row_names, &plate.column_names);
    }
    let groups = zarr_image_groups(schema);
    if groups.len() < 2 {
        return Ok(());
    }
    let axis = schema.position_axis().unwrap_or(0);
    let mut seen: HashMap<String, usize> = HashMap::with_capacity(groups.len());
    for (j, (group, p)) in groups.iter().zip(schema.positions()).enumerate() {
        let bad = |reason: String| {
            SchemaError::invalid(
                format!("dimensions[{axis}].coords[{j}].name"),
                format!("{:?}", p.name),
                reason,
            )
        };
        if let Some(reason) = bad_group_name(group) {
            return Err(bad(format!("the image group {group:?} {reason}")));
        }
        if let Some(k) = seen.insert(group.to_ascii_lowercase(), j) {
            return Err(bad(format!(
                "positions {k} and {j} both map to the image group {group:?} (names equal \
                 ignoring ASCII case collide on case-insensitive filesystems); give them \
                 distinct names or grid_row/grid_column"
            )));
        }
    }
    Ok(())
}

/// Plate rows and columns are directories of the dataset: distinct ignoring ASCII case
/// (exact duplicates and non-alphanumeric names are refused with the plate itself).
fn check_plate_names(rows: &[String], columns: &[String]) -> Result<(), SchemaError> {
    for (what, names) in [("row_names", rows), ("column_names", columns)] {
        let mut seen: HashMap<String, usize> = HashMap::with_capacity(names.len());
        for (j, name) in names.iter().enumerate() {
            let field = format!("plate.{what}[{j}]");
            if name.len() > MAX_NAME_BYTES {
                return Err(SchemaError::invalid(
                    field,
                    format!("{name:?}"),
                    format!("is longer than a directory name may be ({MAX_NAME_BYTES} bytes)"),
                ));
            }
            if let Some(k) = seen.insert(name.to_ascii_lowercase(), j) {
                return Err(SchemaError::invalid(
                    field,
                    format!("{name:?}"),
                    format!(
                        "equals plate.{what}[{k}] ignoring ASCII case; their directories \
                         collide on case-insensitive filesystems"
                    ),
                ));
            }
        }
    }
    Ok(())
}

//! The gateway over the `omero` command-line interface (omero-py).
//!
//! Output formats, from omero-py's plugins and the Java importer:
//! - `omero hql --style csv`: a header `#,Col1,Col2...` (just `#` when no row), then one
//!   CSV row per result, the first field the row number within the page;
//! - `omero obj new|map-set ...`: one `Kind:id` line per command;
//!   `omero obj get OBJ FIELD`: the value; `omero obj ext-info-get OBJ`: `key=value` lines;
//!   errors go to stderr through `ctx.die(code, message)` (`No object found: Image:1`,
//!   exit code 334 mod 256);
//! - `omero import --output yaml` (ome.formats.importer.cli.LoggingImportMonitor): per
//!   fileset `---`, `- Fileset: N`, then `  Image: [a,b]`, `  Plate: [p]` lines on stdout;
//!   the summary and log lines on stderr; exit code 2 when any import failed;
//! - `omero zarr import` (omero-cli-zarr): `Importing: Image`, `lsid: PATH`,
//!   `Created Image N`, `Linked to Dataset D` on stdout;
//! - login failures: `Ice.ConnectionRefusedException: HOST:PORT isn't running` (554),
//!   `Bad session key. Cannot join KEY on HOST:PORT.` (523).

use std::collections::HashMap;
use std::hash::{Hash as _, Hasher as _};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use ome_writers_schema::{OmeroAddress, OmeroObject};

use crate::Registration;
use crate::config::{OmeroLocalConfig, Session};
use crate::gateway::{
    ExternalInfo, FilesetFile, Gateway, ImageInfo, ImportRequest, Registered, object_ref,
    shell_quote,
};
use crate::{OmeroLocalError, Sizes};

/// Rows fetched per `omero hql` call.
pub const HQL_PAGE: usize = 1000;

/// The most pages one HQL query may take (10 million rows at [`HQL_PAGE`]): a server
/// that never returns a short page is refused rather than followed forever.
pub const MAX_HQL_PAGES: usize = 10_000;

/// What a finished command printed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct CommandOutput {
    /// Exit code (-1 when killed by a signal).
    pub exit_code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

/// Runs the `omero` executable. [`ProcessRunner`] starts a process; contract tests replay
/// recorded transcripts.
pub(crate) trait CommandRunner: Send {
    /// Run `executable args...`, feeding `stdin` when given, and wait for it.
    fn run(
        &mut self,
        executable: &Path,
        args: &[String],
        stdin: Option<&str>,
    ) -> Result<CommandOutput, OmeroLocalError>;
}

/// Runs commands as child processes (inheriting the environment, so `OMERO_PASSWORD`
/// reaches the CLI without passing through this program).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct ProcessRunner;

impl CommandRunner for ProcessRunner {
    fn run(
        &mut self,
        executable: &Path,
        args: &[String],
        stdin: Option<&str>,
    ) -> Result<CommandOutput, OmeroLocalError> {
        let unavailable = |cause| OmeroLocalError::CliUnavailable {
            executable: executable.to_owned(),
            cause,
        };
        let mut child = Command::new(executable)
            .args(args)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(unavailable)?;
        if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
            // Scripts are a few kB: they fit the pipe before the CLI answers.
            pipe.write_all(text.as_bytes()).map_err(unavailable)?;
        }
        let out = child.wait_with_output().map_err(unavailable)?;
        Ok(CommandOutput {
            exit_code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }
}

/// The [`Gateway`] over the `omero` CLI. Each call runs one or a few CLI commands and
/// parses their output strictly: anything unexpected is a [`OmeroLocalError::Parse`].
pub struct CliGateway {
    executable: PathBuf,
    session: Session,
    runner: Box<dyn CommandRunner>,
    hql_page: usize,
}

impl std::fmt::Debug for CliGateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CliGateway")
            .field("executable", &self.executable)
            .field("session", &self.session.describe())
            .finish_non_exhaustive()
    }
}

impl CliGateway {
    /// A gateway running `executable` as a child process.
    pub fn new(executable: impl Into<PathBuf>, session: Session) -> Self {
        Self::with_runner(executable, session, Box::new(ProcessRunner))
    }

    /// A gateway with its own command runner (contract tests).
    pub(crate) fn with_runner(
        executable: impl Into<PathBuf>,
        session: Session,
        runner: Box<dyn CommandRunner>,
    ) -> Self {
        Self {
            executable: executable.into(),
            session,
            runner,
            hql_page: HQL_PAGE,
        }
    }

    /// Fetch `rows` rows per `omero hql` call instead of [`HQL_PAGE`] (at least 1).
    #[must_use]
    #[cfg(test)]
    pub(crate) fn with_hql_page(mut self, rows: usize) -> Self {
        self.hql_page = rows.max(1);
        self
    }

    /// The gateway a configuration asks for.
    pub fn from_config(config: &OmeroLocalConfig) -> Self {
        Self::new(config.executable(), config.session().clone())
    }

    /// Run `omero PLUGIN <login args> REST...`; a non-zero exit becomes a typed error.
    fn call(
        &mut self,
        command: &str,
        plugin: &str,
        rest: &[String],
        stdin: Option<&str>,
    ) -> Result<CommandOutput, OmeroLocalError> {
        let mut args = vec![plugin.to_owned()];
        args.extend(self.session.login_args());
        args.extend(rest.iter().cloned());
        let out = self.runner.run(&self.executable, &args, stdin)?;
        if out.exit_code != 0 {
            return Err(classify(command, &out, &self.session));
        }
        Ok(out)
    }

    /// One page-by-page HQL projection with `columns` columns. A page that repeats an
    /// earlier one (a server ignoring `--offset`), a page longer than asked for, or
    /// more than [`MAX_HQL_PAGES`] pages end the query with [`OmeroLocalError::Paging`].
    fn hql(&mut self, query: &str, columns: usize) -> Result<Vec<Vec<String>>, OmeroLocalError> {
        let page_rows = self.hql_page;
        let mut rows = Vec::new();
        let mut seen: HashMap<u64, usize> = HashMap::new();
        let mut offset = 0usize;
        for _ in 0..MAX_HQL_PAGES {
            let rest = [
                "--style",
                "csv",
                "--all",
                "--limit",
                &page_rows.to_string(),
                "--offset",
                &offset.to_string(),
                query,
            ]
            .map(str::to_owned);
            let out = self.call("hql", "hql", &rest, None)?;
            let page = parse_hql_csv(&out.stdout, columns)?;
            let paging = |reason: String| OmeroLocalError::Paging {
                query: query.to_owned(),
                offset,
                reason,
            };
            if page.len() > page_rows {
                return Err(paging(format!(
                    "the server returned {} rows for --limit {page_rows}",
                    page.len()
                )));
            }
            if page.len() < page_rows {
                rows.extend(page);
                return Ok(rows);
            }
            let mut hasher = std::hash::DefaultHasher::new();
            page.hash(&mut hasher);
            if let Some(earlier) = seen.insert(hasher.finish(), offset) {
                return Err(paging(format!(
                    "the page repeats the page at offset {earlier} (the server ignores \
                     --offset?)"
                )));
            }
            rows.extend(page);
            offset += page_rows;
        }
        Err(OmeroLocalError::Paging {
            query: query.to_owned(),
            offset,
            reason: format!("more than {MAX_HQL_PAGES} pages of {page_rows} rows"),
        })
    }

    fn external_info(&mut self, image: u64) -> Result<Option<ExternalInfo>, OmeroLocalError> {
        let rest = ["ext-info-get".to_owned(), format!("Image:{image}")];
        match self.call("obj ext-info-get", "obj", &rest, None) {
            Ok(out) => parse_ext_info(&out.stdout).map(Some),
            Err(OmeroLocalError::Omero { message, .. })
                if message.contains("No ExternalInfo found") =>
            {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }
}

impl Gateway for CliGateway {
    fn check_target(&mut self, target: OmeroAddress) -> Result<(), OmeroLocalError> {
        let rest = ["get".to_owned(), object_ref(target), "id".to_owned()];
        let out = self.call("obj get", "obj", &rest, None)?;
        let got = out.stdout.trim();
        if got != target.id.to_string() {
            return Err(parse_error(
                "obj get",
                &format!("expected the id {}", target.id),
                &out.stdout,
            ));
        }
        Ok(())
    }

    fn import(&mut self, request: &ImportRequest) -> Result<Registered, OmeroLocalError> {
        let path = request.path.to_string_lossy().into_owned();
        match request.method {
            Registration::InPlaceImport => {
                let flag = if request.target.object == OmeroObject::Screen {
                    "-r"
                } else {
                    "-d"
                };
                let rest = [
                    flag,
                    &request.target.id.to_string(),
                    "-n",
                    &request.name,
                    "--transfer=ln_s",
                    "--output",
                    "yaml",
                    "--skip",
                    "upgrade",
                    &path,
                ]
                .map(str::to_owned);
                let out = self.call("import", "import", &rest, None)?;
                parse_import_yaml(&out.stdout)
            }
            Registration::ZarrImport => {
                let rest = [
                    "import",
                    &path,
                    "--target",
                    &object_ref(request.target),
                    "--name",
                    &request.name,
                ]
                .map(str::to_owned);
                let out = self.call("zarr import", "zarr", &rest, None)?;
                parse_zarr_import(&out.stdout, &path, request.target)
            }
        }
    }

    fn annotate(
        &mut self,
        objects: &[OmeroAddress],
        namespace: &str,
        pairs: &[(String, String)],
    ) -> Result<u64, OmeroLocalError> {
        let rest = [
            "new".to_owned(),
            "MapAnnotation".to_owned(),
            format!("ns={namespace}"),
        ];
        let out = self.call("obj new", "obj", &rest, None)?;
        let ann = parse_obj_ref("obj new", &out.stdout, "MapAnnotation")?;
        // One CLI run for the rest: `omero obj --file -` reads commands from stdin.
        let mut script = String::new();
        let mut expected = Vec::new();
        for (key, value) in pairs {
            script.push_str(&format!(
                "map-set MapAnnotation:{ann} mapValue {} {}\n",
                shell_quote(&one_line(key)),
                shell_quote(&one_line(value))
            ));
            expected.push("MapAnnotation".to_owned());
        }
        for object in objects {
            let link = match object.object {
                OmeroObject::Image => "ImageAnnotationLink",
                OmeroObject::Plate => "PlateAnnotationLink",
                OmeroObject::Dataset => "DatasetAnnotationLink",
                OmeroObject::Screen => "ScreenAnnotationLink",
            };
            script.push_str(&format!(
                "new {link} parent={} child=MapAnnotation:{ann}\n",
                object_ref(*object)
            ));
            expected.push(link.to_owned());
        }
        let rest = ["--file".to_owned(), "-".to_owned()];
        let out = self.call("obj --file", "obj", &rest, Some(&script))?;
        let lines: Vec<&str> = out
            .stdout
            .lines()
            .filter(|l| !l.trim().is_empty())
            .collect();
        if lines.len() != expected.len() {
            return Err(parse_error(
                "obj --file",
                &format!("expected {} result lines", expected.len()),
                &out.stdout,
            ));
        }
        for (line, kind) in lines.iter().zip(&expected) {
            parse_obj_ref("obj --file", line, kind)?;
        }
        Ok(ann)
    }

    fn list_images(&mut self, dataset: u64) -> Result<Vec<u64>, OmeroLocalError> {
        let query = format!(
            "select l.child.id from DatasetImageLink l where l.parent.id = {dataset} \
             order by l.child.id"
        );
        let rows = self.hql(&query, 1)?;
        if rows.is_empty() {
            // An empty dataset and a missing one look alike in HQL: tell them apart.
            self.check_target(OmeroAddress {
                object: OmeroObject::Dataset,
                id: dataset,
            })?;
        }
        rows.iter().map(|r| parse_u64("hql", &r[0])).collect()
    }

    fn image_info(&mut self, image: u64) -> Result<ImageInfo, OmeroLocalError> {
        let query = format!(
            "select p.id, p.sizeX, p.sizeY, p.sizeZ, p.sizeC, p.sizeT, p.pixelsType.value, \
             p.dimensionOrder.value, p.image.series from Pixels p where p.image.id = {image}"
        );
        let rows = self.hql(&query, 9)?;
        let row = match rows.as_slice() {
            [] => {
                return Err(OmeroLocalError::NotFound {
                    object: format!("Image:{image}"),
                });
            }
            [row] => row,
            _ => {
                return Err(parse_error(
                    "hql",
                    &format!("image {image} has {} Pixels; expected one", rows.len()),
                    &format!("{rows:?}"),
                ));
            }
        };
        let n = |i: usize| parse_u64("hql", &row[i]);
        let sizes = Sizes {
            x: n(1)?,
            y: n(2)?,
            z: n(3)?,
            c: n(4)?,
            t: n(5)?,
        };
        let pixels = n(0)?;
        let series = if row[8] == "None" { 0 } else { n(8)? };
        let files_query = format!(
            "select f.path, f.name from Image i join i.fileset fs join fs.usedFiles u \
             join u.originalFile f where i.id = {image} order by u.id"
        );
        let files = self
            .hql(&files_query, 2)?
            .into_iter()
            .map(|mut r| {
                let name = r.pop().unwrap_or_default();
                let path = r.pop().unwrap_or_default();
                FilesetFile { path, name }
            })
            .collect();
        let external = self.external_info(image)?;
        Ok(ImageInfo {
            image,
            pixels,
            sizes,
            pixel_type: row[6].clone(),
            dimension_order: row[7].clone(),
            series,
            external,
            files,
        })
    }
}

fn one_line(text: &str) -> String {
    // `omero obj --file` reads one command per line.
    text.replace(['\n', '\r'], " ")
}

fn parse_error(command: &str, reason: &str, output: &str) -> OmeroLocalError {
    OmeroLocalError::Parse {
        command: command.to_owned(),
        reason: reason.to_owned(),
        output: output.to_owned(),
    }
}

fn parse_u64(command: &str, text: &str) -> Result<u64, OmeroLocalError> {
    text.trim()
        .parse::<u64>()
        .map_err(|_| parse_error(command, "expected a non-negative integer", text))
}

/// Turn a failed command's output into a typed error.
pub(crate) fn classify(command: &str, out: &CommandOutput, session: &Session) -> OmeroLocalError {
    let text = out.stderr.trim();
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let find = |needle: &str| {
        lines
            .iter()
            .find(|l| l.contains(needle))
            .map(|l| (*l).to_owned())
    };
    if let Some(line) = find("Ice.ConnectionRefusedException")
        .or_else(|| find("Ice.DNSException"))
        .or_else(|| find("Ice.ConnectTimeoutException"))
    {
        return OmeroLocalError::Unreachable {
            server: session.describe(),
            message: line,
        };
    }
    if let Some(line) = find("Bad session key")
        .or_else(|| find("cannot request password"))
        .or_else(|| find("incorrect password"))
        .or_else(|| find("No user found"))
    {
        return OmeroLocalError::Session { message: line };
    }
    if let Some(line) = find("No object found: ")
        && let Some(object) = line.split("No object found: ").nth(1)
    {
        return OmeroLocalError::NotFound {
            object: object.trim().to_owned(),
        };
    }
    // Importer logs: keep the ERROR lines and the summary; else the last lines.
    let mut message: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| l.contains(" ERROR ") || l.contains("error") && l.contains(" imported"))
        .collect();
    if message.is_empty() {
        message = lines.iter().rev().take(5).rev().copied().collect();
    }
    let mut message = message.join("\n");
    if message.is_empty() {
        message = out
            .stdout
            .trim()
            .lines()
            .last()
            .unwrap_or("(no output)")
            .to_owned();
    }
    OmeroLocalError::Omero {
        command: command.to_owned(),
        exit_code: out.exit_code,
        message,
    }
}

/// Parse `Kind:id` (one line).
pub(crate) fn parse_obj_ref(command: &str, text: &str, kind: &str) -> Result<u64, OmeroLocalError> {
    let line = text.trim();
    line.strip_prefix(kind)
        .and_then(|r| r.strip_prefix(':'))
        .and_then(|id| id.parse::<u64>().ok())
        .ok_or_else(|| parse_error(command, &format!("expected {kind}:<id>"), text))
}

/// Parse CSV records (RFC 4180 quoting, as Python's csv module writes them).
fn csv_records(text: &str) -> Result<Vec<Vec<String>>, String> {
    let mut records = Vec::new();
    let mut record = Vec::new();
    let mut field = String::new();
    let mut chars = text.chars().peekable();
    let mut quoted = false;
    let mut at_field_start = true;
    while let Some(ch) = chars.next() {
        if quoted {
            match ch {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                '"' => quoted = false,
                _ => field.push(ch),
            }
            continue;
        }
        match ch {
            '"' if at_field_start => {
                quoted = true;
                at_field_start = false;
            }
            ',' => {
                record.push(std::mem::take(&mut field));
                at_field_start = true;
            }
            '\n' => {
                record.push(std::mem::take(&mut field));
                records.push(std::mem::take(&mut record));
                at_field_start = true;
            }
            '\r' if chars.peek() == Some(&'\n') => {}
            _ => {
                field.push(ch);
                at_field_start = false;
            }
        }
    }
    if quoted {
        return Err("unterminated quoted field".to_owned());
    }
    if !field.is_empty() || !record.is_empty() {
        record.push(field);
        records.push(record);
    }
    Ok(records)
}

/// Parse `omero hql --style csv` output of a projection with `columns` columns; returns
/// the rows without their row-number field.
pub(crate) fn parse_hql_csv(
    stdout: &str,
    columns: usize,
) -> Result<Vec<Vec<String>>, OmeroLocalError> {
    let err = |reason: &str| parse_error("hql", reason, stdout);
    let records = csv_records(stdout).map_err(|e| err(&e))?;
    let mut records = records
        .into_iter()
        .filter(|r| !(r.len() == 1 && r[0].is_empty()));
    let header = records.next().ok_or_else(|| err("no header line"))?;
    let rows: Vec<Vec<String>> = records.collect();
    if rows.is_empty() && header == ["#"] {
        return Ok(rows);
    }
    let mut want = vec!["#".to_owned()];
    want.extend((1..=columns).map(|i| format!("Col{i}")));
    if header != want {
        return Err(err(&format!("expected the header {}", want.join(","))));
    }
    rows.into_iter()
        .enumerate()
        .map(|(i, mut r)| {
            if r.len() != columns + 1 || r[0] != i.to_string() {
                return Err(err(&format!("row {i} is not `{i},` + {columns} values")));
            }
            r.remove(0);
            Ok(r)
        })
        .collect()
}

/// Parse `omero obj ext-info-get OBJ` output (`key=value` lines).
pub(crate) fn parse_ext_info(stdout: &str) -> Result<ExternalInfo, OmeroLocalError> {
    let mut entity_type = None;
    let mut lsid = None;
    for line in stdout.lines().filter(|l| !l.trim().is_empty()) {
        let (key, value) = line
            .split_once('=')
            .ok_or_else(|| parse_error("obj ext-info-get", "expected key=value lines", stdout))?;
        match key {
            "entityType" => entity_type = Some(value.to_owned()),
            "lsid" => lsid = Some(value.to_owned()),
            "id" | "entityId" | "uuid" => {}
            _ => {
                return Err(parse_error(
                    "obj ext-info-get",
                    &format!("unknown field {key:?}"),
                    stdout,
                ));
            }
        }
    }
    match (entity_type, lsid) {
        (Some(entity_type), Some(lsid)) => Ok(ExternalInfo { entity_type, lsid }),
        _ => Err(parse_error(
            "obj ext-info-get",
            "expected entityType= and lsid= lines",
            stdout,
        )),
    }
}

fn parse_id_list(text: &str) -> Option<Vec<u64>> {
    let inner = text.trim().strip_prefix('[')?.strip_suffix(']')?;
    if inner.trim().is_empty() {
        return Some(Vec::new());
    }
    inner.split(',').map(|s| s.trim().parse().ok()).collect()
}

/// Parse `omero import --output yaml` standard output.
pub(crate) fn parse_import_yaml(stdout: &str) -> Result<Registered, OmeroLocalError> {
    let err = |reason: String| parse_error("import", &reason, stdout);
    let mut out = Registered::default();
    let mut filesets = 0usize;
    let mut in_doc = false;
    for (i, line) in stdout.lines().enumerate() {
        let n = i + 1;
        if line.trim().is_empty() {
            continue;
        }
        if line.trim_end() == "---" {
            in_doc = true;
            continue;
        }
        if !in_doc {
            return Err(err(format!("line {n}: expected `---`")));
        }
        if let Some(id) = line.strip_prefix("- Fileset: ") {
            let id = id
                .trim()
                .parse::<u64>()
                .map_err(|_| err(format!("line {n}: bad Fileset id")))?;
            filesets += 1;
            out.fileset.get_or_insert(id);
            continue;
        }
        let Some((kind, ids)) = line.strip_prefix("  ").and_then(|l| l.split_once(": ")) else {
            return Err(err(format!("line {n}: expected `  Kind: [ids]`")));
        };
        if filesets == 0 {
            return Err(err(format!("line {n}: objects before `- Fileset:`")));
        }
        let ids = parse_id_list(ids).ok_or_else(|| err(format!("line {n}: bad id list")))?;
        match kind {
            "Image" => out.images.extend(ids),
            "Plate" => out.plates.extend(ids),
            // Other created objects (annotations, ...) are not ours to report.
            _ => {}
        }
    }
    if filesets == 0 || out.images.is_empty() {
        return Err(err("no fileset with images was reported".to_owned()));
    }
    Ok(out)
}

/// Parse `omero zarr import PATH --target T` standard output.
pub(crate) fn parse_zarr_import(
    stdout: &str,
    path: &str,
    target: OmeroAddress,
) -> Result<Registered, OmeroLocalError> {
    let err = |reason: String| parse_error("zarr import", &reason, stdout);
    let mut out = Registered::default();
    let mut linked = 0usize;
    let link_kind = if target.object == OmeroObject::Screen {
        "Linked to Screen "
    } else {
        "Linked to Dataset "
    };
    for (i, line) in stdout.lines().enumerate() {
        let n = i + 1;
        let line = line.trim_end();
        if line.is_empty()
            || line.starts_with("Importing: ")
            || line.starts_with("Checking for series: ")
            || line == "Importing OME/METADATA.ome.xml"
            || line == "OME/METADATA.ome.xml Not Found"
        {
            continue;
        }
        if let Some(lsid) = line.strip_prefix("lsid: ") {
            let lsid = lsid.trim_end_matches('/');
            let ours = lsid == path
                || lsid
                    .strip_prefix(path)
                    .is_some_and(|s| s.starts_with('/') && !s[1..].contains('/'));
            if !ours {
                return Err(err(format!("line {n}: lsid is not under {path}")));
            }
            continue;
        }
        if let Some(id) = line
            .strip_prefix("Created Image ")
            .or_else(|| line.strip_prefix("Imported Image: "))
        {
            out.images.push(
                id.trim()
                    .parse()
                    .map_err(|_| err(format!("line {n}: bad image id")))?,
            );
            continue;
        }
        if let Some(id) = line.strip_prefix(link_kind) {
            if id.trim() != target.id.to_string() {
                return Err(err(format!("line {n}: linked to another target")));
            }
            linked += 1;
            continue;
        }
        if line == "Target not found" || line == "Plate import not yet supported" {
            return Err(OmeroLocalError::Omero {
                command: "zarr import".to_owned(),
                exit_code: 0,
                message: line.to_owned(),
            });
        }
        return Err(err(format!("line {n}: unexpected line")));
    }
    if out.images.is_empty() {
        return Err(err("no image was created".to_owned()));
    }
    if linked != out.images.len() {
        return Err(err(format!(
            "{} image(s) created but {linked} linked to {}",
            out.images.len(),
            object_ref(target)
        )));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_with_quotes_and_empty_results() {
        let rows = parse_hql_csv("#,Col1,Col2\n0,\"a,b\",\"say \"\"hi\"\"\"\n1,x,\n", 2).unwrap();
        assert_eq!(rows, vec![vec!["a,b", "say \"hi\""], vec!["x", ""]]);
        assert!(parse_hql_csv("#\n", 1).unwrap().is_empty());
        assert!(parse_hql_csv("#,Col1\n1,5\n", 1).is_err());
        assert!(parse_hql_csv("#,Col1,Col2\n0,5,6\n", 1).is_err());
        assert!(parse_hql_csv("", 1).is_err());
    }

    #[test]
    fn id_lists() {
        assert_eq!(parse_id_list("[1,2, 3]"), Some(vec![1, 2, 3]));
        assert_eq!(parse_id_list("[]"), Some(vec![]));
        assert_eq!(parse_id_list("[1,x]"), None);
    }
}

#[cfg(test)]
#[path = "cli_gateway_contract.rs"]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod contract;

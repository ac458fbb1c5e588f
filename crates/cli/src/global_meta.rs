//! `omew write --global-metadata NS=FILE.json` (repeatable): acquisition-level metadata
//! under namespace NS, read from a file that holds one JSON object (at most 64 MiB).
//! Every file is read and checked before the output is created; errors name the
//! namespace and the file.

use std::io::Read;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use serde_json::Value;

/// The largest file read.
const MAX_BYTES: u64 = 64 << 20;

/// One `--global-metadata` argument, read.
pub(crate) struct GlobalArg {
    pub(crate) namespace: String,
    pub(crate) value: Value,
}

/// Parse and read every `NS=FILE` argument (in order; a namespace given twice: the
/// last wins, as setting it again replaces it).
pub(crate) fn read_all(args: &[String]) -> Result<Vec<GlobalArg>> {
    args.iter().map(|a| read_one(a)).collect()
}

fn read_one(arg: &str) -> Result<GlobalArg> {
    let Some((namespace, file)) = arg.split_once('=') else {
        bail!("--global-metadata {arg:?}: expected NAMESPACE=FILE.json");
    };
    let path = PathBuf::from(file);
    let what = || format!("--global-metadata {namespace:?}: {}", path.display());
    ome_writers_backend::check_namespace(namespace).with_context(what)?;
    let meta = std::fs::metadata(&path).with_context(what)?;
    if !meta.is_file() {
        bail!("{}: not a regular file", what());
    }
    let mut text = Vec::new();
    std::fs::File::open(&path)
        .and_then(|f| f.take(MAX_BYTES + 1).read_to_end(&mut text))
        .with_context(what)?;
    if text.len() as u64 > MAX_BYTES {
        bail!("{}: larger than 64 MiB", what());
    }
    let value: Value =
        serde_json::from_slice(&text).with_context(|| format!("{}: not JSON", what()))?;
    if !value.is_object() {
        bail!("{}: must hold a JSON object", what());
    }
    Ok(GlobalArg {
        namespace: namespace.to_owned(),
        value,
    })
}

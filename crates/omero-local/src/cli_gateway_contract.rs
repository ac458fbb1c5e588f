//! Contract tests: `CliGateway` against recorded `omero` CLI transcripts
//! (tests/data/omero/transcripts, formats from omero-py's and the importer's sources).
//! Each replayed call checks the exact arguments the gateway runs, then feeds it the
//! recorded output. They live in the crate so that the command-runner seam they use
//! stays private.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::{CliGateway, CommandOutput, CommandRunner};
use crate::{
    ExternalInfo, FilesetFile, Gateway, ImportRequest, OmeroLocalError, Registered, Registration,
    Session, Sizes,
};
use ome_writers_schema::{OmeroAddress, OmeroObject};

const KEY: &str = "d3b1e1f0-7c2a-4f0e-9b55-3c1f2a8e6b11";

#[derive(Debug, Clone)]
struct Call {
    args: Vec<String>,
    stdin: Option<String>,
    output: CommandOutput,
}

/// Split shell words: single quotes, double quotes, backslash escapes.
fn shell_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                for q in chars.by_ref() {
                    if q == '\'' {
                        break;
                    }
                    word.push(q);
                }
            }
            '"' => {
                in_word = true;
                while let Some(q) = chars.next() {
                    match q {
                        '"' => break,
                        '\\' => word.extend(chars.next()),
                        _ => word.push(q),
                    }
                }
            }
            '\\' => {
                in_word = true;
                word.extend(chars.next());
            }
            ' ' | '\t' => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            _ => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    words
}

fn transcript(name: &str) -> VecDeque<Call> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/data/omero/transcripts")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap();
    let mut calls = VecDeque::new();
    let mut block: Option<(&str, Vec<&str>)> = None;
    let mut call: Option<Call> = None;
    let close = |call: &mut Option<Call>, block: &mut Option<(&str, Vec<&str>)>| {
        if let (Some(c), Some((kind, lines))) = (call.as_mut(), block.take()) {
            let mut s = lines.join("\n");
            if !lines.is_empty() {
                s.push('\n');
            }
            match kind {
                "stdin" => c.stdin = Some(s),
                "stdout" => c.output.stdout = s,
                _ => c.output.stderr = s,
            }
        }
    };
    for line in text.lines() {
        if let Some(args) = line.strip_prefix("$ ") {
            close(&mut call, &mut block);
            calls.extend(call.take());
            call = Some(Call {
                args: shell_words(args),
                stdin: None,
                output: CommandOutput::default(),
            });
        } else if call.is_none() {
            assert!(line.starts_with('#') || line.is_empty(), "{name}: {line}");
        } else if let Some(code) = line.strip_prefix("exit: ") {
            close(&mut call, &mut block);
            call.as_mut().unwrap().output.exit_code = code.parse().unwrap();
        } else if let Some(kind) = ["stdin", "stdout", "stderr"]
            .into_iter()
            .find(|k| line == format!("{k}:"))
        {
            close(&mut call, &mut block);
            block = Some((kind, Vec::new()));
        } else {
            block
                .as_mut()
                .unwrap_or_else(|| panic!("{name}: stray line {line:?}"))
                .1
                .push(line);
        }
    }
    close(&mut call, &mut block);
    calls.extend(call);
    calls
}

/// Replays calls in order, checking arguments and standard input.
struct Replay {
    calls: Arc<Mutex<VecDeque<Call>>>,
}

impl CommandRunner for Replay {
    fn run(
        &mut self,
        executable: &Path,
        args: &[String],
        stdin: Option<&str>,
    ) -> Result<CommandOutput, OmeroLocalError> {
        assert_eq!(executable, Path::new("/opt/omero/bin/omero"));
        let call = self
            .calls
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or_else(|| panic!("unexpected call: {args:?}"));
        assert_eq!(
            args,
            call.args.as_slice(),
            "arguments differ from the transcript"
        );
        assert_eq!(
            stdin,
            call.stdin.as_deref(),
            "stdin differs from the transcript"
        );
        Ok(call.output)
    }
}

fn keyed() -> Session {
    Session {
        server: Some("omero.example.org".to_owned()),
        port: Some(4064),
        key: Some(KEY.to_owned()),
        user: None,
    }
}

/// Run `f` on a gateway replaying `name`; every recorded call must be used.
fn replay<T>(name: &str, session: Session, f: impl FnOnce(&mut CliGateway) -> T) -> T {
    let calls = Arc::new(Mutex::new(transcript(name)));
    let mut gw = CliGateway::with_runner(
        "/opt/omero/bin/omero",
        session,
        Box::new(Replay {
            calls: calls.clone(),
        }),
    );
    let out = f(&mut gw);
    let left = calls.lock().unwrap().len();
    assert_eq!(left, 0, "{name}: {left} recorded call(s) not made");
    out
}

fn dataset(id: u64) -> OmeroAddress {
    OmeroAddress {
        object: OmeroObject::Dataset,
        id,
    }
}

fn in_place(name: &str, path: &str, target: OmeroAddress) -> ImportRequest {
    ImportRequest {
        path: PathBuf::from(path),
        target,
        name: name.to_owned(),
        method: Registration::InPlaceImport,
    }
}

#[test]
fn contract_obj_get_checks_the_target() {
    replay("obj_get_dataset.txt", keyed(), |g| {
        g.check_target(dataset(7))
    })
    .unwrap();
    let e = replay("obj_get_missing.txt", keyed(), |g| {
        g.check_target(dataset(99))
    })
    .unwrap_err();
    assert!(
        matches!(&e, OmeroLocalError::NotFound { object } if object == "Dataset:99"),
        "{e}"
    );
}

#[test]
fn contract_hql_lists_images() {
    let ids = replay("hql_list_images.txt", keyed(), |g| g.list_images(7)).unwrap();
    assert_eq!(ids, [101, 102, 105]);
    let ids = replay("hql_list_empty.txt", keyed(), |g| g.list_images(8)).unwrap();
    assert!(ids.is_empty());
    let e = replay("hql_bad_query.txt", keyed(), |g| g.list_images(9)).unwrap_err();
    assert!(
        matches!(&e, OmeroLocalError::Omero { exit_code: 52, message, .. }
            if message.starts_with("Bad query: ")),
        "{e}"
    );
}

#[test]
fn contract_image_info_romio() {
    let info = replay("image_info_romio.txt", keyed(), |g| g.image_info(101)).unwrap();
    assert_eq!(info.pixels, 1001);
    assert_eq!(
        info.sizes,
        Sizes {
            x: 7,
            y: 3,
            z: 2,
            c: 3,
            t: 1
        }
    );
    assert_eq!(info.pixel_type, "uint16");
    assert_eq!(info.dimension_order, "XYZCT");
    assert!(info.external.is_none() && info.files.is_empty());
}

#[test]
fn contract_image_info_fileset_and_external_zarr() {
    let info = replay("image_info_fileset.txt", keyed(), |g| g.image_info(102)).unwrap();
    assert_eq!(info.files.len(), 3);
    assert_eq!(
        info.files[2],
        FilesetFile {
            path: "alice_3/2024-05/02/10-15-41.310/run-1a2b3c4d.ome.zarr/0/c/0/0/0/".to_owned(),
            name: "0".to_owned()
        }
    );
    let info = replay("image_info_zarr_external.txt", keyed(), |g| {
        g.image_info(105)
    })
    .unwrap();
    assert_eq!(info.series, 0, "`None` series is series 0");
    assert_eq!(
        info.external,
        Some(ExternalInfo {
            entity_type: "com.glencoesoftware.ngff:multiscales".to_owned(),
            lsid: "/srv/omero-staging/run-5e6f7a8b/run-5e6f7a8b.ome.zarr".to_owned(),
        })
    );
    let e = replay("image_info_missing.txt", keyed(), |g| g.image_info(999)).unwrap_err();
    assert!(
        matches!(&e, OmeroLocalError::NotFound { object } if object == "Image:999"),
        "{e}"
    );
}

#[test]
fn contract_import_in_place() {
    let path = "/srv/omero-staging/run-1a2b3c4d/run-1a2b3c4d.ome.zarr";
    let r = replay("import_in_place_ok.txt", keyed(), |g| {
        g.import(&in_place("run-1a2b3c4d", path, dataset(7)))
    })
    .unwrap();
    assert_eq!(
        r,
        Registered {
            fileset: Some(31),
            images: vec![102],
            plates: vec![]
        }
    );
    let screen = OmeroAddress {
        object: OmeroObject::Screen,
        id: 3,
    };
    let r = replay("import_plate_ok.txt", keyed(), |g| {
        g.import(&in_place(
            "plate-run",
            "/srv/omero-staging/plate-run-9c0d1e2f/plate-run-9c0d1e2f.ome.zarr",
            screen,
        ))
    })
    .unwrap();
    assert_eq!(r.plates, [12]);
    assert_eq!(r.images, [201, 202, 203, 204]);
}

#[test]
fn contract_import_failure_reports_the_importer_errors() {
    let path = "/srv/omero-staging/run-1a2b3c4d/run-1a2b3c4d.ome.zarr";
    let e = replay("import_in_place_fail.txt", keyed(), |g| {
        g.import(&in_place("run-1a2b3c4d", path, dataset(7)))
    })
    .unwrap_err();
    let OmeroLocalError::Omero {
        command,
        exit_code,
        message,
    } = &e
    else {
        panic!("{e}")
    };
    assert_eq!((command.as_str(), *exit_code), ("import", 2));
    assert!(message.contains("Error on import"), "{message}");
    assert!(message.contains("FILE_EXCEPTION"), "{message}");
    assert!(message.contains("0 images imported, 1 error"), "{message}");
    assert!(!message.contains("INFO"), "{message}");
}

#[test]
fn contract_zarr_import() {
    let path = "/srv/omero-staging/run-5e6f7a8b/run-5e6f7a8b.ome.zarr";
    let req = |target| ImportRequest {
        path: PathBuf::from(path),
        target,
        name: "run-5e6f7a8b".to_owned(),
        method: Registration::ZarrImport,
    };
    let r = replay("zarr_import_ok.txt", keyed(), |g| {
        g.import(&req(dataset(7)))
    })
    .unwrap();
    assert_eq!(r.images, [105]);
    assert_eq!(r.fileset, None);
    let e = replay("zarr_import_target_not_found.txt", keyed(), |g| {
        g.import(&req(dataset(77)))
    })
    .unwrap_err();
    assert!(
        matches!(&e, OmeroLocalError::Omero { message, .. } if message == "Target not found"),
        "{e}"
    );
}

#[test]
fn contract_connection_refused_and_bad_session() {
    let user = Session {
        server: Some("localhost".to_owned()),
        port: Some(4064),
        key: None,
        user: Some("alice".to_owned()),
    };
    let e = replay("connection_refused.txt", user, |g| {
        g.check_target(dataset(7))
    })
    .unwrap_err();
    assert!(
        matches!(&e, OmeroLocalError::Unreachable { server, message }
            if server == "localhost:4064" && message.contains("isn't running")),
        "{e}"
    );
    let e = replay("bad_session_key.txt", keyed(), |g| g.list_images(7)).unwrap_err();
    assert!(
        matches!(&e, OmeroLocalError::Session { message } if message.contains("Cannot join")),
        "{e}"
    );
}

#[test]
fn contract_annotate_in_two_runs() {
    let images = [101, 102].map(|id| OmeroAddress {
        object: OmeroObject::Image,
        id,
    });
    let pairs = [
        ("writer", "ome-writers-rs"),
        (
            "schema",
            r#"{"root_path": "omero://dataset/7", "note": "it's"}"#,
        ),
    ]
    .map(|(k, v)| (k.to_owned(), v.to_owned()));
    let id = replay("annotate.txt", keyed(), |g| {
        g.annotate(&images, "org.ome-writers-rs/provenance", &pairs)
    })
    .unwrap();
    assert_eq!(id, 456);
}

#[test]
fn contract_unexpected_output_is_refused() {
    // Each transcript with its stdout altered: the parser must not guess.
    let cases: [(&str, &str, &str); 4] = [
        ("hql_list_images.txt", "#,Col1\n", "#,Id\n"),
        ("hql_list_images.txt", "1,102\n", "1,10x\n"),
        ("import_in_place_ok.txt", "- Fileset: 31\n", "Fileset 31\n"),
        (
            "zarr_import_ok.txt",
            "Linked to Dataset 7\n",
            "Linked to Dataset 8\n",
        ),
    ];
    for (name, from, to) in cases {
        let mut calls = transcript(name);
        let first = calls.front_mut().unwrap();
        assert!(first.output.stdout.contains(from), "{name}");
        first.output.stdout = first.output.stdout.replace(from, to);
        let calls = Arc::new(Mutex::new(calls));
        let mut g =
            CliGateway::with_runner("/opt/omero/bin/omero", keyed(), Box::new(Replay { calls }));
        let e = match name {
            "hql_list_images.txt" => g.list_images(7).unwrap_err(),
            "import_in_place_ok.txt" => g
                .import(&in_place(
                    "run-1a2b3c4d",
                    "/srv/omero-staging/run-1a2b3c4d/run-1a2b3c4d.ome.zarr",
                    dataset(7),
                ))
                .unwrap_err(),
            _ => g
                .import(&ImportRequest {
                    path: PathBuf::from("/srv/omero-staging/run-5e6f7a8b/run-5e6f7a8b.ome.zarr"),
                    target: dataset(7),
                    name: "run-5e6f7a8b".to_owned(),
                    method: Registration::ZarrImport,
                })
                .unwrap_err(),
        };
        assert!(matches!(e, OmeroLocalError::Parse { .. }), "{name}: {e}");
    }
}

/// The process runner against a real executable: a script standing in for `omero`
/// that records its arguments and stdin and replays a transcript's output.
#[cfg(unix)]
#[test]
fn contract_process_runner_passes_arguments_stdin_and_exit_codes() {
    use std::os::unix::fs::PermissionsExt;

    let dir = tempfile::tempdir().unwrap();
    let exe = dir.path().join("omero");
    let script = format!(
        r#"#!/bin/sh
printf '%s\n' "$@" > '{d}/args'
if [ "$1" = hql ]; then
  echo "Ice.ConnectionRefusedException: localhost:4064 isn't running" >&2
  exit 42
fi
for a in "$@"; do
  if [ "$a" = --file ]; then
    cat > '{d}/stdin'
    echo MapAnnotation:456
    echo ImageAnnotationLink:9001
    exit 0
  fi
done
echo MapAnnotation:456
"#,
        d = dir.path().display()
    );
    std::fs::write(&exe, script).unwrap();
    std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
    let session = Session {
        server: Some("localhost".to_owned()),
        port: Some(4064),
        ..Session::default()
    };
    let mut g = CliGateway::new(&exe, session.clone());
    let e = g.list_images(7).unwrap_err();
    assert!(matches!(e, OmeroLocalError::Unreachable { .. }), "{e}");
    let args = std::fs::read_to_string(dir.path().join("args")).unwrap();
    assert!(
        args.starts_with("hql\n-s\nlocalhost\n-p\n4064\n-q\n--style\ncsv\n"),
        "{args}"
    );
    assert!(
        args.contains("where l.parent.id = 7 order by l.child.id\n"),
        "{args}"
    );

    // `obj --file -` gets its script on stdin.
    let image = OmeroAddress {
        object: OmeroObject::Image,
        id: 1,
    };
    let pairs = [("k".to_owned(), "v w\nx".to_owned())];
    assert_eq!(g.annotate(&[image], "ns", &pairs).unwrap(), 456);
    assert_eq!(
        std::fs::read_to_string(dir.path().join("stdin")).unwrap(),
        "map-set MapAnnotation:456 mapValue k 'v w x'\n\
         new ImageAnnotationLink parent=Image:1 child=MapAnnotation:456\n"
    );

    let missing = CliGateway::new(dir.path().join("no-such-omero"), session).check_target(image);
    assert!(matches!(
        missing,
        Err(OmeroLocalError::CliUnavailable { .. })
    ));
}

/// `omero hql` is paged (`--limit 1000 --offset N`): a full page asks for the next one.
#[test]
fn contract_hql_pages_through_large_datasets() {
    let page = |offset: usize, ids: std::ops::Range<u64>| {
        let mut stdout = String::from("#,Col1\n");
        for (i, id) in ids.enumerate() {
            stdout.push_str(&format!("{i},{id}\n"));
        }
        let query =
            "select l.child.id from DatasetImageLink l where l.parent.id = 7 order by l.child.id";
        let mut args: Vec<String> = format!(
            "hql -s omero.example.org -p 4064 -k {KEY} -q --style csv --all --limit 1000 --offset {offset}"
        )
        .split(' ')
        .map(str::to_owned)
        .collect();
        args.push(query.to_owned());
        Call {
            args,
            stdin: None,
            output: CommandOutput {
                exit_code: 0,
                stdout,
                stderr: String::new(),
            },
        }
    };
    let calls = Arc::new(Mutex::new(VecDeque::from([
        page(0, 1..1001),
        page(1000, 1001..1003),
    ])));
    let mut g = CliGateway::with_runner(
        "/opt/omero/bin/omero",
        keyed(),
        Box::new(Replay {
            calls: calls.clone(),
        }),
    );
    let ids = g.list_images(7).unwrap();
    assert_eq!(ids.len(), 1002);
    assert_eq!(ids[1001], 1002);
    assert!(calls.lock().unwrap().is_empty());
}

/// Run `f` on a gateway replaying `name` with pages of `rows` rows.
fn replay_paged<T>(name: &str, rows: usize, f: impl FnOnce(&mut CliGateway) -> T) -> T {
    let calls = Arc::new(Mutex::new(transcript(name)));
    let mut gw = CliGateway::with_runner(
        "/opt/omero/bin/omero",
        keyed(),
        Box::new(Replay {
            calls: calls.clone(),
        }),
    )
    .with_hql_page(rows);
    let out = f(&mut gw);
    let left = calls.lock().unwrap().len();
    assert_eq!(left, 0, "{name}: {left} recorded call(s) not made");
    out
}

/// A server that repeats a page (ignores `--offset`) or returns more rows than asked
/// is refused with the offset, not followed forever.
#[test]
fn contract_hql_paging_stops_on_a_repeated_or_overlong_page() {
    let e = replay_paged("hql_list_repeating.txt", 2, |g| g.list_images(7)).unwrap_err();
    assert!(
        matches!(&e, OmeroLocalError::Paging { offset: 4, reason, .. }
            if reason.contains("repeats the page at offset 0")),
        "{e}"
    );
    assert!(e.to_string().contains("paging stopped at offset 4"), "{e}");
    let e = replay_paged("hql_list_overlong_page.txt", 2, |g| g.list_images(7)).unwrap_err();
    assert!(
        matches!(&e, OmeroLocalError::Paging { offset: 0, reason, .. }
            if reason.contains("3 rows for --limit 2")),
        "{e}"
    );
}

/// A server whose pages never end (every page new and full) is stopped after
/// `MAX_HQL_PAGES` pages.
#[test]
fn contract_hql_paging_is_bounded() {
    struct Endless {
        calls: usize,
    }
    impl CommandRunner for Endless {
        fn run(
            &mut self,
            _: &Path,
            args: &[String],
            _: Option<&str>,
        ) -> Result<CommandOutput, OmeroLocalError> {
            self.calls += 1;
            let offset = args.iter().position(|a| a == "--offset").unwrap() + 1;
            Ok(CommandOutput {
                exit_code: 0,
                stdout: format!("#,Col1\n0,{}\n", args[offset]),
                stderr: String::new(),
            })
        }
    }
    let mut g = CliGateway::with_runner(
        "/opt/omero/bin/omero",
        keyed(),
        Box::new(Endless { calls: 0 }),
    )
    .with_hql_page(1);
    let e = g.list_images(7).unwrap_err();
    let max = crate::MAX_HQL_PAGES;
    assert!(
        matches!(&e, OmeroLocalError::Paging { offset, reason, .. }
            if *offset == max && reason.contains(&format!("more than {max} pages"))),
        "{e}"
    );
}

//! Tests against a real OMERO server. No server can be installed from the registries
//! this project reaches, so they are `#[ignore]`d (cargo's summary counts them as
//! ignored); run them with `cargo test -p ome-writers-omero-local --test real_server --
//! --ignored` beside a server, and then a missing setting is a failure.
//!
//! Environment: `OMERO_HOST`, `OMERO_PORT`, and `OMERO_SESSION_KEY` or `OMERO_USER` +
//! `OMERO_PASSWORD` (read by the CLI); `OMERO_EXECUTABLE` (default `omero`);
//! `OMEW_TEST_DATASET` (a Dataset id to list, and to write into);
//! `OMEW_TEST_DATA_DIR` (the server's omero.data.dir, readable here) and
//! `OMEW_TEST_STAGING_DIR` (a staging directory the server can read) for load and write.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use ome_writers::{StreamOptions, create_stream_with_backend};
use ome_writers_omero_local::{
    CliGateway, DataDir, Gateway, OmeroLocalBackend, OmeroLocalOptions, OmeroReader, Session,
};
use ome_writers_schema::{OmeroAddress, OmeroObject, Schema};
use serde_json::json;

struct Server {
    gateway: CliGateway,
    executable: String,
    dataset: Option<u64>,
    data_dir: Option<String>,
    staging: Option<String>,
}

fn server(test: &str) -> Server {
    assert!(
        std::env::var("OMERO_HOST").is_ok_and(|h| !h.trim().is_empty()),
        "{test}: set OMERO_HOST (and the session) to the OMERO server to test against"
    );
    let var = |n: &str| std::env::var(n).ok().filter(|v| !v.trim().is_empty());
    let executable = var("OMERO_EXECUTABLE").unwrap_or_else(|| "omero".to_owned());
    let session = Session::from_env().unwrap();
    Server {
        gateway: CliGateway::new(&executable, session),
        executable,
        dataset: var("OMEW_TEST_DATASET").map(|d| d.parse().unwrap()),
        data_dir: var("OMEW_TEST_DATA_DIR"),
        staging: var("OMEW_TEST_STAGING_DIR"),
    }
}

#[test]
#[ignore = "needs a live OMERO server: set OMERO_HOST and run with --ignored"]
fn real_server_lists_a_dataset() {
    let mut s = server("real_server_lists_a_dataset");
    let Some(dataset) = s.dataset else {
        panic!("set OMEW_TEST_DATASET");
    };
    s.gateway
        .check_target(OmeroAddress {
            object: OmeroObject::Dataset,
            id: dataset,
        })
        .unwrap();
    let images = s.gateway.list_images(dataset).unwrap();
    eprintln!("Dataset:{dataset} holds {} image(s)", images.len());
    if let (Some(first), Some(dir)) = (images.first(), &s.data_dir) {
        let info = s.gateway.image_info(*first).unwrap();
        eprintln!("Image:{first}: {info:?}");
        let mut reader = OmeroReader::new(DataDir::open(dir).unwrap(), Box::new(s.gateway));
        match reader.load(OmeroAddress {
            object: OmeroObject::Image,
            id: *first,
        }) {
            Ok(img) => eprintln!(
                "loaded {:?} {:?} from {:?}",
                img.shape(),
                img.dtype(),
                img.source()
            ),
            Err(e) => eprintln!("not loadable locally: {e}"),
        }
    }
}

#[test]
#[ignore = "needs a live OMERO server: set OMERO_HOST and run with --ignored"]
fn real_server_writes_and_registers() {
    let s = server("real_server_writes_and_registers");
    let (Some(dataset), Some(data_dir), Some(staging)) = (s.dataset, &s.data_dir, &s.staging)
    else {
        panic!("set OMEW_TEST_DATASET, OMEW_TEST_DATA_DIR and OMEW_TEST_STAGING_DIR");
    };
    let schema = Schema::from_json(
        &json!({
            "root_path": format!("omero://dataset/{dataset}"),
            "dtype": "uint16",
            "dimensions": [{"name": "t", "count": 2}, {"name": "y", "count": 16}, {"name": "x", "count": 16}],
            "format": {"name": "omero_local", "data_dir": data_dir, "staging_dir": staging,
                       "omero_executable": s.executable},
        })
        .to_string(),
    )
    .unwrap();
    let options = OmeroLocalOptions::from_env().unwrap();
    let backend = OmeroLocalBackend::create_with(&schema, &options, Box::new(s.gateway)).unwrap();
    let mut stream =
        create_stream_with_backend(&schema, Box::new(backend), &StreamOptions::default()).unwrap();
    for t in 0..2u16 {
        stream.append(&vec![t + 1; 256]).unwrap();
    }
    let summary = stream.finish().unwrap();
    eprintln!("registered: {:?}", summary.paths);
    assert!(summary.paths.len() >= 2);
}

//! `omew bench --s3-url s3://BUCKET/PREFIX`: W1 (uncompressed, one frame a chunk) written
//! to object storage, beside a plain parallel upload of the same object sizes with the
//! same concurrency to the same server, in the same run; both prefixes removed after.

use std::time::Instant;

use anyhow::{Context, Result};
use ome_writers::{S3Options, Schema, StreamOptions, create_stream_with};
use ome_writers_schema::S3Url;
use ome_writers_zarr::S3Store;
use serde_json::{Value, json};

/// The S3 row: measured, printed as a table (or JSON), the same row returned.
pub(crate) fn bench_s3(url: &str, frames: u64, size: u64, s3: &S3Options) -> Result<Value> {
    let base: S3Url = url.trim_end_matches('/').parse().context("--s3-url")?;
    let dataset = format!("{base}/bench.ome.zarr");
    let settings = json!({
        "root_path": dataset, "dtype": "uint16", "overwrite": true, "compression": "none",
        "dimensions": [{"name": "t", "count": frames},
                       {"name": "y", "count": size}, {"name": "x", "count": size}],
    });
    let schema = Schema::from_json(&settings.to_string())?;
    let pool = ome_writers::frame_pool_u16(size, false, 8);
    let options = StreamOptions::default().with_s3(s3.clone());
    eprintln!("omew bench: W1 to {dataset} ({frames} frames of {size}x{size} uint16)");
    let started = Instant::now();
    let mut stream = create_stream_with(&schema, &options)?;
    for n in 0..frames {
        let frame = &pool[n as usize % pool.len()];
        stream.append(frame)?;
    }
    let summary = stream.finish()?;
    let seconds = started.elapsed().as_secs_f64();
    let peak_rss = crate::bench::peak_rss_bytes();
    let written: S3Url = dataset.parse()?;
    let sizes = S3Store::object_sizes(&written, s3)?;
    let reference: S3Url = format!("{base}/reference").parse()?;
    let upload = S3Store::plain_parallel_upload(&reference, s3, &sizes)?.as_secs_f64();
    let total: u64 = sizes.iter().sum();
    S3Store::delete_prefix(&written, s3)?;
    S3Store::delete_prefix(&reference, s3)?;
    let speed = summary.bytes as f64 / seconds / 1e6;
    let plain = total as f64 / upload / 1e6;
    let row = json!({
        "workload": "W1 zarr to S3",
        "mb_per_s": speed,
        "objects": sizes.len(),
        "object_bytes": total,
        "plain_upload_mb_per_s": plain,
        "ratio_to_plain_upload": speed / plain,
        "concurrency": s3.concurrency,
        "peak_rss_bytes": peak_rss,
        "queue_bytes": options.queue_bytes,
        "inflight_bytes": s3.inflight_bytes,
    });
    eprintln!("{row}");
    Ok(row)
}

/// The S3 row as a Markdown table.
pub(crate) fn table(row: &Value) -> String {
    let f = |k: &str, scale: f64, digits: usize| {
        row[k]
            .as_f64()
            .map_or_else(|| "-".to_owned(), |x| format!("{:.*}", digits, x * scale))
    };
    format!(
        "| workload | MB/s | plain parallel upload MB/s | x plain upload | objects | concurrency | peak RSS MiB | queue + in-flight bound MiB |\n\
         |---|---|---|---|---|---|---|---|\n\
         | {} | {} | {} | {} | {} | {} | {} | {:.0} |\n",
        row["workload"].as_str().unwrap_or("?"),
        f("mb_per_s", 1.0, 0),
        f("plain_upload_mb_per_s", 1.0, 0),
        f("ratio_to_plain_upload", 1.0, 2),
        f("objects", 1.0, 0),
        f("concurrency", 1.0, 0),
        f("peak_rss_bytes", 1.0 / 1_048_576.0, 0),
        (row["queue_bytes"].as_f64().unwrap_or(0.0)
            + row["inflight_bytes"].as_f64().unwrap_or(0.0))
            / 1_048_576.0,
    )
}

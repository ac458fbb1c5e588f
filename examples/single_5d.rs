//! A single 5D acquisition (T, C, Z, Y, X) written to OME-Zarr.
//!
//! cargo run --example single_5d -- out/single_5d.ome.zarr

use ome_writers::{AcquisitionSettings, Channel, DType, Dimension, create_stream};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "out/single_5d.ome.zarr".into());
    let schema = AcquisitionSettings::builder(root.as_str(), DType::U16)
        .dimension(Dimension::time(4).with_unit("s").with_scale(5.0))
        .dimension(Dimension::channels([
            Channel::named("DAPI").with_color("blue"),
            Channel::named("GFP").with_color("lime"),
        ]))
        .dimension(Dimension::z(6).with_unit("um").with_scale(2.0))
        .dimension(Dimension::y(256).with_unit("um").with_scale(0.5))
        .dimension(Dimension::x(256).with_unit("um").with_scale(0.5))
        .overwrite(true)
        .build()?;
    let mut stream = create_stream(&schema)?;
    let mut frame = vec![0u16; 256 * 256];
    for n in 0..schema.num_frames().unwrap_or(0) {
        frame.fill(n as u16); // a real program copies the camera buffer here
        stream.append(&frame)?;
    }
    let summary = stream.finish()?;
    println!("wrote {} frames -> {}", summary.frames_written, root);
    Ok(())
}

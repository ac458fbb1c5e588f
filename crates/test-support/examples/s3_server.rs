//! The tests' S3 server on its own, for trying things by hand:
//! `cargo run -p ome-writers-test-support --example s3_server` prints the environment
//! that reaches it (bucket `omew-test`) and serves until killed.

fn main() -> std::io::Result<()> {
    let server = ome_writers_test_support::s3::S3Server::start()?;
    for (key, value) in server.python_env() {
        println!("export {key}={value}");
    }
    println!(
        "# bucket {}, data in {}",
        ome_writers_test_support::s3::BUCKET,
        server.root().display()
    );
    loop {
        std::thread::park();
    }
}

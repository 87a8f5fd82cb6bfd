//! protoc is not installed: protox parses the .proto into a descriptor set,
//! tonic-prost-build turns that into the server code.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto/bench.proto");
    let descriptors = protox::compile(["proto/bench.proto"], ["proto"])?;
    tonic_prost_build::configure()
        .build_client(false)
        .build_server(true)
        .compile_fds(descriptors)?;
    Ok(())
}

//! protoc is not installed: protox parses the seed's vision.proto (used in place, so the
//! bench always speaks the example's exact messages) into a descriptor set, and
//! tonic-prost-build turns that into client and server code.

const PROTO_DIR: &str = "../../examples/vision/proto";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed={PROTO_DIR}/vision.proto");
    let descriptors = protox::compile(["vision.proto"], [PROTO_DIR])?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(descriptors)?;
    Ok(())
}

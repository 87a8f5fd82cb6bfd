//! Compiles seed 000's `../proto/vision.proto` without `protoc`: protox parses it into a
//! FileDescriptorSet and tonic-prost-build generates the server (and the client the tests use).

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto_dir = "../proto";
    println!("cargo:rerun-if-changed={proto_dir}/vision.proto");
    let fds = protox::compile(["vision.proto"], [proto_dir])?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(fds)?;
    Ok(())
}

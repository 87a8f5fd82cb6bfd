//! Compiles `proto/coprocess.proto` without `protoc` (not installed): protox parses it into a
//! FileDescriptorSet and tonic-prost-build generates the messages and the client.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto/coprocess.proto");
    let fds = protox::compile(["proto/coprocess.proto"], ["proto"])?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(false)
        .compile_fds(fds)?;
    Ok(())
}

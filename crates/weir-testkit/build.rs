//! Compiles `proto/echo.proto` and seed 000's `examples/vision/proto/vision.proto` without
//! `protoc`: protox parses them into FileDescriptorSets and tonic-prost-build generates the
//! clients and servers.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto/echo.proto");
    let fds = protox::compile(["proto/echo.proto"], ["proto"])?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(fds)?;

    let vision_dir = "../../examples/vision/proto";
    println!("cargo:rerun-if-changed={vision_dir}/vision.proto");
    let fds = protox::compile(["vision.proto"], [vision_dir])?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(fds)?;
    Ok(())
}

//! protoc is not installed: protox parses Weir's coprocess.proto (the Tyk protocol) into a
//! descriptor set, tonic-prost-build turns that into the server code.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = "../../crates/weir-plugin-grpc/proto";
    println!("cargo:rerun-if-changed={dir}/coprocess.proto");
    let descriptors = protox::compile([format!("{dir}/coprocess.proto")], [dir])?;
    tonic_prost_build::configure()
        .build_client(false)
        .build_server(true)
        // Weir's proto also has DispatchGrpcMessage (stream hooks); this server answers
        // UNIMPLEMENTED for it, as a Tyk plugin server does.
        .generate_default_stubs(true)
        .compile_fds(descriptors)?;
    Ok(())
}

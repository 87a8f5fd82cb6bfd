//! Compiles `proto/coprocess.proto` without `protoc` (not installed): protox parses it into a
//! FileDescriptorSet and tonic-prost-build generates the messages, the client and the server.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto/coprocess.proto");
    let fds = protox::compile(["proto/coprocess.proto"], ["proto"])?;
    tonic_prost_build::configure()
        .build_client(true)
        // The server lets Rust plugin servers (and the tests) implement the protocol; default
        // stubs answer UNIMPLEMENTED, so a Tyk-only server needs no DispatchGrpcMessage.
        .build_server(true)
        .generate_default_stubs(true)
        // Message payloads pass through without a copy.
        .bytes(".coprocess.GrpcMessage.payload")
        .bytes(".coprocess.GrpcMessageReply.payload")
        .compile_fds(fds)?;
    Ok(())
}

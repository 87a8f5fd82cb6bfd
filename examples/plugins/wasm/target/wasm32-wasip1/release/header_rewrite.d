/work/main/examples/plugins/wasm/target/wasm32-wasip1/release/header_rewrite.wasm: /work/main/examples/plugins/wasm/header-rewrite/src/lib.rs

/work/main/examples/plugins/wasm/target/wasm32-wasip1/release/deps/header_rewrite.d: header-rewrite/src/lib.rs

/work/main/examples/plugins/wasm/target/wasm32-wasip1/release/deps/header_rewrite.wasm: header-rewrite/src/lib.rs

header-rewrite/src/lib.rs:

/work/main/examples/plugins/wasm/target/wasm32-wasip1/release/deps/equivalent-26ed046f21c2a052.d: /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/equivalent-1.0.3/src/lib.rs

/work/main/examples/plugins/wasm/target/wasm32-wasip1/release/deps/libequivalent-26ed046f21c2a052.rlib: /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/equivalent-1.0.3/src/lib.rs

/work/main/examples/plugins/wasm/target/wasm32-wasip1/release/deps/libequivalent-26ed046f21c2a052.rmeta: /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/equivalent-1.0.3/src/lib.rs

/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/equivalent-1.0.3/src/lib.rs:

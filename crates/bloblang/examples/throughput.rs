//! Rough single-core throughput of one mapping over one document, for a quick
//! regression check and for `valgrind --tool=callgrind` instruction counts (the
//! benchmark against VRL is `bench/bloblang.sh`).
//!
//! `cargo run --release -p bloblang --example throughput [MAPPING DOCUMENT [N]]`

use bloblang::{Mapping, Message};
use std::time::Instant;

const MAPPING: &str = "root = this\nroot.job_id = this.id.string() + \"-\" + this.seq.string()\nroot.total = this.items.map_each(i -> i.price * i.qty).sum()\nroot.tags = this.tags.filter(t -> t != \"skip\").map_each(t -> t.uppercase())";
const DOCUMENT: &str = r#"{"id":"abc","seq":7,"items":[{"price":2.5,"qty":4},{"price":1,"qty":3}],"tags":["a","skip","b"],"meta":{"x":1,"y":[1,2,3]}}"#;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mapping = args.first().map_or(MAPPING, String::as_str);
    let doc = args.get(1).map_or(DOCUMENT, String::as_str);
    let n: u32 = args.get(2).and_then(|n| n.parse().ok()).unwrap_or(200_000);
    let m = Mapping::compile(mapping).expect("compiles");
    let msg = Message {
        content: doc.as_bytes().to_vec(),
        ..Message::default()
    };
    let start = Instant::now();
    let mut bytes = 0;
    for _ in 0..n {
        let out = m.run_message(&msg).expect("runs");
        bytes += out
            .content(&msg.content)
            .expect("prints")
            .map_or(0, |b| b.len());
    }
    let el = start.elapsed();
    println!(
        "{n} docs in {el:?}: {:.0} ns/doc ({bytes} bytes out)",
        el.as_nanos() as f64 / f64::from(n)
    );
}

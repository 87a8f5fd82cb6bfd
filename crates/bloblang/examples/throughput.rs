//! Rough single-core throughput of one mapping over one document, for a quick
//! regression check (the real benchmark against VRL belongs to issue 11's bench).
//! `cargo run --release -p bloblang --example throughput`

use bloblang::{Mapping, Message};
use std::time::Instant;

fn main() {
    let mapping = "root = this\nroot.job_id = this.id.string() + \"-\" + this.seq.string()\nroot.total = this.items.map_each(i -> i.price * i.qty).sum()\nroot.tags = this.tags.filter(t -> t != \"skip\").map_each(t -> t.uppercase())";
    let doc = br#"{"id":"abc","seq":7,"items":[{"price":2.5,"qty":4},{"price":1,"qty":3}],"tags":["a","skip","b"],"meta":{"x":1,"y":[1,2,3]}}"#;
    let m = Mapping::compile(mapping).expect("compiles");
    let msg = Message {
        content: doc.to_vec(),
        ..Message::default()
    };
    let n = 200_000;
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
        el.as_nanos() as f64 / n as f64
    );
}

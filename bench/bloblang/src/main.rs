//! Bloblang (Weir's `bloblang` crate) against VRL (Vector's `vrl` crate): the
//! same mappings on the same documents, one thread, bytes in → bytes out.
//!
//! `bloblang-bench [--rounds N] [--secs S] [--check]`: checks once that both
//! engines produce the same JSON for every document of every workload (exit 1
//! if not), then runs each workload for N rounds (engines alternating first),
//! each measurement lasting about S seconds, and prints a Markdown table of
//! medians: ns per document, documents per second, allocations per document.
//! `--only TEXT` keeps the workloads whose name contains TEXT (for profiling one
//! under `valgrind --tool=callgrind`).

mod alloc;
mod engines;
mod workloads;

use engines::{Bloblang, Engine, Vrl};
use std::hint::black_box;
use std::time::Instant;
use workloads::Workload;

#[global_allocator]
static GLOBAL: alloc::Counting = alloc::Counting;

/// One timed run of an engine over a workload's documents.
#[derive(Clone, Copy)]
struct Sample {
    ns_per_doc: f64,
    allocs_per_doc: f64,
}

struct Options {
    rounds: usize,
    secs: f64,
    check_only: bool,
    only: Option<String>,
}

fn options() -> Result<Options, String> {
    let mut o = Options {
        rounds: 5,
        secs: 1.0,
        check_only: false,
        only: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--rounds" => o.rounds = value()?.parse().map_err(|e| format!("--rounds: {e}"))?,
            "--secs" => o.secs = value()?.parse().map_err(|e| format!("--secs: {e}"))?,
            "--check" => o.check_only = true,
            "--only" => o.only = Some(value()?),
            _ => return Err(format!("unknown argument {a}; see the header of main.rs")),
        }
    }
    if o.rounds < 3 {
        return Err("--rounds must be at least 3".into());
    }
    Ok(o)
}

fn main() {
    let result = options().and_then(|o| run(&o));
    if let Err(e) = result {
        eprintln!("bloblang-bench: {e}");
        std::process::exit(1);
    }
}

fn run(o: &Options) -> Result<(), String> {
    let mut rows = Vec::new();
    let wanted = |w: &Workload| o.only.as_ref().is_none_or(|t| w.name.contains(t.as_str()));
    for w in workloads::all().into_iter().filter(wanted) {
        let mut b = Bloblang::new(&w)?;
        let mut v = Vrl::new(&w)?;
        check(&w, &mut b, &mut v)?;
        eprintln!(
            "{}: outputs identical on {} documents",
            w.name,
            w.docs.len()
        );
        if o.check_only {
            continue;
        }
        let (mut bs, mut vs) = (Vec::new(), Vec::new());
        for round in 0..o.rounds {
            // Alternate which engine goes first so neither always runs on a
            // cooler or warmer machine.
            if round % 2 == 0 {
                bs.push(measure(&mut b, w.docs.len(), o.secs)?);
                vs.push(measure(&mut v, w.docs.len(), o.secs)?);
            } else {
                vs.push(measure(&mut v, w.docs.len(), o.secs)?);
                bs.push(measure(&mut b, w.docs.len(), o.secs)?);
            }
        }
        rows.push((w, median(&bs), median(&vs)));
    }
    if !o.check_only {
        print_table(&rows, o);
    }
    Ok(())
}

/// Runs every document through both engines and compares the outputs as JSON
/// values (key order and number spelling aside, they are also compared as bytes
/// where no field is random).
fn check(w: &Workload, b: &mut Bloblang, v: &mut Vrl) -> Result<(), String> {
    for i in 0..w.docs.len() {
        let (bo, vo) = (b.run(i)?, v.run(i)?);
        let same = match (&bo, &vo) {
            (None, None) => true,
            (Some(x), Some(y)) if w.random_fields.is_empty() => x == y,
            (Some(x), Some(y)) => normalise(x, w)? == normalise(y, w)?,
            _ => false,
        };
        if !same {
            let show = |o: &Option<Vec<u8>>| {
                o.as_ref().map_or("<dropped>".to_string(), |b| {
                    String::from_utf8_lossy(b).into_owned()
                })
            };
            return Err(format!(
                "{}: outputs differ on document {i}\n  bloblang: {}\n  vrl:      {}",
                w.name,
                show(&bo),
                show(&vo)
            ));
        }
    }
    Ok(())
}

/// The output as a JSON value with each random field (a UUID) replaced by a marker.
fn normalise(out: &[u8], w: &Workload) -> Result<serde_json::Value, String> {
    let mut v: serde_json::Value = serde_json::from_slice(out).map_err(|e| e.to_string())?;
    for f in w.random_fields {
        let slot = v.get_mut(*f).ok_or(format!("{}: no field {f}", w.name))?;
        match slot.as_str() {
            Some(s) if s.len() == 36 => *slot = serde_json::Value::from("<uuid>"),
            _ => return Err(format!("{}: field {f} is not a UUID: {slot}", w.name)),
        }
    }
    Ok(v)
}

/// Times one engine: a short warm-up sizes the run to about `secs` seconds.
fn measure(e: &mut dyn Engine, docs: usize, secs: f64) -> Result<Sample, String> {
    let start = Instant::now();
    let mut warm = 0usize;
    while start.elapsed().as_secs_f64() < secs / 10.0 {
        black_box(e.run(warm % docs)?);
        warm += 1;
    }
    let per_doc = start.elapsed().as_secs_f64() / warm as f64;
    let n = ((secs / per_doc) as usize).max(docs);
    let allocs = alloc::count();
    let start = Instant::now();
    for i in 0..n {
        black_box(e.run(i % docs)?);
    }
    let elapsed = start.elapsed();
    Ok(Sample {
        ns_per_doc: elapsed.as_nanos() as f64 / n as f64,
        allocs_per_doc: (alloc::count() - allocs) as f64 / n as f64,
    })
}

/// The median sample by time (allocations per document do not vary by round).
fn median(samples: &[Sample]) -> Sample {
    let mut s = samples.to_vec();
    s.sort_by(|a, b| a.ns_per_doc.total_cmp(&b.ns_per_doc));
    s[s.len() / 2]
}

fn print_table(rows: &[(Workload, Sample, Sample)], o: &Options) {
    println!(
        "Median of {} rounds, ~{}s each, one thread. Speed-up = VRL ns/doc ÷ Bloblang ns/doc (above 1: Bloblang faster).\n",
        o.rounds, o.secs
    );
    println!(
        "| Workload | Bloblang ns/doc | Bloblang docs/s | Bloblang allocs/doc | VRL ns/doc | VRL docs/s | VRL allocs/doc | Speed-up |"
    );
    println!("|---|--:|--:|--:|--:|--:|--:|--:|");
    for (w, b, v) in rows {
        println!(
            "| {} | {:.0} | {:.0} | {:.1} | {:.0} | {:.0} | {:.1} | {:.2}× |",
            w.name,
            b.ns_per_doc,
            1e9 / b.ns_per_doc,
            b.allocs_per_doc,
            v.ns_per_doc,
            1e9 / v.ns_per_doc,
            v.allocs_per_doc,
            v.ns_per_doc / b.ns_per_doc
        );
    }
}

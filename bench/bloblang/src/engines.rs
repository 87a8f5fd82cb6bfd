//! The two engines behind one interface: document index in, output bytes out
//! (`None` when the mapping drops the document). Both parse the input bytes,
//! run the compiled program and serialise the result on every call.

use crate::workloads::Workload;
use vrl::compiler::runtime::{Runtime, Terminate};
use vrl::compiler::{Program, TargetValue, TimeZone};
use vrl::value::{Secrets, Value};

/// A compiled program ready to run on a workload's documents.
pub trait Engine {
    /// Runs document `i`: bytes → parse → map → bytes.
    fn run(&mut self, i: usize) -> Result<Option<Vec<u8>>, String>;
}

/// Weir's Bloblang. Messages are built once: a stream processor receives its
/// input as a message, so only the mapping's own work is timed.
pub struct Bloblang {
    mapping: bloblang::Mapping,
    msgs: Vec<bloblang::Message>,
}

impl Bloblang {
    /// Compiles the workload's Bloblang mapping.
    pub fn new(w: &Workload) -> Result<Self, String> {
        let mapping = bloblang::Mapping::compile(&w.bloblang).map_err(|e| e.to_string())?;
        let msgs = w
            .docs
            .iter()
            .map(|d| bloblang::Message {
                content: d.clone(),
                ..bloblang::Message::default()
            })
            .collect();
        Ok(Bloblang { mapping, msgs })
    }
}

impl Engine for Bloblang {
    fn run(&mut self, i: usize) -> Result<Option<Vec<u8>>, String> {
        let msg = &self.msgs[i];
        let out = self.mapping.run_message(msg).map_err(|e| e.to_string())?;
        out.content(&msg.content).map_err(|e| e.to_string())
    }
}

/// Vector's VRL, run the way Vector's `remap` transform runs it: a JSON event
/// decoded into VRL's `Value` with serde_json, resolved by a reused `Runtime`
/// (cleared between events), encoded back with serde_json.
pub struct Vrl {
    program: Program,
    runtime: Runtime,
    tz: TimeZone,
    docs: Vec<Vec<u8>>,
}

impl Vrl {
    /// Compiles the workload's VRL program against VRL's standard library.
    pub fn new(w: &Workload) -> Result<Self, String> {
        let fns = vrl::stdlib::all();
        let compiled = vrl::compiler::compile(&w.vrl, &fns).map_err(|diags| {
            let msgs: Vec<String> = diags.iter().map(|d| d.message.clone()).collect();
            format!("VRL compile error in {:?}: {}", w.name, msgs.join("; "))
        })?;
        Ok(Vrl {
            program: compiled.program,
            runtime: Runtime::default(),
            tz: TimeZone::default(),
            docs: w.docs.clone(),
        })
    }
}

impl Engine for Vrl {
    fn run(&mut self, i: usize) -> Result<Option<Vec<u8>>, String> {
        let value: Value = serde_json::from_slice(&self.docs[i]).map_err(|e| e.to_string())?;
        let mut target = TargetValue {
            value,
            metadata: Value::Object(Default::default()),
            secrets: Secrets::default(),
        };
        let result = self.runtime.resolve(&mut target, &self.program, &self.tz);
        self.runtime.clear();
        match result {
            Ok(_) => serde_json::to_vec(&target.value)
                .map(Some)
                .map_err(|e| e.to_string()),
            Err(Terminate::Abort(_)) => Ok(None),
            Err(e) => Err(e.to_string()),
        }
    }
}

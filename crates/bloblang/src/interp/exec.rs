//! Compiled mappings and statement execution.

use super::eval::{Scope, eval};
use super::import::{FsImporter, Importer, MAX_IMPORT_DEPTH};
use super::{assign, fold, moves};
use crate::ast::{MapDef, Program, Stmt};
use crate::error::CompileError;
use crate::json;
use crate::value::{Object, Value};
use std::cell::Cell;
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};

/// How deeply `.apply()` may recurse, as in Bento.
pub const MAX_APPLY_DEPTH: usize = 5_000;

/// How many `.apply()` calls one run may make in all. Depth alone does not
/// bound a recursive map that branches (`fib` through `apply` is exponential),
/// so the total is counted too; real mappings stay far below it.
pub const MAX_APPLICATIONS: u64 = 100_000;

/// Native stack a run may use before `.apply()` refuses to go deeper. Recursion
/// through maps costs stack per level (far more in unoptimised builds), and the
/// caller's thread may be small (2 MiB for tokio workers and test threads), so
/// this guard, not only [`MAX_APPLY_DEPTH`], is what prevents an overflow.
pub const STACK_BUDGET: usize = 1 << 20;

/// An address on the current stack, to measure how much a run has used.
fn stack_marker() -> usize {
    let marker = 0u8;
    std::hint::black_box(&marker) as *const u8 as usize
}

/// A message: raw bytes plus typed metadata.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Message {
    /// The raw content; `this` is this parsed as JSON.
    pub content: Vec<u8>,
    /// Metadata, read by `metadata()` and (copied) by `@`.
    pub metadata: Object,
    /// Why an earlier processor failed on this message, if one did: what
    /// `error()` returns and `errored()` tests. The stream engine sets it.
    pub error: Option<String>,
    /// Which component raised [`Message::error`], when known
    /// (`error_source_label()`, `_name()`, `_path()`).
    pub error_source: Option<ErrorSource>,
}

/// The component that flagged a message's error.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ErrorSource {
    /// The component's configured label (may be empty).
    pub label: String,
    /// The component's type name, such as `mapping`.
    pub name: String,
    /// Its path in the config, such as `root.pipeline.processors.0`.
    pub path: String,
}

/// What a mapping produced.
#[derive(Debug, Clone, PartialEq)]
pub struct Output {
    /// The final `root`: [`Value::Delete`] means drop the message,
    /// [`Value::Nothing`] means leave its content unchanged.
    pub root: Value,
    /// The output message's metadata.
    pub metadata: Object,
}

impl Output {
    /// The new message content as Bento writes it: strings and bytes raw, anything
    /// else as compact JSON; `None` when the message is deleted. `input` is what
    /// an unassigned root leaves in place.
    pub fn content(&self, input: &[u8]) -> Result<Option<Vec<u8>>, ExecError> {
        match &self.root {
            Value::Delete => Ok(None),
            Value::Nothing => Ok(Some(input.to_vec())),
            Value::String(s) => Ok(Some(s.as_bytes().to_vec())),
            Value::Bytes(b) => Ok(Some(b.clone())),
            v => {
                let mut out = String::with_capacity(input.len() + input.len() / 4 + 64);
                json::write_message_json(&mut out, v).map_err(|e| ExecError {
                    message: e.0,
                    line: None,
                })?;
                Ok(Some(out.into_bytes()))
            }
        }
    }
}

/// A mapping failed while running.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecError {
    /// What went wrong.
    pub message: String,
    /// The 1-based line of the failing statement, when known.
    pub line: Option<usize>,
}

impl fmt::Display for ExecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(l) => write!(f, "failed assignment (line {l}): {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for ExecError {}

/// A compiled mapping: parse once, run on many messages.
#[derive(Debug, Clone)]
pub struct Mapping {
    statements: Vec<Stmt>,
    maps: HashMap<String, MapDef>,
    counters: Arc<Counters>,
    /// The statement that takes the parsed input by value ([`moves`]).
    moves_this: Option<usize>,
}

/// State of each `counter()` call site, keyed by its source offset. It lives as
/// long as the compiled mapping (shared by its clones) and survives across
/// messages, as Bento's does.
#[derive(Debug, Default)]
pub struct Counters(Mutex<HashMap<usize, i64>>);

impl Counters {
    /// Applies `f` to the counter at `site` (None when it has not run yet).
    pub fn update<T>(&self, site: usize, f: impl FnOnce(&mut Option<i64>) -> T) -> T {
        let mut map = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut slot = map.get(&site).copied();
        let out = f(&mut slot);
        if let Some(v) = slot {
            map.insert(site, v);
        }
        out
    }
}

/// Everything an expression can read while it runs.
pub struct Env<'a> {
    /// The output document so far.
    pub root: &'a Value,
    /// `$variables`.
    pub vars: &'a HashMap<String, Value>,
    /// The output metadata (`@`).
    pub meta: &'a Object,
    /// The input message.
    pub msg: &'a Message,
    /// The batch it belongs to (just itself outside batch processing).
    pub batch: &'a [Message],
    /// Its index in `batch`.
    pub index: usize,
    /// Named maps for `.apply()`.
    pub maps: &'a HashMap<String, MapDef>,
    /// `counter()` state.
    pub counters: &'a Counters,
    /// Current `.apply()` depth.
    pub depth: usize,
    /// `.apply()` calls made so far in this run, against [`MAX_APPLICATIONS`].
    pub applications: &'a Cell<u64>,
    /// [`stack_marker`] at the start of the run.
    pub stack_base: usize,
    /// Why `this` cannot be read at the top-level context (input not JSON).
    pub this_err: Option<&'a str>,
}

/// Mutable state of one run.
struct State {
    root: Value,
    vars: HashMap<String, Value>,
    meta: Object,
}

impl Mapping {
    /// Parses and checks a mapping. Constant sub-expressions are evaluated here,
    /// so `5 / 0` is a compile error, as in Bento.
    /// Imports are read from the file system relative to the current directory.
    pub fn compile(src: &str) -> Result<Mapping, CompileError> {
        Self::compile_with(src, &FsImporter::new("."))
    }

    /// Like [`Mapping::compile`], with imports read through `importer`.
    pub fn compile_with(src: &str, importer: &dyn Importer) -> Result<Mapping, CompileError> {
        let prog: Program = crate::parser::parse(src)?;
        let mut statements = prog.statements;
        fold::fold_statements(&mut statements, src)?;
        let mut maps = HashMap::new();
        collect_maps(src, prog.maps, prog.imports, importer, &mut maps, 0)?;
        Ok(Mapping {
            moves_this: moves::moving_statement(&statements),
            statements,
            maps,
            counters: Arc::default(),
        })
    }

    /// Runs the mapping on a structured value (its JSON form is the content).
    pub fn run(&self, input: &Value) -> Result<Output, ExecError> {
        let content = json::to_message_json(input).map_err(|e| ExecError {
            message: e.0,
            line: None,
        })?;
        self.run_message(&Message {
            content: content.into_bytes(),
            ..Message::default()
        })
    }

    /// Runs the mapping on a message, as Bento's `mapping` processor does:
    /// `root` starts as Nothing and `this` is the content parsed as JSON.
    pub fn run_message(&self, msg: &Message) -> Result<Output, ExecError> {
        self.run_in_batch(std::slice::from_ref(msg), 0)
    }

    /// Runs the mapping on message `index` of `batch`, so `batch_index()`,
    /// `batch_size()` and `.from(i)` see the batch. An index past the end is an error.
    pub fn run_in_batch(&self, batch: &[Message], index: usize) -> Result<Output, ExecError> {
        self.run_at(batch, index, false)
    }

    /// Runs the mapping as Bento's `mutation` processor does: `root` starts as the
    /// message's parsed content (Nothing when it is not JSON), so assignments edit the
    /// document in place and everything not assigned is kept.
    pub fn run_mutation(&self, msg: &Message) -> Result<Output, ExecError> {
        self.run_at(std::slice::from_ref(msg), 0, true)
    }

    fn run_at(&self, batch: &[Message], index: usize, mutate: bool) -> Result<Output, ExecError> {
        let msg = batch.get(index).ok_or_else(|| ExecError {
            message: format!(
                "message index {index} is outside a batch of {}",
                batch.len()
            ),
            line: None,
        })?;
        let (this, err) = parse_this(msg);
        let mut st = State {
            root: if mutate && err.is_none() {
                this.clone()
            } else {
                Value::Nothing
            },
            vars: HashMap::new(),
            meta: msg.metadata.clone(),
        };
        let applications = Cell::new(0);
        super::budget::start();
        // `this` is filled in per phase: it may be moved away part-way.
        let base = Ctx {
            applications: &applications,
            msg,
            batch,
            index,
            maps: &self.maps,
            counters: &self.counters,
            this: &NULL,
            this_err: err.as_deref(),
            depth: 0,
            stack_base: stack_marker(),
        };
        match self.moves_this {
            // A document that failed to parse has no value to move; its error
            // must come from reading `this`, so it takes the ordinary path.
            Some(at) if err.is_none() => {
                let (before, rest) = self.statements.split_at(at);
                run_block(
                    before,
                    &mut st,
                    &Ctx {
                        this: &this,
                        ..base
                    },
                )?;
                // Nothing after this statement reads `this`.
                run_moving(&rest[0], this, &mut st, &base)?;
                run_block(&rest[1..], &mut st, &base)?;
            }
            _ => run_block(
                &self.statements,
                &mut st,
                &Ctx {
                    this: &this,
                    ..base
                },
            )?,
        }
        Ok(Output {
            root: st.root,
            metadata: st.meta,
        })
    }
}

/// Adds a file's maps, then the maps of the files it imports, to `maps`.
/// Imported files contribute only their maps; a name defined twice is an error.
fn collect_maps(
    src: &str,
    defs: Vec<MapDef>,
    imports: Vec<String>,
    importer: &dyn Importer,
    maps: &mut HashMap<String, MapDef>,
    depth: usize,
) -> Result<(), CompileError> {
    for mut m in defs {
        fold::fold_statements(&mut m.body, src)?;
        if maps.contains_key(&m.name) {
            return Err(CompileError::at(
                src,
                0,
                format!("map name collision: {}", m.name),
            ));
        }
        maps.insert(m.name.clone(), m);
    }
    for path in imports {
        let at = src.find(&format!("import \"{path}\"")).unwrap_or(0);
        if depth >= MAX_IMPORT_DEPTH {
            return Err(CompileError::at(
                src,
                at,
                format!("{path}: imports nest deeper than {MAX_IMPORT_DEPTH}"),
            ));
        }
        let text = importer
            .import(&path)
            .map_err(|e| CompileError::at(src, at, e))?;
        let prog = crate::parser::parse(&text).map_err(|e| {
            CompileError::at(src, at, format!("failed to parse import {path}: {e}"))
        })?;
        collect_maps(&text, prog.maps, prog.imports, importer, maps, depth + 1)?;
    }
    Ok(())
}

/// The message parsed for `this`, or (with null) the error reading `this` gives.
fn parse_this(msg: &Message) -> (Value, Option<String>) {
    match json::parse(&msg.content) {
        Ok(v) => (v, None),
        Err(e) => (
            Value::Null,
            Some(format!(
                "unable to reference message as structured (with 'this'): parse as json: {e}"
            )),
        ),
    }
}

/// Evaluates a lone query against a message, with no root, variables or maps:
/// what an interpolation does.
pub fn eval_on_message(
    e: &crate::ast::Expr,
    batch: &[Message],
    index: usize,
    counters: &Counters,
) -> Result<Value, String> {
    let msg = batch.get(index).ok_or_else(|| {
        format!(
            "message index {index} is outside a batch of {}",
            batch.len()
        )
    })?;
    let (this, err) = parse_this(msg);
    let (vars, maps) = (HashMap::new(), HashMap::new());
    let applications = Cell::new(0);
    super::budget::start();
    let env = Env {
        applications: &applications,
        root: &Value::Nothing,
        vars: &vars,
        meta: &msg.metadata,
        msg,
        batch,
        index,
        maps: &maps,
        counters,
        depth: 0,
        this_err: err.as_deref(),
        stack_base: stack_marker(),
    };
    eval(e, &env, &Scope::root(&this))
}

/// Runs a `map` body on `this` and returns its root (for `.apply()`).
pub fn apply_map(def: &MapDef, this: &Value, env: &Env) -> Result<Value, String> {
    if env.depth >= MAX_APPLY_DEPTH || env.stack_base.abs_diff(stack_marker()) > STACK_BUDGET {
        return Err(format!(
            "exceeded maximum mapping depth at {} nested applications",
            env.depth
        ));
    }
    let made = env.applications.get() + 1;
    if made > MAX_APPLICATIONS {
        return Err(format!(
            "exceeded {MAX_APPLICATIONS} map applications for one message"
        ));
    }
    env.applications.set(made);
    super::budget::charge(1)?;
    let mut st = State {
        root: Value::Nothing,
        vars: HashMap::new(),
        meta: env.meta.clone(),
    };
    let ctx = Ctx {
        msg: env.msg,
        batch: env.batch,
        index: env.index,
        maps: env.maps,
        counters: env.counters,
        this,
        this_err: None,
        depth: env.depth + 1,
        applications: env.applications,
        stack_base: env.stack_base,
    };
    run_block(&def.body, &mut st, &ctx).map_err(|e| e.message)?;
    Ok(st.root)
}

/// What stays fixed while a block of statements runs.
struct Ctx<'a> {
    msg: &'a Message,
    batch: &'a [Message],
    index: usize,
    maps: &'a HashMap<String, MapDef>,
    counters: &'a Counters,
    this: &'a Value,
    this_err: Option<&'a str>,
    depth: usize,
    applications: &'a Cell<u64>,
    stack_base: usize,
}

impl Ctx<'_> {
    /// What expressions see: this context plus the run's state so far.
    fn env<'a>(&'a self, st: &'a State) -> Env<'a> {
        Env {
            root: &st.root,
            vars: &st.vars,
            meta: &st.meta,
            msg: self.msg,
            batch: self.batch,
            index: self.index,
            maps: self.maps,
            counters: self.counters,
            depth: self.depth,
            applications: self.applications,
            stack_base: self.stack_base,
            this_err: self.this_err,
        }
    }
}

fn run_block(stmts: &[Stmt], st: &mut State, ctx: &Ctx) -> Result<(), ExecError> {
    for stmt in stmts {
        let (line, result) = {
            let env = ctx.env(st);
            let ev = |e: &crate::ast::Expr| eval(e, &env, &Scope::root(ctx.this));
            match stmt {
                Stmt::Assign { value, line, .. }
                | Stmt::Let { value, line, .. }
                | Stmt::Meta { value, line, .. } => (*line, ev(value)),
                Stmt::If {
                    branches,
                    otherwise,
                    line,
                } => match choose_branch(branches, otherwise.as_deref(), ev) {
                    Ok(Some(block)) => {
                        run_block(block, st, ctx)?;
                        continue;
                    }
                    Ok(None) => continue,
                    Err(e) => (*line, Err(e)),
                },
            }
        };
        let value = result.map_err(|message| ExecError {
            message,
            line: Some(line),
        })?;
        store(stmt, value, st).map_err(|message| ExecError {
            message,
            line: Some(line),
        })?;
    }
    Ok(())
}

/// The `this` of statements that run after it has been moved away.
static NULL: Value = Value::Null;

/// Runs the statement [`moves::moving_statement`] chose, handing it `this`.
fn run_moving(stmt: &Stmt, this: Value, st: &mut State, ctx: &Ctx) -> Result<(), ExecError> {
    let (Stmt::Assign { value, line, .. }
    | Stmt::Let { value, line, .. }
    | Stmt::Meta { value, line, .. }) = stmt
    else {
        return run_block(std::slice::from_ref(stmt), st, ctx);
    };
    let env = ctx.env(st);
    let at_line = |message| ExecError {
        message,
        line: Some(*line),
    };
    let v = moves::eval_moved(value, this, &env, &Scope::root(ctx.this)).map_err(at_line)?;
    store(stmt, v, st).map_err(at_line)
}

type Branches = [(crate::ast::Expr, Vec<Stmt>)];

fn choose_branch<'s>(
    branches: &'s Branches,
    otherwise: Option<&'s [Stmt]>,
    ev: impl Fn(&crate::ast::Expr) -> Result<Value, String>,
) -> Result<Option<&'s [Stmt]>, String> {
    for (cond, block) in branches {
        match ev(cond)? {
            Value::Bool(true) => return Ok(Some(block)),
            Value::Bool(false) => {}
            v => return Err(format!("expected bool value, got {}", v.describe())),
        }
    }
    Ok(otherwise)
}

/// Applies an assignment's result to the state. Nothing always skips.
fn store(stmt: &Stmt, v: Value, st: &mut State) -> Result<(), String> {
    if matches!(v, Value::Nothing) {
        return Ok(());
    }
    match stmt {
        Stmt::Assign { path, .. } => assign::set_path(&mut st.root, path, v),
        Stmt::Let { name, .. } => {
            if matches!(v, Value::Delete) {
                st.vars.remove(name);
            } else {
                st.vars.insert(name.clone(), v);
            }
            Ok(())
        }
        Stmt::Meta { key: Some(k), .. } => {
            if matches!(v, Value::Delete) {
                st.meta.remove(k);
            } else {
                st.meta.insert(k.clone(), v);
            }
            Ok(())
        }
        Stmt::Meta { key: None, .. } => match v.into_object() {
            Ok(m) => {
                st.meta = m;
                Ok(())
            }
            Err(v) => match v {
                Value::Delete => {
                    st.meta.clear();
                    Ok(())
                }
                _ => Err("setting root meta object requires object value".into()),
            },
        },
        Stmt::If { .. } => Ok(()),
    }
}

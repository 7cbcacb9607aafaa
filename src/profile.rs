//! Per-operator timings of a model run: every node of tract's optimised plan timed as it runs
//! (tract's `SimpleState::run_plan_with_eval` hook), then grouped by operator kind. The CLI's
//! `daftseg bench --profile` and the bench page's profile (both browser modules) print these
//! tables; docs/BENCHMARKS.md keeps them. The clock is the caller's (`Instant` natively,
//! `performance.now()` in the browser), so this module stays pure.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use tract_onnx::prelude::*;
use tract_onnx::tract_core::plan::eval;

/// One node's time in one run.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct NodeTime {
    /// Its index in the plan's order.
    pub node: usize,
    /// Its name (from the ONNX file, or what tract named it while optimising).
    pub name: String,
    /// Its operator kind, as tract names it (`OptMatMul`, `GeluExact`, ...).
    pub kind: String,
    /// Milliseconds.
    pub ms: f64,
    /// What tract says of the op's implementation (kernel, shapes), `; `-separated.
    pub info: String,
}

/// Runs `plan` on `inputs` once, timing each node with `now` (milliseconds).
pub fn run_timed(
    plan: &Arc<TypedRunnableModel>,
    inputs: TVec<TValue>,
    now: &dyn Fn() -> f64,
) -> TractResult<(TVec<TValue>, Vec<NodeTime>)> {
    let mut state = TypedSimpleState::new(plan)?;
    let mut times = Vec::with_capacity(plan.model().nodes().len());
    let outputs = state.run_plan_with_eval(inputs, |context, op_state, node, input| {
        let start = now();
        let result = eval(context, op_state, node, input);
        times.push(NodeTime {
            node: node.id,
            name: node.name.clone(),
            kind: node.op().name().to_string(),
            ms: now() - start,
            info: node.op().info().unwrap_or_default().join("; "),
        });
        result
    })?;
    Ok((outputs, times))
}

/// The median of each node's time over several runs of the same plan (runs in the same node
/// order, as one plan always gives).
pub fn median_per_node(runs: &[Vec<NodeTime>]) -> Vec<NodeTime> {
    let Some(first) = runs.first() else {
        return Vec::new();
    };
    first
        .iter()
        .enumerate()
        .map(|(i, node)| {
            let mut times: Vec<f64> = runs.iter().filter_map(|r| r.get(i)).map(|t| t.ms).collect();
            times.sort_by(f64::total_cmp);
            NodeTime {
                ms: times[times.len() / 2],
                ..node.clone()
            }
        })
        .collect()
}

/// One operator kind's share of a run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct KindTime {
    /// Operator kind.
    pub kind: String,
    /// How many nodes of that kind the plan runs.
    pub nodes: usize,
    /// Their milliseconds together.
    pub ms: f64,
}

/// Nodes grouped by kind, the slowest kind first.
pub fn by_kind(nodes: &[NodeTime]) -> Vec<KindTime> {
    let mut kinds: BTreeMap<&str, KindTime> = BTreeMap::new();
    for node in nodes {
        let entry = kinds.entry(&node.kind).or_insert_with(|| KindTime {
            kind: node.kind.clone(),
            nodes: 0,
            ms: 0.0,
        });
        entry.nodes += 1;
        entry.ms += node.ms;
    }
    let mut kinds: Vec<KindTime> = kinds.into_values().collect();
    kinds.sort_by(|a, b| b.ms.total_cmp(&a.ms).then_with(|| a.kind.cmp(&b.kind)));
    kinds
}

/// A Markdown table of one or more configurations side by side (`columns`: a name and the
/// per-node medians of one configuration, all of the same plan). The first configuration is
/// the reference: its share of the total per kind, and each other one's time as a ratio of it
/// ("threaded" when a configuration with more threads took at most 0.8x the reference).
pub fn markdown_table(columns: &[(String, Vec<NodeTime>)]) -> String {
    let Some((reference_name, reference)) = columns.first() else {
        return String::new();
    };
    let mut reference_kinds = by_kind(reference);
    // Kinds only other configurations run (tract's own operators where the reference runs
    // fused ones) get rows too, at 0 in the reference.
    for (_, nodes) in &columns[1..] {
        for kind in by_kind(nodes) {
            if !reference_kinds.iter().any(|k| k.kind == kind.kind) {
                reference_kinds.push(KindTime {
                    nodes: 0,
                    ms: 0.0,
                    ..kind
                });
            }
        }
    }
    let total: f64 = reference.iter().map(|n| n.ms).sum();
    let others: Vec<(&String, BTreeMap<String, f64>, f64)> = columns[1..]
        .iter()
        .map(|(name, nodes)| {
            let kinds = by_kind(nodes).into_iter().map(|k| (k.kind, k.ms)).collect();
            (name, kinds, nodes.iter().map(|n| n.ms).sum())
        })
        .collect();
    let mut out = format!("| operator | nodes | {reference_name} ms | share");
    for (name, _, _) in &others {
        out += &format!(" | {name} ms | ratio");
    }
    out += " |\n|---|---|---|---";
    out += &"|---|---".repeat(others.len());
    out += "|\n";
    let ratio = |a: f64, b: f64| {
        if b > 0.0 {
            format!("{:.2}", a / b)
        } else {
            "-".into()
        }
    };
    for kind in &reference_kinds {
        let nodes = if kind.nodes > 0 {
            kind.nodes.to_string()
        } else {
            "-".into()
        };
        out += &format!(
            "| {} | {} | {:.1} | {:.1}%",
            kind.kind,
            nodes,
            kind.ms,
            100.0 * kind.ms / total.max(f64::MIN_POSITIVE)
        );
        for (_, kinds, _) in &others {
            let ms = kinds.get(&kind.kind).copied().unwrap_or(0.0);
            out += &format!(" | {ms:.1} | {}", ratio(ms, kind.ms));
        }
        out += " |\n";
    }
    out += &format!("| **all** | {} | **{total:.1}** | 100%", reference.len());
    for (_, _, other_total) in &others {
        out += &format!(" | **{other_total:.1}** | {}", ratio(*other_total, total));
    }
    out += " |\n";
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(node: usize, kind: &str, ms: f64) -> NodeTime {
        NodeTime {
            node,
            name: format!("n{node}"),
            kind: kind.into(),
            ms,
            info: String::new(),
        }
    }

    #[test]
    fn kinds_are_summed_and_sorted_by_time() {
        let nodes = [
            node(0, "A", 1.0),
            node(1, "B", 5.0),
            node(2, "A", 3.0),
            node(3, "C", 0.5),
        ];
        let kinds = by_kind(&nodes);
        let summary: Vec<(&str, usize, f64)> = kinds
            .iter()
            .map(|k| (k.kind.as_str(), k.nodes, k.ms))
            .collect();
        assert_eq!(summary, [("B", 1, 5.0), ("A", 2, 4.0), ("C", 1, 0.5)]);
    }

    #[test]
    fn medians_are_per_node() {
        let runs = vec![
            vec![node(0, "A", 1.0), node(1, "B", 9.0)],
            vec![node(0, "A", 3.0), node(1, "B", 7.0)],
            vec![node(0, "A", 2.0), node(1, "B", 8.0)],
        ];
        let medians: Vec<f64> = median_per_node(&runs).iter().map(|n| n.ms).collect();
        assert_eq!(medians, [2.0, 8.0]);
    }

    #[test]
    fn the_table_compares_configurations_per_kind() {
        let one = vec![node(0, "A", 6.0), node(1, "B", 2.0)];
        let two = vec![node(0, "A", 3.0), node(1, "B", 1.5), node(2, "C", 0.5)];
        let table = markdown_table(&[("1 thread".into(), one), ("2 threads".into(), two)]);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(
            lines[0],
            "| operator | nodes | 1 thread ms | share | 2 threads ms | ratio |"
        );
        assert_eq!(lines[2], "| A | 1 | 6.0 | 75.0% | 3.0 | 0.50 |");
        assert_eq!(lines[3], "| B | 1 | 2.0 | 25.0% | 1.5 | 0.75 |");
        assert_eq!(lines[4], "| C | - | 0.0 | 0.0% | 0.5 | - |");
        assert_eq!(
            lines[5],
            "| **all** | 2 | **8.0** | 100% | **5.0** | 0.62 |"
        );
    }

    #[test]
    fn a_real_plan_is_timed_node_by_node() {
        // y = x * x + x, as a tiny typed model.
        use tract_onnx::tract_core::ops::math;
        let mut model = TypedModel::default();
        let x = model.add_source("x", f32::fact([4])).unwrap();
        let square = model.wire_node("square", math::mul(), &[x, x]).unwrap();
        let sum = model
            .wire_node("sum", math::add(), &[square[0], x])
            .unwrap();
        model.select_output_outlets(&sum).unwrap();
        let plan = model.into_runnable().unwrap();
        let clock = std::cell::Cell::new(0.0);
        let now = || {
            clock.set(clock.get() + 1.0);
            clock.get()
        };
        let input = tensor1(&[-1f32, 2.0, -3.0, 4.0]);
        let (outputs, times) = run_timed(&plan, tvec!(input.into_tvalue()), &now).unwrap();
        let values = outputs[0].try_as_plain_ram().unwrap();
        assert_eq!(values.as_slice::<f32>().unwrap(), &[0.0, 6.0, 6.0, 20.0]);
        let names: Vec<&str> = times.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["x", "square", "sum"]);
        assert!(times.iter().all(|t| t.ms == 1.0));
    }
}

//! The exposition side: the per-collector sink, Go-compatible number formatting, and the
//! renderer that merges sinks into text 0.0.4 or OpenMetrics 1.0.

mod float;
mod render;
mod sink;

pub use float::{format_float, write_float};
pub use render::{render, render_with, BlockOrder, Format, RenderStats};
pub use sink::{escape_label_value, LabelSets, MetricSink, MetricType};
